/**
 * `infersim simulate`: a served workload (closed loop, request rate or trace) on an engine, simulated step by step;
 * or `--rows FILE.csv`: one prediction per row of measured serving benchmarks.
 */
import { readFileSync } from 'node:fs';
import { Presets, SingleBar } from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import { systemLinks } from '../../catalog/index.js';
import type { HardwareSpec } from '../../core/hardware/spec.js';
import { modelDtype } from '../../core/memory/inference.js';
import type { Efficiency } from '../../core/perf/efficiency.js';
import {
  parseProfile,
  profileEfficiency,
  profileHardware,
  type MeasuredProfile,
} from '../../core/perf/measured.js';
import {
  ENGINE_IDS,
  parseTrace,
  simulateServing,
  type EngineId,
  type LengthDist,
  type ServingInput,
  type ServingPlan,
  type Workload,
} from '../../core/serving/index.js';
import { report } from '../../core/serving/summary.js';
import { csvRecords } from '../../validation/csv.js';
import { groupErrors, predictRows } from '../../validation/serving-rows.js';
import { choice, int, LIMITS, unitInterval } from '../options.js';
import { printJson, printTable, printTrace } from '../output.js';
import { resolveHardware, resolveModel, UsageError } from '../resolve.js';

interface Opts {
  gpu?: string;
  hardwareProfile?: string;
  engine: EngineId;
  engineVersion?: string;
  mode: 'agg' | 'disagg';
  tp: number;
  pp: number;
  ep: number;
  attentionDp: number;
  replicas: number;
  prefillTp: number;
  prefillEp: number;
  prefillAttentionDp: number;
  prefillWorkers: number;
  decodeTp: number;
  decodeEp: number;
  decodeAttentionDp: number;
  decodeWorkers: number;
  precision: string;
  kvPrecision?: string;
  isl?: number;
  osl?: number;
  inputDist?: LengthDist;
  outputDist?: LengthDist;
  concurrency?: number;
  rate?: number;
  arrivals: 'poisson' | 'fixed';
  trace?: string;
  numRequests?: number;
  warmup: number;
  waveShare?: number;
  sloTtftMs?: number;
  sloTpotMs?: number;
  seed: number;
  maxBatch?: number;
  maxTokens?: number;
  kvTokens?: number;
  blockSize?: number;
  chunkedPrefill: boolean;
  prefixCaching: boolean;
  reservation?: 'current' | 'full' | 'ratio';
  mixedChunk?: boolean;
  batchScale?: number;
  rows?: string;
  json?: boolean;
  explain?: boolean;
  ideal: boolean;
}

