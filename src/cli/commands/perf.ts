import type { Command } from 'commander';
import { defaultKvPrecision, kvBlockSizeFor, SERVING_DEFAULTS } from '../../core/defaults.js';
import { inferenceFit, type FitVerdict } from '../../core/memory/fit.js';
import type { InferenceOptions } from '../../core/memory/inference.js';
import { perf } from '../../core/perf/latency.js';
import { offlineThroughput } from '../../core/perf/throughput.js';
import { devices } from '../../core/parallel/plan.js';
import { recommendPlans } from '../../core/parallel/recommend.js';
import { systemLinks } from '../../catalog/index.js';
import { int, LIMITS, planOptions, utilizationOption } from '../options.js';
import {
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
  json?: boolean;
  explain?: boolean;
}

const ms = (s: number) => `${(s * 1e3).toPrecision(4)} ms`;

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
    .option('--json', 'print JSON')
    .option('--explain', 'show the formula and inputs of every figure');
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
          ...(fit.fits ? rest : { if_it_fit: rest }),
          ...(o.explain ? { trace } : {}),
        });
      printVerdict(fit, flags, runtime);
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
        ],
      );
      if (o.explain) printTrace(trace);
    });

  parallelOptions(program.command('throughput'))
    .description('offline throughput (trtllm-bench style): all requests at once, fixed input/output lengths')
    .argument('<model>', 'catalog id or alias, or a path to a config.json')
    .requiredOption('--input-len <n>', 'prompt tokens', int('--input-len', 1, LIMITS.seq))
    .requiredOption('--output-len <n>', 'generated tokens', int('--output-len', 1, LIMITS.seq))
    .option('--max-batch <n>', 'engine max batch size', int('--max-batch', 1, LIMITS.batch), 2048)
    .option(
      '--max-num-tokens <n>',
      'engine max tokens per step',
      int('--max-num-tokens', 1, LIMITS.seq),
      8192,
    )
    .action(
      (
        model: string,
        o: Common & { inputLen: number; outputLen: number; maxBatch: number; maxNumTokens: number },
      ) => {
        const res = resolve(model, o);
        const { m, hw, plan, kv, links } = res;
        // The engine's profile step: max_num_batched_tokens tokens, one logits row per sequence (vLLM caps at 256).
        const { fit, runtime } = fitOf(res, o, {
          batch: 1,
          seq: o.inputLen + o.outputLen,
          stepTokens: o.maxNumTokens,
          logitsRows: Math.min(o.maxBatch, 256),
        });
        const flags = lengthFlag(o.outputLen);
        const r = offlineThroughput(m.spec, hw, {
          precision: o.precision,
          kvPrecision: kv,
          plan,
          inputLen: o.inputLen,
          outputLen: o.outputLen,
          maxBatch: o.maxBatch,
          maxNumTokens: o.maxNumTokens,
          gpuMemoryUtilization: o.gpuMemoryUtilization,
          runtime,
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
            fit: fitJson(fit, flags, { runtime }),
            // Nothing runs without room for one sequence: no throughput figures then, only the verdict.
            ...(fit.fits ? rest : {}),
            ...(o.explain ? { trace } : {}),
          });
        printFit(fit, flags, `, runtime ${runtime}`);
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
            ['max concurrency by KV', String(r.max_concurrency), ''],
          ],
        );
        if (o.explain) printTrace(trace);
      },
    );

  program
    .command('plan')
    .description('recommended parallel plan: fewest devices that fit, then fastest')
    .argument('<model>', 'catalog id or alias, or a path to a config.json')
    .option('--gpu <id>', 'device or system id')
    .option('--seq <n>', 'longest sequence to hold', int('--seq', 2, LIMITS.seq), 4096)
    .option('--precision <p>', "weight format ('auto' = as the checkpoint ships)", 'auto')
    .option('--kv-precision <p>', 'KV-cache dtype (default: the model dtype)')
    .option('--max-gpus <n>', 'largest group to consider', int('--max-gpus', 1, 512), 64)
    .option('--json', 'print JSON')
    .action(
      (
        model: string,
        o: {
          gpu?: string;
          seq: number;
          precision: string;
          kvPrecision?: string;
          maxGpus: number;
          json?: boolean;
        },
      ) => {
        if (!o.gpu) throw new UsageError('plan needs --gpu <id> (see `infersim hardware`)');
        const m = resolveModel(model);
        const hw = resolveHardware(o.gpu);
        const plans = recommendPlans(m.spec, hw, {
          precision: o.precision,
          kvPrecision: o.kvPrecision ?? defaultKvPrecision(m.spec, o.precision),
          seq: o.seq,
          maxDevices: o.maxGpus,
        });
        const best = plans.find((p) => p.fits && p.output_tokens_per_s > 0) ?? null;
        if (o.json)
          return printJson({
            model: m.id,
            gpu: hw.id,
            seq: o.seq,
            recommended: best,
            alternatives: plans.filter((p) => p !== best),
          });
        if (!best) process.stdout.write(`no plan of up to ${o.maxGpus} devices fits\n`);
        printTable(
          ['tp', 'pp', 'ep', 'devices', 'memory/device', 'fits', 'output tokens/s'],
          plans
            .slice(0, 15)
            .map((p) => [
              p.plan.tp,
              p.plan.pp,
              p.plan.ep,
              p.devices,
              gb(p.memory_per_device_bytes),
              p.fits ? 'yes' : 'no',
              p.output_tokens_per_s.toFixed(0),
            ]),
        );
      },
    );
}
