import type { Command } from 'commander';
import { defaultKvPrecision, kvBlockSizeFor, SERVING_DEFAULTS } from '../../core/defaults.js';
import { ENGINE_IDS, engineKvCapacity, type EngineId } from '../../core/memory/engines/index.js';
import { engineFit, inferenceFit, type FitVerdict } from '../../core/memory/fit.js';
import type { InferenceOptions } from '../../core/memory/inference.js';
import { perf } from '../../core/perf/latency.js';
import { offlineThroughput } from '../../core/perf/throughput.js';
import { devices } from '../../core/parallel/plan.js';
import { systemLinks } from '../../catalog/index.js';
import { choice, int, LIMITS, planOptions, utilizationOption } from '../options.js';
import {
  duration,
  fitJson,
  gb,
  plainFlag,
  printFit,
  printJson,
  printTable,
  printTrace,
  type FlagOf,
} from '../output.js';
import { resolveHardware, resolveModel, UsageError } from '../resolve.js';

interface Common {
  gpu?: string;
  tp: number;
  pp: number;
  ep: number;
  cp: number;
  sp?: boolean;
  dp: number;
  numGpus?: number;
  precision: string;
  kvPrecision?: string;
  gpuMemoryUtilization: number;
  engine: EngineId;
  engineVersion?: string;
  json?: boolean;
  explain?: boolean;
}

const ms = duration;

function parallelOptions(c: Command): Command {
  return utilizationOption(planOptions(c), SERVING_DEFAULTS.gpuMemoryUtilization)
    .option('--gpu <id>', 'device or system id from `infersim hardware`')
    .option(
      '--num-gpus <n>',
      'devices (default tp·pp·ep; must equal it)',
      int('--num-gpus', 1, LIMITS.parallel),
    )
    .option(
      '--cp <n>',
      'context-parallel degree (sequence split, ring attention)',
      int('--cp', 1, LIMITS.parallel),
      1,
    )
    .option('--sp', 'sequence parallel inside the TP group')
    .option('--dp <n>', 'data-parallel replicas', int('--dp', 1, LIMITS.parallel), 1)
    .option('--precision <p>', "weight format ('auto' = as the checkpoint ships)", 'auto')
    .option(
      '--kv-precision <p>',
      'KV-cache dtype (default: the weight precision if a float, else the model dtype)',
    )
    .option(
      '--engine <e>',
      `serving engine whose KV capacity counts (${ENGINE_IDS.join(', ')}); --gpu-memory-utilization is vLLM's`,
      choice('--engine', ENGINE_IDS),
      'vllm',
    )
    .option('--engine-version <v>', 'engine release (vllm default 0.19.0, sglang 0.5.3, trtllm 1.0.0)')
    .option('--json', 'print JSON')
    .option('--explain', 'show the formula and inputs of every figure');
}

/** The engine's launch settings for a CLI run: its memory fraction only where the flag is its own (vLLM's). */
function engineOptions(r: ReturnType<typeof resolve>, o: Common, maxModelLen: number) {
  return {
    engine: o.engine,
    engineVersion: o.engineVersion,
    plan: r.plan,
    precision: o.precision,
    kvCacheDtype: o.kvPrecision,
    maxModelLen,
    memoryFraction: o.engine === 'vllm' ? o.gpuMemoryUtilization : undefined,
  };
}

/** Capacity as the engine prints it: concurrency with two decimals ("58.11x"), the terms it is unsure of. */
function capacityJson(c: ReturnType<typeof engineKvCapacity>) {
  return {
    engine: c.engine,
    engine_version: c.engine_version,
    max_model_len: c.settings.max_model_len,
    kv_cache_dtype: c.settings.kv_cache_dtype,
    kv_cache_bytes_available: c.kv_cache_bytes_available,
    max_kv_tokens: c.max_kv_tokens,
    max_concurrency: Math.round(c.max_concurrency * 100) / 100,
    fits: c.fits,
    error: c.error,
    uncertain_terms: c.uncertain_terms,
  };
}

