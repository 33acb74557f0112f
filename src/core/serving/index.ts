/**
 * Serving simulation: a workload served by an engine (vLLM, SGLang, TensorRT-LLM) on a replica or on disaggregated
 * prefill/decode workers; the benchmark's figures (TTFT, TPOT, ITL, E2E, throughput, goodput) for the calibrated
 * estimate and for the ideal bound (the same schedule policy at datasheet speed).
 */
import type { ModelSpec } from '../arch/spec.js';
import { Trace, NO_TRACE, type TraceEntry } from '../explain.js';
import { hardwareClass, type HardwareSpec } from '../hardware/spec.js';
import { InputError, modelDtype } from '../memory/inference.js';
import { kvCache } from '../memory/kv.js';
import { kvElementBytes } from '../numerics/formats.js';
import { validatePlan } from '../parallel/plan.js';
import { confidenceFor, type Confidence } from '../perf/confidence.js';
import { IDEAL as IDEAL_EFF, type Efficiency } from '../perf/efficiency.js';
import type { Links } from '../perf/step.js';
import { kvCapacity } from './capacity.js';
import { engineDefaults, type EngineConfig, type EngineId } from './engines.js';
import { servingMetrics, type ServingMetrics, type Slo } from './metrics.js';
import { maxLength, meanLength } from './rng.js';
import { closedLoopStarts, closedLoopWaves, cycleOf, startingWave, type CycleInput } from './stagger.js';
import { simulate, type InstanceSpec, type Role } from './sim.js';
import { estimateEfficiency, StepTimer, type ServingPlan, type StepTimeOptions } from './step-time.js';
import { checkWorkload, materialise, type TraceRequest, type Workload } from './workload.js';

export { ENGINE_IDS, type EngineId, type EngineConfig } from './engines.js';
export type { ServingPlan } from './step-time.js';
export type { Workload, TraceRequest } from './workload.js';
export { parseTrace, type ParsedTrace } from './trace.js';
export type { LengthDist } from './rng.js';
export type { ServingMetrics, Dist } from './metrics.js';

export interface WorkerGroup {
  plan: ServingPlan;
  workers: number;
  /** Attention-DP ranks to simulate per worker (default all); the rest are taken to carry the same load. */
  simulatedRanks?: number;
  /** Multiplies step times (a worker shared with load outside the simulation). */
  timeScale?: number;
}

export interface ServingInput {
  spec: ModelSpec;
  hw: HardwareSpec;
  /** Weight format (core/perf's names: 'fp8', 'nvfp4', 'bf16', ... or 'auto'). */
  precision: string;
  kvPrecision: string;
  engine: EngineId;
  /** Engine release whose memory profile sizes the KV cache (core/memory/engines; default: the profile's own). */
  engineVersion?: string;
  /** Engine settings that differ from the engine's defaults. */
  engineOverrides?: Partial<Omit<EngineConfig, 'engine'>>;
  /** Aggregated serving: replicas of one plan. */
  agg?: WorkerGroup;
  /** Disaggregated serving: prefill workers and decode workers. */
  disagg?: { prefill: WorkerGroup; decode: WorkerGroup };
  /** KV tokens per attention-DP rank; default from core/memory's engine capacity. */
  kvTokensPerRank?: number;
  /** Memory fraction as the engine means it (vLLM gpu_memory_utilization, SGLang mem_fraction_static, TensorRT-LLM free fraction); default: the engine's own (core/memory/engines). */
  memoryFraction?: number;
  /**
   * Mean field over large batches: simulate 1/batchScale of every rank's requests, each standing for batchScale
   * identical ones: steps are timed with batchScale copies of every sequence, the rank's KV, token budget and
   * running limit are divided by it, throughputs multiplied. For closed loops of many users at fixed lengths.
   */
  batchScale?: number;
  workload: Workload;
  slo?: Slo;
  /**
   * Closed loop: share of the users that start together (1: all at once, in lockstep); default the calibrated
   * wave share (stagger.ts).
   */
  waveShare?: number;
  /** Requests at the start left out of the figures (a closed loop's first wave arrives all at once). */
  warmup?: number;
  links?: Links;
  /** Transfer link for disaggregated KV (per GPU, per direction); default: the inter-node link. */
  kvLink?: { bandwidthBytesPerS: number; latencyS: number };
  efficiency?: Efficiency;
  efficiencyFor?: (hwClass: string) => Efficiency;
  /** Also simulate the ideal bound (default true). */
  ideal?: boolean;
  /** Step by step at exact contexts, no fast-forward (the reference; slow). */
  exact?: boolean;
  /** Collect inter-token gaps (default true). */
  itl?: boolean;
  explain?: boolean;
  /** Progress of the runs (the estimate, then the ideal bound). */
  onProgress?: (run: 'estimate' | 'ideal', finished: number, total: number) => void;
}