function positive(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive number (got '${v}')`);
    return n;
  };
}

/** "uniform:MIN:MAX", "normal:MEAN:STD:MIN:MAX", "lognormal:MEDIAN:SIGMA:MIN:MAX". */
function dist(name: string) {
  return (v: string): LengthDist => {
    const [kind, ...rest] = v.split(':');
    const n = rest.map(Number);
    if (n.some((x) => !Number.isFinite(x)))
      throw new InvalidArgumentError(`${name}: '${v}' has a part that is not a number`);
    if (kind === 'uniform' && n.length === 2) return { kind, min: n[0]!, max: n[1]! };
    if (kind === 'normal' && n.length === 4) return { kind, mean: n[0]!, std: n[1]!, min: n[2]!, max: n[3]! };
    if (kind === 'lognormal' && n.length === 4)
      return { kind, median: n[0]!, sigma: n[1]!, min: n[2]!, max: n[3]! };
    throw new InvalidArgumentError(
      `${name} must be uniform:MIN:MAX, normal:MEAN:STD:MIN:MAX or lognormal:MEDIAN:SIGMA:MIN:MAX (got '${v}')`,
    );
  };
}

/** The measured data's layout: attention TP per rank, attention-DP ranks, MoE EP (MoE TP makes up the rest). */
function plan(tp: number, pp: number, ep: number, dp: number, flag: string): ServingPlan {
  const group = tp * dp;
  if (group % ep !== 0) throw new UsageError(`${flag} ${ep} must divide tp × attention-dp = ${group}`);
  return { tp, pp, attentionDp: dp, moeTp: group / ep, moeEp: ep };
}

function workload(o: Opts): { w: Workload; users: number | null } {
  const given = [o.concurrency !== undefined, o.rate !== undefined, o.trace !== undefined].filter(
    Boolean,
  ).length;
  if (given !== 1) throw new UsageError('give exactly one of --concurrency N, --rate R or --trace FILE');
  if (o.trace) {
    let text: string;
    try {
      text = readFileSync(o.trace, 'utf8');
    } catch {
      throw new UsageError(`cannot read trace file ${o.trace}`);
    }
    const t = parseTrace(text);
    const users = t.timed ? null : (t.maxConcurrency ?? null);
    if (!t.timed && users === null)
      throw new UsageError(
        `${o.trace} has no arrival times; replay it with --concurrency N instead of --trace alone`,
      );
    const requests = o.numRequests ? t.requests.slice(0, o.numRequests) : t.requests;
    return { w: { kind: 'trace', requests, ...(users ? { users } : {}) }, users };
  }
  const input = o.inputDist ?? (o.isl ? { kind: 'fixed' as const, value: o.isl } : null);
  const output = o.outputDist ?? (o.osl ? { kind: 'fixed' as const, value: o.osl } : null);
  if (!input || !output) throw new UsageError('give --isl and --osl (or --input-dist and --output-dist)');
  if (o.concurrency !== undefined) {
    const n = o.numRequests ?? Math.max(10 * o.concurrency, 100);
    return {
      w: { kind: 'closed', users: o.concurrency, numRequests: n, input, output, seed: o.seed },
      users: o.concurrency,
    };
  }
  return {
    w: {
      kind: 'rate',
      rate: o.rate!,
      arrivals: o.arrivals,
      numRequests: o.numRequests ?? 500,
      input,
      output,
      seed: o.seed,
    },
    users: null,
  };
}

const f = (x: number | null, d = 2) => (x === null ? '–' : x.toFixed(d));

function runRows(file: string, o: Opts): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`cannot read ${file}`);
  }
  const rows = csvRecords(text);
  if (rows.length === 0) throw new UsageError(`${file} has no rows`);
  const bar = process.stderr.isTTY ? new SingleBar({ clearOnComplete: true }, Presets.shades_classic) : null;
  bar?.start(rows.length, 0);
  const results = predictRows(rows, {}, (done) => bar?.update(done));
  bar?.stop();
  if (o.json) return printJson(results);
  printTable(
    ['id', 'TTFT ms (pred)', 'TTFT ms (meas)', 'TPOT ms (pred)', 'TPOT ms (meas)'],
    results.map((r, i) =>
      'error' in r
        ? [r.id, r.error, rows[i]!.silicon_ttft_ms ?? '', '', rows[i]!.silicon_tpot_ms ?? '']
        : [
            r.id,
            f(r.ttft_ms),
            f(Number(rows[i]!.silicon_ttft_ms)),
            f(r.tpot_ms, 3),
            f(Number(rows[i]!.silicon_tpot_ms), 3),
          ],
    ),
  );
  printTable(
    ['engine', 'system', 'mode', 'rows', 'predicted', 'TTFT median |err|', 'TPOT median |err|'],
    groupErrors(rows, results).map((g) => [
      g.engine,
      g.system,
      g.mode,
      g.rows,
      g.predicted,
      Number.isNaN(g.ttft_median_abs_error) ? '–' : `${(g.ttft_median_abs_error * 100).toFixed(1)}%`,
      Number.isNaN(g.tpot_median_abs_error) ? '–' : `${(g.tpot_median_abs_error * 100).toFixed(1)}%`,
    ]),
  );
}

/**
 * The device: a catalog GPU (--gpu), or a profile the reference engine measured on a CPU (--hardware-profile,
 * core/perf/measured.ts): its rates are effective ones and it computes in fp32 only, so 'auto' precision means
 * fp32 there, and its fixed costs per step and per sequence come as the simulator's efficiency.
 */
function resolveDevice(o: Opts): {
  hw: HardwareSpec;
  precision: string;
  kvPrecision?: string;
  efficiency?: Efficiency;
  profile?: MeasuredProfile;
} {
  if (o.gpu && o.hardwareProfile) throw new UsageError('give --gpu or --hardware-profile, not both');
  if (o.gpu) return { hw: resolveHardware(o.gpu), precision: o.precision };
  if (!o.hardwareProfile)
    throw new UsageError(
      'simulate needs --gpu <id> (see `infersim hardware`) or --hardware-profile <file.json>',
    );
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(o.hardwareProfile, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read hardware profile ${o.hardwareProfile}: ${(e as Error).message}`);
  }
  let profile: MeasuredProfile;
  try {
    profile = parseProfile(raw, o.hardwareProfile);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const precision = o.precision === 'auto' ? 'fp32' : o.precision;
  if (precision !== 'fp32' || (o.kvPrecision !== undefined && o.kvPrecision !== 'fp32'))
    throw new UsageError(
      `a measured hardware profile times fp32 only (the reference engine's precision); got --precision ` +
        `${o.precision}${o.kvPrecision ? ` --kv-precision ${o.kvPrecision}` : ''}`,
    );
  return {
    hw: profileHardware(profile),
    precision,
    kvPrecision: 'fp32',
    efficiency: profileEfficiency(profile),
    profile,
  };
}