function resolve(model: string, o: Common) {
  if (!o.gpu) throw new UsageError('this command needs --gpu <id> (see `infersim hardware`)');
  const m = resolveModel(model);
  const hw = resolveHardware(o.gpu);
  const plan = { tp: o.tp, pp: o.pp, ep: o.ep, cp: o.cp, sp: Boolean(o.sp), dp: o.dp };
  if (o.numGpus !== undefined && o.numGpus !== devices(plan)) {
    throw new UsageError(`--num-gpus ${o.numGpus} must equal tp·pp·ep·cp·dp = ${devices(plan)}`);
  }
  const kv = o.kvPrecision ?? defaultKvPrecision(m.spec, o.precision);
  return { m, hw, plan, kv, links: systemLinks(o.gpu) ?? undefined };
}

/** The fit of one sequence length on the device, counted as `memory` counts it (the shared serving defaults). */
function fitOf(
  r: ReturnType<typeof resolve>,
  o: Common,
  shape: Pick<InferenceOptions, 'batch' | 'seq' | 'stepTokens' | 'logitsRows'>,
) {
  const runtime = SERVING_DEFAULTS.runtime;
  const fit = inferenceFit(r.m.spec, r.hw, {
    precision: o.precision,
    kvPrecision: r.kv,
    plan: r.plan,
    runtime,
    blockSize: kvBlockSizeFor(runtime),
    gpuMemoryUtilization: o.gpuMemoryUtilization,
    ...shape,
  });
  return { fit, runtime };
}

/** A shorter sequence is a shorter prompt here: --input-len, keeping --output-len. */
function lengthFlag(outputLen: number): FlagOf {
  return (k, v) =>
    k === 'seq' ? (Number(v) > outputLen ? `--input-len ${Number(v) - outputLen}` : null) : plainFlag(k, v);
}

/** The verdict first; when it does not fit, what follows is only what it would be if it did. */
function printVerdict(fit: FitVerdict, flagOf: FlagOf, runtime: string): void {
  printFit(fit, flagOf, `, runtime ${runtime}`);
  if (!fit.fits) process.stdout.write('if it fit (it does not), the estimate would be:\n');
}