export interface ServingResult {
  estimate: ServingMetrics;
  ideal: ServingMetrics | null;
  gpus: number;
  kv_tokens_per_rank: { prefill?: number; decode?: number; agg?: number };
  steps: number;
  preemptions: number;
  step_evaluations: number;
  engine: EngineConfig;
  /** 'extrapolated' where the calibration has no measured rows for this hardware class, format or engine. */
  confidence: Confidence;
  trace: TraceEntry[];
}

/** The weights and activations leave no room for KV cache. */
export class NoKvError extends InputError {}

export const SERVING_LIMITS = { requests: 2_000_000, users: 1_000_000, tokens: 10_000_000 } as const;

export function gpusOf(p: ServingPlan): number {
  return p.tp * p.pp * p.attentionDp;
}

function checkPlan(spec: ModelSpec, p: ServingPlan, field: string): void {
  for (const [k, v] of Object.entries(p))
    if (!Number.isInteger(v) || v < 1)
      throw new InputError(`${field}.${k} must be a positive integer (got ${v})`);
  if (p.moeTp * p.moeEp !== p.tp * p.attentionDp)
    throw new InputError(
      `${field}: moe_tp × moe_ep (${p.moeTp} × ${p.moeEp}) must equal tp × attention_dp (${p.tp} × ${p.attentionDp})`,
    );
  // Attention is split by tp; the experts need not divide evenly by moe_ep (engines add redundant experts, e.g.
  // 256 experts + 32 copies over EP 72), so the expert operators are timed at num_experts / moe_ep per GPU.
  validatePlan(spec, { tp: p.tp, pp: p.pp, ep: 1 });
}