export function registerSimulate(program: Command): void {
  const par = (name: string) => int(name, 1, LIMITS.parallel);
  program
    .command('simulate')
    .description('simulate an engine serving a workload: TTFT, TPOT, ITL, E2E percentiles, tokens/s, goodput')
    .argument('[model]', 'catalog id or alias, or a path to a config.json')
    .option('--gpu <id>', 'device or system id from `infersim hardware`')
    .option(
      '--hardware-profile <file>',
      'instead of --gpu: a CPU profile measured by the reference engine (JSON, see README)',
    )
    .option('--engine <e>', ENGINE_IDS.join(' | '), choice('--engine', ENGINE_IDS), 'vllm')
    .option('--engine-version <v>', 'engine version (recorded in the output)')
    .option('--mode <m>', 'agg | disagg', choice('--mode', ['agg', 'disagg'] as const), 'agg')
    .option('--tp <n>', 'attention tensor parallel per rank', par('--tp'), 1)
    .option('--pp <n>', 'pipeline parallel', par('--pp'), 1)
    .option('--ep <n>', 'MoE expert parallel (MoE TP = tp × attention-dp / ep)', par('--ep'), 1)
    .option('--attention-dp <n>', 'attention data-parallel ranks', par('--attention-dp'), 1)
    .option('--replicas <n>', 'aggregated replicas behind one load balancer', par('--replicas'), 1)
    .option('--prefill-tp <n>', 'disagg: prefill worker TP', par('--prefill-tp'), 1)
    .option('--prefill-ep <n>', 'disagg: prefill worker MoE EP', par('--prefill-ep'), 1)
    .option('--prefill-attention-dp <n>', 'disagg: prefill attention DP', par('--prefill-attention-dp'), 1)
    .option('--prefill-workers <n>', 'disagg: prefill workers', par('--prefill-workers'), 1)
    .option('--decode-tp <n>', 'disagg: decode worker TP', par('--decode-tp'), 1)
    .option('--decode-ep <n>', 'disagg: decode worker MoE EP', par('--decode-ep'), 1)
    .option('--decode-attention-dp <n>', 'disagg: decode attention DP', par('--decode-attention-dp'), 1)
    .option('--decode-workers <n>', 'disagg: decode workers', par('--decode-workers'), 1)
    .option('--precision <p>', "weight format ('auto' = as the checkpoint ships)", 'auto')
    .option('--kv-precision <p>', 'KV-cache dtype (default: the model dtype)')
    .option('--isl <n>', 'input tokens per request', int('--isl', 1, LIMITS.seq))
    .option('--osl <n>', 'output tokens per request', int('--osl', 1, LIMITS.seq))
    .option(
      '--input-dist <d>',
      'input lengths: uniform:MIN:MAX | normal:MEAN:STD:MIN:MAX | lognormal:…',
      dist('--input-dist'),
    )
    .option('--output-dist <d>', 'output lengths, as --input-dist', dist('--output-dist'))
    .option('--concurrency <n>', 'closed loop: users in flight', int('--concurrency', 1, 1_000_000))
    .option('--rate <r>', 'open loop: requests per second', positive('--rate'))
    .option(
      '--arrivals <a>',
      'with --rate: poisson | fixed',
      choice('--arrivals', ['poisson', 'fixed'] as const),
      'poisson',
    )
    .option(
      '--trace <file>',
      'requests from a trace (vLLM bench JSON, Mooncake JSONL, Azure CSV, or "t in out" lines)',
    )
    .option(
      '--num-requests <n>',
      'requests (default 10 × concurrency, at least 100; 500 at a rate)',
      int('--num-requests', 1, 2_000_000),
    )
    .option('--warmup <n>', 'first requests left out of the figures', int('--warmup', 0, 2_000_000), 0)
    .option(
      '--wave-share <x>',
      'closed loop: share of the users that start together, 0 (all apart) to 1 (lockstep); default calibrated',
      unitInterval('--wave-share'),
    )
    .option('--slo-ttft-ms <x>', 'goodput: TTFT limit', positive('--slo-ttft-ms'))
    .option('--slo-tpot-ms <y>', 'goodput: TPOT limit', positive('--slo-tpot-ms'))
    .option('--seed <s>', 'seed of the length and arrival draws', int('--seed', 0, 2 ** 31), 0)
    .option(
      '--max-batch <n>',
      'max sequences running per rank (engine default otherwise)',
      int('--max-batch', 1, LIMITS.batch),
    )
    .option(
      '--max-tokens <n>',
      'token budget per step (engine default otherwise)',
      int('--max-tokens', 1, LIMITS.seq),
    )
    .option('--kv-tokens <n>', 'KV-cache tokens per rank (default: from memory)', int('--kv-tokens', 1, 1e12))
    .option(
      '--block-size <n>',
      'KV block size in tokens (engine default otherwise)',
      int('--block-size', 1, 4096),
    )
    .option('--no-chunked-prefill', 'prompts are prefilled whole, in one step')
    .option('--no-prefix-caching', 'no prefix cache')
    .option(
      '--reservation <r>',
      'KV reserved at admission: current (preempt by recompute) | full | ratio (engine default otherwise)',
      choice('--reservation', ['current', 'full', 'ratio'] as const),
    )
    .option('--mixed-chunk', 'SGLang: decodes join prefill steps (--enable-mixed-chunk)')
    .option(
      '--batch-scale <k>',
      'mean field for huge loads: simulate 1/k of the users, each standing for k identical ones',
      int('--batch-scale', 1, 65536),
    )
    .option('--no-ideal', 'skip the ideal-bound simulation')
    .option('--rows <file>', 'predict every row of a measured-serving CSV (measured.csv format)')
    .option('--json', 'print JSON')
    .option('--explain', 'show the formula and inputs of every figure')
    .action((model: string | undefined, o: Opts) => {
      if (o.rows) return runRows(o.rows, o);
      if (!model) throw new UsageError('simulate needs a <model> (or --rows FILE.csv)');
      const device = resolveDevice(o);
      const m = resolveModel(model);
      const { w } = workload(o);
      const input: ServingInput = {
        spec: m.spec,
        hw: device.hw,
        precision: device.precision,
        kvPrecision: o.kvPrecision ?? device.kvPrecision ?? modelDtype(m.spec),
        engine: o.engine,
        engineVersion: o.engineVersion,
        engineOverrides: {
          ...(o.maxBatch ? { maxRunning: o.maxBatch } : {}),
          ...(o.maxTokens ? { maxStepTokens: o.maxTokens } : {}),
          ...(o.mixedChunk ? { mixed: true } : {}),
          ...(o.blockSize ? { blockTokens: o.blockSize } : {}),
          ...(o.chunkedPrefill === false ? { chunkedPrefill: false } : {}),
          ...(o.prefixCaching === false ? { prefixCaching: false } : {}),
          ...(o.reservation ? { reservation: o.reservation } : {}),
        },
        ...(device.efficiency ? { efficiency: device.efficiency } : {}),
        links: (o.gpu && systemLinks(o.gpu)) || undefined,
        kvTokensPerRank: o.kvTokens,
        batchScale: o.batchScale,
        workload: w,
        warmup: o.warmup,
        waveShare: o.waveShare,
        slo: {
          ...(o.sloTtftMs ? { ttftS: o.sloTtftMs / 1e3 } : {}),
          ...(o.sloTpotMs ? { tpotS: o.sloTpotMs / 1e3 } : {}),
        },
        ideal: o.ideal,
        explain: o.explain,
        ...(o.mode === 'disagg'
          ? {
              disagg: {
                prefill: {
                  plan: plan(o.prefillTp, o.pp, o.prefillEp, o.prefillAttentionDp, '--prefill-ep'),
                  workers: o.prefillWorkers,
                },
                decode: {
                  plan: plan(o.decodeTp, o.pp, o.decodeEp, o.decodeAttentionDp, '--decode-ep'),
                  workers: o.decodeWorkers,
                },
              },
            }
          : { agg: { plan: plan(o.tp, o.pp, o.ep, o.attentionDp, '--ep'), workers: o.replicas } }),
      };
      const total = w.kind === 'trace' ? w.requests.length : w.numRequests;
      const bar =
        process.stderr.isTTY && total >= 20_000
          ? new SingleBar({ clearOnComplete: true }, Presets.shades_classic)
          : null;
      bar?.start(total * (o.ideal ? 2 : 1), 0);
      input.onProgress = (run, done) => bar?.update(done + (run === 'ideal' ? total : 0));
      const r = simulateServing(input);
      bar?.stop();
      const out = {
        model: m.id,
        gpu: device.hw.id,
        ...(o.hardwareProfile ? { hardware_profile: o.hardwareProfile } : {}),
        engine: o.engine,
        ...(o.engineVersion ? { engine_version: o.engineVersion } : {}),
        mode: o.mode,
        ...report(r),
        // The calibration's coverage does not apply: the rates and fixed costs are the profile's own.
        ...(device.profile
          ? {
              confidence: {
                level: 'measured' as const,
                reason: `rates and fixed costs measured by the reference engine (${device.profile.name})`,
              },
            }
          : {}),
        ...(o.explain ? { trace: r.trace } : {}),
      };
      if (o.json) return printJson(out);
      const i = out.ideal;
      // median, p90, p99, mean, then the ideal's median, of one latency metric
      const pctRow = (label: string, k: 'ttft_ms' | 'tpot_ms' | 'itl_ms' | 'e2e_ms', d: number) => [
        label,
        f(out[k], d),
        f(out[`${k}_p90`], d),
        f(out[`${k}_p99`], d),
        f(out[`${k}_mean`], d),
        f(i?.[k] ?? null, d),
      ];
      printTable(
        ['', 'median', 'p90', 'p99', 'mean', 'ideal (median)'],
        [
          pctRow('TTFT ms', 'ttft_ms', 2),
          ['  queueing ms', f(out.queue_ms), '', '', '', f(i?.queue_ms ?? null)],
          ['  prefill ms', f(out.prefill_ms), '', '', '', f(i?.prefill_ms ?? null)],
          pctRow('TPOT ms', 'tpot_ms', 3),
          pctRow('ITL ms', 'itl_ms', 3),
          pctRow('E2E ms', 'e2e_ms', 1),
        ],
      );
      printTable(
        ['', 'estimate', 'ideal'],
        [
          ['output tokens/s', f(out.output_tokens_per_s, 1), f(i?.output_tokens_per_s ?? null, 1)],
          [
            'output tokens/s per GPU',
            f(out.output_tokens_per_s_per_gpu, 1),
            f(i?.output_tokens_per_s_per_gpu ?? null, 1),
          ],
          [
            'output tokens/s per user',
            f(out.output_tokens_per_s_per_user, 1),
            f(i?.output_tokens_per_s_per_user ?? null, 1),
          ],
          ['requests/s', f(out.request_throughput_per_s, 3), f(i?.request_throughput_per_s ?? null, 3)],
          ['goodput requests/s', f(out.goodput_requests_per_s, 3), f(i?.goodput_requests_per_s ?? null, 3)],
          ['GPUs', String(out.gpus), ''],
          ['preemptions', String(out.preemptions), ''],
        ],
      );
      if (out.confidence.level === 'extrapolated')
        process.stdout.write(`confidence: extrapolated (${out.confidence.reason})\n`);
      if (o.explain) printTrace(r.trace);
    });
}