export function registerPerf(program: Command): void {
  parallelOptions(program.command('perf'))
    .description('TTFT, TPOT and tokens/s of a batch on a device: ideal bound and calibrated estimate')
    .argument('<model>', 'catalog id or alias, or a path to a config.json')
    .option('--batch <n>', 'sequences', int('--batch', 1, LIMITS.batch), 1)
    .option('--input-len <n>', 'prompt tokens', int('--input-len', 1, LIMITS.seq), 1024)
    .option('--output-len <n>', 'generated tokens', int('--output-len', 1, LIMITS.seq), 256)
    .action((model: string, o: Common & { batch: number; inputLen: number; outputLen: number }) => {
      const res = resolve(model, o);
      const { m, hw, plan, kv, links } = res;
      const { fit, runtime } = fitOf(res, o, { batch: o.batch, seq: o.inputLen + o.outputLen });
      const flags = lengthFlag(o.outputLen);
      // What the engine's KV cache holds at this length, beside the memory of this batch.
      const cap = engineKvCapacity(m.spec, hw, engineOptions(res, o, o.inputLen + o.outputLen));
      const r = perf(m.spec, hw, {
        precision: o.precision,
        kvPrecision: kv,
        batch: o.batch,
        inputLen: o.inputLen,
        outputLen: o.outputLen,
        plan,
        links,
        explain: o.explain,
      });
      // One number per question: memory per device as `memory` counts it (shared runtime profile and blocks).
      const { trace, ...rest } = { ...r, memory_per_device_bytes: fit.required_bytes };
      if (o.json)
        return printJson({
          model: m.id,
          gpu: hw.id,
          plan,
          fits: fit.fits,
          fit: fitJson(fit, flags, { runtime }),
          capacity: capacityJson(cap),
          ...(fit.fits ? rest : { if_it_fit: rest }),
          ...(o.explain ? { trace } : {}),
        });
      printVerdict(fit, flags, runtime);
      // Memory may hold the batch while the engine's KV cache (its own sizing) holds fewer: it would queue the rest.
      if (fit.fits && cap.max_concurrency < o.batch)
        process.stdout.write(
          `note: ${cap.engine} ${cap.engine_version} holds ${cap.max_concurrency.toFixed(2)} requests of ` +
            `${o.inputLen + o.outputLen} tokens at once; a batch of ${o.batch} would queue\n`,
        );
      printTable(
        ['', 'estimate', 'ideal bound', 'bound'],
        [
          ['TTFT', ms(r.ttft_s), ms(r.ideal.ttft_s), r.bound.prefill],
          ['TPOT', ms(r.tpot_s), ms(r.ideal.tpot_s), r.bound.decode],
          ['tokens/s (batch)', r.tokens_per_s.toFixed(1), r.ideal.tokens_per_s.toFixed(1), ''],
          [
            'communication (decode step)',
            ms(r.communication_s.decode),
            ms(r.ideal.communication_s.decode),
            '',
          ],
          ['memory per device', gb(fit.required_bytes), '', ''],
          [
            `max concurrency (${cap.engine} ${cap.engine_version}, ${(o.inputLen + o.outputLen).toLocaleString('en-US')} tokens)`,
            `${cap.max_concurrency.toFixed(2)}x`,
            '',
            '',
          ],
          ['uncertain terms', cap.uncertain_terms.map((u) => u.term).join(', '), '', ''],
        ],
      );
      if (o.explain) printTrace(trace);
    });

  parallelOptions(program.command('throughput'))
    .description('offline throughput (trtllm-bench style): all requests at once, fixed input/output lengths')
    .argument('<model>', 'catalog id or alias, or a path to a config.json')
    .requiredOption('--input-len <n>', 'prompt tokens', int('--input-len', 1, LIMITS.seq))
    .requiredOption('--output-len <n>', 'generated tokens', int('--output-len', 1, LIMITS.seq))
    .option(
      '--max-batch <n>',
      "engine max batch size (vLLM max_num_seqs; default: the engine's)",
      int('--max-batch', 1, LIMITS.batch),
    )
    .option(
      '--max-num-tokens <n>',
      "engine max tokens per step (vLLM max_num_batched_tokens; default: the engine's)",
      int('--max-num-tokens', 1, LIMITS.seq),
    )
    .action(
      (
        model: string,
        o: Common & { inputLen: number; outputLen: number; maxBatch?: number; maxNumTokens?: number },
      ) => {
        const res = resolve(model, o);
        const { m, hw, plan, links } = res;
        // The verdict is the engine's own start check on the same capacity that bounds the batch below.
        const eo = {
          ...engineOptions(res, o, o.inputLen + o.outputLen),
          maxNumSeqs: o.maxBatch,
          maxNumBatchedTokens: o.maxNumTokens,
        };
        const fit = engineFit(m.spec, hw, eo);
        const engine = `${fit.capacity.engine} ${fit.capacity.engine_version}`;
        const flags = lengthFlag(o.outputLen);
        const r = offlineThroughput(m.spec, hw, {
          precision: o.precision,
          kvPrecision: o.kvPrecision,
          plan,
          inputLen: o.inputLen,
          outputLen: o.outputLen,
          maxBatch: o.maxBatch,
          maxNumTokens: o.maxNumTokens,
          engine: o.engine,
          engineVersion: o.engineVersion,
          gpuMemoryUtilization: o.gpuMemoryUtilization,
          links,
          explain: o.explain,
        });
        const { trace, ...rest } = r;
        if (o.json)
          return printJson({
            model: m.id,
            gpu: hw.id,
            plan,
            fits: fit.fits,
            fit: fitJson(fit, flags, {
              engine: fit.capacity.engine,
              engine_version: fit.capacity.engine_version,
            }),
            // Nothing runs without room for one sequence: no throughput figures then, only the verdict.
            ...(fit.fits ? rest : {}),
            capacity: capacityJson(fit.capacity),
            ...(o.explain ? { trace } : {}),
          });
        printFit(fit, flags, `, ${engine}`);
        if (!fit.fits) return;
        printTable(
          ['', 'estimate', 'ideal bound'],
          [
            [
              'output tokens/s (group)',
              r.output_tokens_per_s.toFixed(0),
              r.ideal.output_tokens_per_s.toFixed(0),
            ],
            ['step', ms(r.step_s), ms(r.ideal.step_s)],
            ['running sequences', `${r.batch} (${r.batch_limit})`, ''],
            [`max concurrency by KV (${engine})`, `${r.max_concurrency.toFixed(2)}x`, ''],
            ['uncertain terms', fit.capacity.uncertain_terms.map((u) => u.term).join(', '), ''],
          ],
        );
        if (o.explain) printTrace(trace);
      },
    );
}