export function simulateServing(i: ServingInput): ServingResult {
  const groups: { role: Role; g: WorkerGroup; field: string }[] = i.disagg
    ? [
        { role: 'prefill', g: i.disagg.prefill, field: 'prefill' },
        { role: 'decode', g: i.disagg.decode, field: 'decode' },
      ]
    : i.agg
      ? [{ role: 'both', g: i.agg, field: 'plan' }]
      : [];
  if (groups.length === 0) throw new InputError('give either an aggregated plan or disaggregated workers');
  for (const { g, field } of groups) {
    checkPlan(i.spec, g.plan, field);
    if (!Number.isInteger(g.workers) || g.workers < 1)
      throw new InputError(`${field}.workers must be a positive integer (got ${g.workers})`);
  }
  const kvBytes = kvElementBytes(i.kvPrecision);
  if (kvBytes === null) throw new InputError(`unknown kv precision '${i.kvPrecision}'`);
  checkWorkload(i.workload, SERVING_LIMITS.requests);
  if (i.waveShare !== undefined && !(i.waveShare >= 0 && i.waveShare <= 1))
    throw new InputError(`wave_share must be from 0 to 1 (got ${i.waveShare})`);
  if (i.batchScale !== undefined && !(Number.isInteger(i.batchScale) && i.batchScale >= 1))
    throw new InputError(`batch_scale must be a positive integer (got ${i.batchScale})`);
  const requests = materialise(i.workload);
  if (requests.length === 0) throw new InputError('the workload has no requests');
  let longest = 0;
  for (const q of requests) longest = Math.max(longest, q.input + q.output);
  if (i.workload.kind !== 'trace') longest = maxLength(i.workload.input) + maxLength(i.workload.output);
  const trace = i.explain ? new Trace(true) : NO_TRACE;

  const cfgBase = { ...engineDefaults(i.engine, i.hw.memoryBytes), ...i.engineOverrides, engine: i.engine };
  const kvTokens: ServingResult['kv_tokens_per_rank'] = {};
  const built = groups.map(({ role, g, field }) => {
    // A prefill worker holds a request's KV only until its first token.
    const k = i.batchScale ?? 1;
    const scaled: EngineConfig =
      k === 1
        ? cfgBase
        : {
            ...cfgBase,
            maxStepTokens: Math.max(1, Math.floor(cfgBase.maxStepTokens / k)),
            maxRunning: Math.max(1, Math.floor(cfgBase.maxRunning / k)),
          };
    const cfg: EngineConfig = role === 'prefill' ? { ...scaled, reservation: 'current' } : scaled;
    let tokens = i.kvTokensPerRank;
    if (tokens === undefined) {
      const cap = kvCapacity(i.spec, i.hw, {
        precision: i.precision,
        kvPrecision: i.kvPrecision,
        plan: g.plan,
        engine: cfg,
        maxModelLen: longest,
        memoryFraction: i.memoryFraction,
        engineVersion: i.engineVersion,
      });
      tokens = cap.tokensPerRank;
      trace.add(
        `kv_tokens_per_rank (${field})`,
        tokens,
        'tokens',
        'core/memory engine capacity: (memory fraction · device − weights − activation − runtime) / KV bytes per token',
        { kv_bytes_per_token: cap.bytesPerToken, weights_bytes: cap.weightsBytes },
      );
    }
    kvTokens[role === 'both' ? 'agg' : role] = tokens;
    const blocks = Math.floor(tokens / cfg.blockTokens / k);
    if (blocks < 1)
      throw new NoKvError(
        `${field}: no KV cache fits on the GPUs (weights and activations take all memory); use more GPUs or a smaller precision`,
      );
    return { role, g, cfg, blocks };
  });

  // `share`: the users' wave share. The ideal bound keeps the estimate's: how users arrive is the workload's, not
  // the hardware's; with the ideal's own (no waves) its users would queue differently and could wait longer.
  const run = (eff: Efficiency, which: 'estimate' | 'ideal', share?: number) => {
    const instances: InstanceSpec[] = [];
    const timers: StepTimer[] = [];
    for (const b of built) {
      const o: StepTimeOptions = {
        spec: i.spec,
        hw: i.hw,
        precision: i.precision,
        kvBytes,
        plan: b.g.plan,
        links: i.links,
        batchScale: i.batchScale,
      };
      const timer = new StepTimer(o, eff);
      timers.push(timer);
      for (let w = 0; w < b.g.workers; w++)
        instances.push({
          role: b.role,
          plan: b.g.plan,
          engine: b.cfg,
          blocksPerRank: b.blocks,
          timer,
          ranks: Math.min(b.g.plan.attentionDp, b.g.simulatedRanks ?? b.g.plan.attentionDp),
          timeScale: b.g.timeScale,
        });
    }
    const transferS = i.disagg ? kvTransfer(i, kvBytes) : undefined;
    const users =
      i.workload.kind === 'closed'
        ? i.workload.users
        : i.workload.kind === 'trace'
          ? (i.workload.users ?? null)
          : null;
    // The calibrated waves are those of fixed-length benchmarks, where identical requests keep a wave together;
    // drawn lengths scatter the users from a common start, as they would a benchmark's (unless a share is given).
    const fixed = fixedLengths(i.workload);
    const starts =
      users !== null && (fixed || i.waveShare !== undefined)
        ? userStarts(i, users, eff, instances, transferS, share)
        : undefined;
    if (which === 'estimate') explainLoop(trace, eff, starts, fixed);
    const sim = simulate({
      instances,
      requests,
      users,
      starts: starts?.starts,
      waves: fixed ? starts?.waves : undefined,
      entryDelayS: eff.requestS,
      transferS,
      exact: i.exact,
      collectGaps: i.itl ?? true,
      hashBlockTokens: i.workload.kind === 'trace' ? (i.workload.hashBlockTokens ?? 512) : 512,
      onProgress: i.onProgress && ((f, n) => i.onProgress!(which, f, n)),
    });
    const R = sim.requests;
    const warm = Math.min(i.warmup ?? 0, R.count - 1);
    const measured = Array.from({ length: R.count - warm }, (_, k) => k + warm);
    let start = Infinity;
    let end = 0;
    for (const k of measured) {
      start = Math.min(start, R.arrival[k]!);
      end = Math.max(end, R.finish[k]!);
    }
    const metrics = servingMetrics(
      {
        arrival: R.arrival,
        scheduled: R.scheduled,
        firstToken: R.firstToken,
        finish: R.finish,
        outputLen: R.output,
        inputLen: R.input,
      },
      end - start,
      sim.gaps,
      i.slo,
      measured,
    );
    const k = i.batchScale ?? 1;
    if (k !== 1) {
      metrics.request_throughput_per_s *= k;
      metrics.output_tokens_per_s *= k;
      metrics.input_tokens_per_s *= k;
      metrics.goodput_requests_per_s *= k;
    }
    let evaluations = 0;
    for (const t of timers) evaluations += t.evaluations;
    return { metrics, sim, evaluations, share: starts?.share };
  };

  const optsForEff: StepTimeOptions = {
    spec: i.spec,
    hw: i.hw,
    precision: i.precision,
    kvBytes,
    plan: built[0]!.g.plan,
    efficiency: i.efficiency,
    efficiencyFor: i.efficiencyFor,
    engine: i.engine,
  };
  const eff = estimateEfficiency(optsForEff);
  const est = run(eff, 'estimate');
  const ideal = i.ideal === false ? null : run(IDEAL_EFF, 'ideal', est.share);
  let gpus = 0;
  for (const b of built) gpus += gpusOf(b.g.plan) * b.g.workers;
  if (trace.enabled) explainServing(trace, est.metrics, gpus, eff, est.sim.steps, est.evaluations);
  return {
    estimate: est.metrics,
    ideal: ideal?.metrics ?? null,
    gpus,
    kv_tokens_per_rank: kvTokens,
    steps: est.sim.steps,
    preemptions: est.sim.preemptions,
    step_evaluations: est.evaluations,
    engine: built[built.length - 1]!.cfg,
    confidence: confidenceFor(
      hardwareClass(i.hw),
      i.precision === 'auto' ? (i.spec.checkpointQuant?.format ?? modelDtype(i.spec)) : i.precision,
      i.engine,
    ),
    trace: trace.entries,
  };
}

/**
 * Seconds to move a prompt's KV cache (all layers, the cache dtype) from a prefill worker to a decode worker: one
 * NIC per GPU, every GPU of the smaller side sending or receiving its shard in parallel (`lanes`).
 */
export function kvTransferS(
  spec: ModelSpec,
  kvBytes: number,
  lanes: number,
  link: { bandwidthBytesPerS: number; latencyS: number } | null | undefined,
): (input: number) => number {
  const bytesPerToken = kvCache(spec, {
    batch: 1,
    seq: 1,
    kvBytes,
    tp: 1,
    blockSize: 1,
    layerFilter: null,
    stateBytes: 2,
  }).kvCacheBytes;
  const l = link ?? { bandwidthBytesPerS: 50e9, latencyS: 8e-6 };
  return (input: number) => l.latencyS + (bytesPerToken * input) / (l.bandwidthBytesPerS * lanes);
}

function kvTransfer(i: ServingInput, kvBytes: number): (input: number) => number {
  const d = i.disagg!;
  const lanes = Math.min(gpusOf(d.prefill.plan), gpusOf(d.decode.plan));
  return kvTransferS(i.spec, kvBytes, lanes, i.kvLink ?? i.links?.inter);
}

/**
 * Start times and waves of a closed loop's users (stagger.ts): waves of the calibrated share of the users, spread
 * over one cycle estimated from the step times at the workload's mean lengths; a wave's users send together.
 * `waveShare` overrides the share; `share` (the estimate's, for the ideal bound) overrides both.
 */
function userStarts(
  i: ServingInput,
  users: number,
  eff: Efficiency,
  instances: InstanceSpec[],
  transferS: ((input: number) => number) | undefined,
  share?: number,
): { starts: number[]; waves: number[]; share: number; cycleS: number } {
  const w = i.workload;
  const isl = Math.round(w.kind === 'trace' ? meanOf(w.requests, 'input') : meanLength(w.input));
  const osl = Math.round(w.kind === 'trace' ? meanOf(w.requests, 'output') : meanLength(w.output));
  const entry = instances.filter((s) => s.role !== 'decode');
  const decode = instances.find((s) => s.role !== 'prefill')!;
  let ranks = 0;
  for (const s of entry) ranks += s.ranks ?? s.plan.attentionDp;
  const perRank = Math.max(1, Math.round(users / Math.max(1, ranks)));
  const all = (s: InstanceSpec, tokens: number) => tokens * s.plan.attentionDp;
  const time = (s: InstanceSpec, decodes: number, context: number, prompt: number) =>
    (s.timeScale ?? 1) *
    s.timer.time(
      {
        prefill: prompt > 0 ? [{ tokens: prompt, context: 0 }] : [],
        decodes,
        decodeContext: decodes * context,
      },
      all(s, decodes + prompt),
    );
  const first = entry[0]!;
  const c: CycleInput = {
    users: perRank,
    isl,
    osl,
    chunk: first.engine.maxStepTokens,
    transferS: transferS?.(isl),
    // aggregated: one rank's steps; disaggregated: prompts alone on a prefill worker, decodes on a decode worker
    step: (d, ctx, p) =>
      first === decode ? time(first, d, ctx, p) : p > 0 ? time(first, 0, 0, p) : time(decode, d, ctx, 0),
  };
  const cycle = cycleOf(c);
  const wave =
    share ?? i.waveShare ?? (first === decode ? startingWave(eff.burst, eff.burstHalf, c, cycle) : eff.burst);
  const n = Math.min(users, maxUsers(w));
  return {
    starts: closedLoopStarts(n, wave, cycle.cycleS),
    waves: closedLoopWaves(n, wave),
    share: wave,
    cycleS: cycle.cycleS,
  };
}

const fixedLengths = (w: Workload) =>
  w.kind === 'closed' && w.input.kind === 'fixed' && w.output.kind === 'fixed';

const maxUsers = (w: Workload) => (w.kind === 'trace' ? w.requests.length : w.numRequests);

function meanOf(rs: readonly TraceRequest[], k: 'input' | 'output'): number {
  let s = 0;
  for (const r of rs) s += r[k];
  return rs.length ? s / rs.length : 1;
}

function explainLoop(
  t: Trace,
  eff: Efficiency,
  starts: { waves: number[]; share: number; cycleS: number } | undefined,
  fixed: boolean,
): void {
  t.add(
    'front_end_latency_s',
    eff.requestS,
    's',
    "calibrated per engine: from a request's send to the engine's queue (HTTP, tokenising, routing); in TTFT and queue_ms",
    {},
  );
  if (!starts) return;
  const users = starts.waves.length;
  t.add(
    'closed-loop wave share',
    starts.share,
    'share of users',
    fixed
      ? "users start in waves of round(share · users), spread evenly over one cycle; a wave's users send their next requests together (core/serving/stagger.ts)"
      : 'users start in waves of round(share · users), spread evenly over one cycle; drawn lengths scatter them after',
    {
      users,
      waves: users ? starts.waves[users - 1]! + 1 : 0,
      cycle_s: starts.cycleS,
      calibrated_burst: eff.burst,
      burst_half: eff.burstHalf,
    },
  );
}

function explainServing(
  t: Trace,
  m: ServingMetrics,
  gpus: number,
  eff: Efficiency,
  steps: number,
  evaluations: number,
): void {
  t.add(
    'steps',
    steps,
    'steps',
    'each timed by core/perf stepTimes for its exact mix (prefill chunks + decode batch); decode runs between events interpolated on a grid of mean contexts',
    { ...eff, perf_evaluations: evaluations },
  );
  t.add('ttft_s (median)', m.ttft_s.p50, 's', 'first token time − arrival; median over requests', {
    queue_p50_s: m.queue_s.p50,
    prefill_p50_s: m.prefill_s.p50,
  });
  t.add(
    'tpot_s (median)',
    m.tpot_s.p50,
    's',
    '(e2e − ttft) / (output_len − 1), requests with output_len > 1',
    {},
  );
  t.add('output_tokens_per_s', m.output_tokens_per_s, 'tokens/s', 'Σ output tokens / benchmark duration', {
    duration_s: m.duration_s,
  });
  t.add(
    'output_tokens_per_s_per_gpu',
    m.output_tokens_per_s / gpus,
    'tokens/s',
    'output_tokens_per_s / gpus',
    {
      gpus,
    },
  );
}
