/**
 * The deployment planner: for a workload (N users in a closed loop, or a request rate; ISL/OSL) and latency
 * limits (TTFT, TPOT, E2E at a percentile), search device × layout per replica (TP/PP/EP/attention DP) × weight
 * precision × KV precision × engine × replicas. An analytical pre-filter (bounds.ts: memory fit, ideal TPOT and
 * TTFT) prunes; the serving simulation scores what remains; configurations that meet the limits are ranked by
 * $/M output tokens. Pure: devices, prices and the model come in as data.
 */
import type { ModelSpec } from '../arch/spec.js';
import type { HardwareSpec } from '../hardware/spec.js';
import { InputError, modelDtype } from '../memory/inference.js';
import { weightLayout } from '../memory/weights.js';
import { kvElementBytes } from '../numerics/formats.js';
import type { Efficiency } from '../perf/efficiency.js';
import type { Links } from '../perf/step.js';
import { NoKvError, simulateServing, type EngineId, type ServingInput } from '../serving/index.js';
import type { ServingMetrics } from '../serving/metrics.js';
import { idealBounds, memoryFit, type IdealBounds } from './bounds.js';
import { usdPerMillionOutputTokens, type PriceChoice } from './cost.js';
import { paretoFront } from './pareto.js';
import { nearestOptions } from './nearest.js';
import { defaultPrecisions, precisionLabel, supported } from './precisions.js';
import { checkMargin, meetsLimit } from './limits.js';
import { layouts, type Layout } from './space.js';
import { openLoopEstimate, steadyEstimator, type Estimator } from './estimate.js';

export {
  choosePrice,
  usdPerMillionOutputTokens,
  type Price,
  type PriceChoice,
  type PricePolicy,
} from './cost.js';
export { paretoFront } from './pareto.js';

/** A request the planner cannot search (a 422 at the API, exit code 2 in the CLI). */
export type EngineIdList = EngineId[];

export class PlanInputError extends InputError {}

export interface PlanDevice {
  /** Catalog id. */
  id: string;
  hw: HardwareSpec;
  links?: Links;
  price: PriceChoice | null;
  /** GPUs a tensor-parallel group may span (one node); default 8. */
  perNode?: number;
}

export type Percentile = 50 | 90 | 99;

export interface PlanRequest {
  spec: ModelSpec;
  devices: PlanDevice[];
  /** Closed loop of this many users, or an open loop at this many requests per second. */
  users?: number;
  rate?: number;
  isl: number;
  osl: number;
  limits: {
    ttftMs?: number;
    tpotMs?: number;
    e2eMs?: number;
    percentile?: Percentile;
    /** A prediction up to this fraction over a limit counts as meeting it (limits.ts; default 0). */
    margin?: number;
  };
  engines: EngineId[];
  /** Weight formats (core/perf names: 'bf16', 'fp8', 'nvfp4', 'int4-g32', or 'auto' = as the checkpoint ships). */
  precisions?: string[];
  /** KV-cache dtypes; default: the model dtype, and fp8 too where the device computes in fp8. */
  kvPrecisions?: string[];
  /** Most GPUs in all (replicas × GPUs per replica). */
  maxGpus: number;
  efficiency?: Efficiency;
  efficiencyFor?: (hwClass: string) => Efficiency;
  /**
   * Also search disaggregated serving: per replica, prefill and decode workers of one layout in the ratios
   * SPLITS (layouts without attention DP).
   */
  disagg?: boolean;
  /**
   * Simulate every configuration past the pre-filter instead of the steady-state estimate's selection (slow;
   * the tests compare the two).
   */
  exhaustive?: boolean;
  /** Requests simulated per user (default 3; the first wave is left out). */
  waves?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface Candidate {
  gpu: string;
  /** 'disagg': each replica is prefill_workers prefill and decode_workers decode workers of the layout. */
  mode: 'agg' | 'disagg';
  prefill_workers: number | null;
  decode_workers: number | null;
  gpus: number;
  gpus_per_replica: number;
  layout: string;
  tp: number;
  pp: number;
  ep: number;
  attention_dp: number;
  replicas: number;
  engine: EngineId;
  precision: string;
  kv_precision: string;
  /** At the limits' percentile. */
  ttft_ms: number;
  tpot_ms: number;
  e2e_ms: number;
  output_tokens_per_s: number;
  output_tokens_per_s_per_gpu: number;
  /** 1000 / TPOT at the percentile. */
  output_tokens_per_s_per_user: number;
  usd_per_hour: number | null;
  usd_per_million_output_tokens: number | null;
  price_source: PriceChoice | null;
}

export type RejectStage = 'unsupported' | 'does-not-fit' | 'ideal-ttft' | 'ideal-tpot' | 'limits' | 'error';

/** A family: one device, engine and weight precision; rejected when none of its configurations meets the limits. */
export interface Rejection {
  gpu: string;
  engine: EngineId;
  precision: string;
  stage: RejectStage;
  reason: string;
}

export interface Suggestion {
  change: 'more-gpus' | 'lower-precision' | 'shorter-context' | 'relax-limits';
  description: string;
}

export interface PlanResult {
  recommended: Candidate | null;
  candidates: Candidate[];
  pareto: Candidate[];
  rejected: Rejection[];
  /** When nothing meets the limits: the nearest options. */
  nearest: Suggestion[];
  /**
   * Configurations listed; pruned by the memory and ideal-latency bounds; estimated by the steady state; simulated
   * (the estimate's selection); and simulations run (several per configuration: the replica search).
   */
  searched: {
    configurations: number;
    prefiltered: number;
    estimated: number;
    simulated: number;
    simulations: number;
  };
}

/** Prefill : decode workers per disaggregated replica. */
export const SPLITS: readonly (readonly [number, number])[] = [
  [1, 1],
  [1, 2],
  [1, 3],
  [2, 1],
];

const STAGE_ORDER: RejectStage[] = [
  'error',
  'unsupported',
  'does-not-fit',
  'ideal-ttft',
  'ideal-tpot',
  'limits',
];

function at(d: { p50: number; p90: number; p99: number }, p: Percentile): number {
  return p === 99 ? d.p99 : p === 90 ? d.p90 : d.p50;
}

interface Sim {
  m: ServingMetrics;
  /** Ranks (attention-DP ranks × replicas) the simulated rank stands for. */
  share: number;
}

/** One device · engine · precision family's furthest stage, and whether any configuration of it met the limits. */
export interface FamilyState extends Rejection {
  met: boolean;
  /** How far over the limits its nearest configuration was (limit ratio), to report the nearest. */
  miss?: number;
}

/** What one shard's simulations found (structured-clonable, for worker threads). */
export interface PlanPart {
  candidates: Candidate[];
  families: FamilyState[];
  /** Configurations simulated. */
  configurations: number;
  simulations: number;
}

/** Whether a miss (limit ratio) is nearer than a family's recorded one; ties go to the smaller reason text. */
function nearer(miss: number | undefined, reason: string, f: FamilyState): boolean {
  const a = miss ?? Infinity;
  const b = f.miss ?? Infinity;
  return a < b || (a === b && reason < f.reason);
}

/** The whole search in one thread. */
export function planServing(r: PlanRequest): PlanResult {
  const est = estimatePlans(r);
  return mergePlans(r, [est], [simulatePlans(r, selectForSimulation(r, [est]))]);
}

type Job = {
  dev: PlanDevice;
  layout: Layout;
  precision: string;
  label: string;
  kv: string;
  engine: EngineId;
  /** Disaggregated: [prefill workers, decode workers] per replica. */
  split: readonly [number, number] | null;
};

interface Prepared {
  jobs: Job[];
  families: Map<string, FamilyState>;
  pct: Percentile;
  limit: { ttftS: number; tpotS: number; e2eS: number };
  margin: number;
  tokens: number;
  waves: number;
}

const familyKey = (gpu: string, engine: string, label: string) => `${gpu}|${engine}|${label}`;

/** Record a family's furthest stage (and, at one stage, its nearest miss). */
function note(
  families: Map<string, FamilyState>,
  gpu: string,
  engine: EngineId,
  precision: string,
  stage: RejectStage,
  reason: string,
  miss?: number,
): void {
  const key = familyKey(gpu, engine, precision);
  const f = families.get(key);
  if (!f) families.set(key, { gpu, engine, precision, stage, reason, met: false, miss });
  else if (
    STAGE_ORDER.indexOf(stage) > STAGE_ORDER.indexOf(f.stage) ||
    (stage === f.stage && nearer(miss, reason, f))
  )
    Object.assign(f, { stage, reason, miss });
}

/** Check the request and list its configurations (the same list, in the same order, in every thread). */
function prepare(r: PlanRequest): Prepared {
  if ((r.users === undefined) === (r.rate === undefined)) throw new PlanInputError('give users or rate');
  if (r.users !== undefined && !(Number.isInteger(r.users) && r.users >= 1))
    throw new PlanInputError(`users must be a positive integer (got ${r.users})`);
  if (r.rate !== undefined && !(r.rate > 0))
    throw new PlanInputError(`rate must be positive (got ${r.rate})`);
  for (const [k, v] of [
    ['isl', r.isl],
    ['osl', r.osl],
    ['maxGpus', r.maxGpus],
  ] as const)
    if (!(Number.isInteger(v) && v >= 1))
      throw new PlanInputError(`${k} must be a positive integer (got ${v})`);
  if (r.devices.length === 0) throw new PlanInputError('no devices to plan for');
  if (r.engines.length === 0) throw new PlanInputError('no engines to plan for');
  const margin = r.limits.margin ?? 0;
  const marginError = checkMargin(margin);
  if (marginError) throw new PlanInputError(marginError);
  const precisions = r.precisions?.length ? r.precisions : defaultPrecisions(r.spec);
  for (const p of precisions)
    try {
      weightLayout(r.spec, p);
    } catch (e) {
      throw new PlanInputError(`precision: ${e instanceof Error ? e.message : String(e)}`);
    }
  for (const k of r.kvPrecisions ?? [])
    if (kvElementBytes(k) === null) throw new PlanInputError(`kv precision: unknown KV-cache dtype '${k}'`);

  const families = new Map<string, FamilyState>();
  const jobs: Job[] = [];
  for (const dev of r.devices) {
    const ls = layouts(r.spec, r.maxGpus, dev.perNode ?? 8);
    for (const precision of precisions) {
      const label = precisionLabel(r.spec, precision);
      const why = supported(dev.hw, precision, label);
      if (why) {
        for (const e of r.engines) note(families, dev.id, e, label, 'unsupported', why);
        continue;
      }
      const kvs =
        r.kvPrecisions ??
        (dev.hw.denseFlops.fp8 && label !== modelDtype(r.spec)
          ? [modelDtype(r.spec), 'fp8']
          : [modelDtype(r.spec)]);
      for (const layout of ls)
        for (const kv of kvs)
          for (const engine of r.engines) {
            jobs.push({ dev, layout, precision, label, kv, engine, split: null });
            if (r.disagg && layout.plan.attentionDp === 1)
              for (const split of SPLITS)
                if ((split[0] + split[1]) * layout.gpus <= r.maxGpus)
                  jobs.push({ dev, layout, precision, label, kv, engine, split });
          }
      if (ls.length === 0)
        for (const e of r.engines)
          note(families, dev.id, e, label, 'does-not-fit', `no layout of up to ${r.maxGpus} GPUs`);
    }
  }
  return {
    jobs,
    families,
    pct: r.limits.percentile ?? 50,
    limit: {
      ttftS: r.limits.ttftMs !== undefined ? r.limits.ttftMs / 1e3 : Infinity,
      tpotS: r.limits.tpotMs !== undefined ? r.limits.tpotMs / 1e3 : Infinity,
      e2eS: r.limits.e2eMs !== undefined ? r.limits.e2eMs / 1e3 : Infinity,
    },
    margin,
    tokens: r.isl + r.osl,
    waves: r.waves ?? 3,
  };
}

/** GPUs of one replica: the layout's, or its prefill and decode workers'. */
const unitGpusOf = (job: Job) =>
  job.split ? (job.split[0] + job.split[1]) * job.layout.gpus : job.layout.gpus;

/**
 * The steady-state estimate's slack: a configuration it puts up to this fraction over a limit is still simulated
 * (the estimate and the simulation differ, most in TTFT), and one within COST_SLACK of the cheapest estimate.
 */
export const ESTIMATE_SLACK = 0.25;
export const COST_SLACK = 1.5;
/** Configurations simulated per family (device · engine · precision) and mode, at least. */
export const FAMILY_PICKS = 2;

/** A configuration past the pre-filter, as the steady-state estimate sees it at its fewest replicas. */
export interface JobEstimate {
  /** Index in the request's configuration list. */
  index: number;
  family: string;
  disagg: boolean;
  /** Fewest replicas the estimate meets the limits with (with the slack); the most that fit when none does. */
  replicas: number;
  meets: boolean;
  /** Largest limit ratio at `replicas` (≤ 1 + slack when it meets). */
  miss: number;
  usdPerMillion: number | null;
  perGpu: number;
  perUser: number;
  /** The estimate failed (the simulation names why): always simulated. */
  unestimated?: boolean;
}

/** What one shard's estimates found (structured-clonable, for worker threads). */
export interface EstimatePart {
  estimates: JobEstimate[];
  families: FamilyState[];
  configurations: number;
  prefiltered: number;
  anyFit: boolean;
}

/**
 * Phase 1, for the configurations of shard `index` of `count` (every count-th): the memory and ideal-latency
 * pre-filter, then the steady-state estimate (estimate.ts) at the fewest replicas that meet the limits.
 */
export function estimatePlans(r: PlanRequest, shard = { index: 0, count: 1 }): EstimatePart {
  const P = prepare(r);
  const within = (value: number, lim: number) => meetsLimit(value, lim, P.margin);
  const idealCache = new Map<string, IdealBounds>();
  const estimates: JobEstimate[] = [];
  let prefiltered = 0;
  let anyFit = false;
  const mine = P.jobs
    .map((job, index) => ({ job, index }))
    .filter(({ index }) => index % shard.count === shard.index);
  mine.forEach(({ job, index }, i) => {
    r.onProgress?.(i, mine.length);
    const { dev, layout, precision, label, kv, engine, split } = job;
    const mem = memoryFit(r.spec, dev.hw, {
      engine,
      plan: layout.plan,
      precision,
      kvPrecision: kv,
      tokens: P.tokens,
    });
    if (!mem.fits) {
      prefiltered++;
      note(
        P.families,
        dev.id,
        engine,
        label,
        'does-not-fit',
        `does not fit in ${r.maxGpus} GPUs: ${mem.reason ?? ''}`.trim(),
      );
      return;
    }
    anyFit = true;
    const ikey = `${dev.id}|${layout.name}|${precision}|${kv}`;
    let ideal = idealCache.get(ikey);
    if (!ideal) {
      ideal = idealBounds(r.spec, dev.hw, {
        plan: layout.plan,
        precision,
        kvPrecision: kv,
        isl: r.isl,
        links: dev.links,
      });
      idealCache.set(ikey, ideal);
    }
    if (
      !within(ideal.ttftS, P.limit.ttftS) ||
      !within(ideal.ttftS + (r.osl - 1) * ideal.tpotS, P.limit.e2eS)
    ) {
      prefiltered++;
      note(
        P.families,
        dev.id,
        engine,
        label,
        'ideal-ttft',
        `TTFT or E2E over the limit even at datasheet speed (ideal TTFT ${(ideal.ttftS * 1e3).toFixed(1)} ms with ${layout.name})`,
        Math.max(ideal.ttftS / P.limit.ttftS, (ideal.ttftS + (r.osl - 1) * ideal.tpotS) / P.limit.e2eS),
      );
      return;
    }
    if (!within(ideal.tpotS, P.limit.tpotS)) {
      prefiltered++;
      note(
        P.families,
        dev.id,
        engine,
        label,
        'ideal-tpot',
        `TPOT over the limit even at datasheet speed (ideal ${(ideal.tpotS * 1e3).toFixed(2)} ms with ${layout.name})`,
        ideal.tpotS / P.limit.tpotS,
      );
      return;
    }
    const unitGpus = unitGpusOf(job);
    const maxReplicas = Math.floor(r.maxGpus / unitGpus);
    const family = familyKey(dev.id, engine, label);
    // No estimate (an error the simulation will name): simulated whatever the others' estimates.
    const unestimated = () =>
      void estimates.push({
        index,
        family,
        disagg: split !== null,
        replicas: maxReplicas,
        meets: false,
        miss: Infinity,
        usdPerMillion: null,
        perGpu: 0,
        perUser: 0,
        unestimated: true,
      });
    let est: Estimator;
    try {
      est = steadyEstimator({
        spec: r.spec,
        hw: dev.hw,
        links: dev.links,
        precision,
        kvPrecision: kv,
        engine,
        plan: layout.plan,
        split,
        kvTokensPerRank: mem.kvTokens,
        isl: r.isl,
        osl: r.osl,
        efficiency: r.efficiency,
        efficiencyFor: r.efficiencyFor,
      });
    } catch {
      return unestimated();
    }
    // An open loop: the requests in flight at the rate each replica gets (null: it cannot keep up); a most of
    // 64 × the KV cache's sequences stands for "never settles".
    const seqs = Math.max(1, mem.kvTokens / P.tokens) * layout.plan.attentionDp;
    const at = (replicas: number) => {
      const e =
        r.users !== undefined
          ? est(Math.max(1, Math.ceil(r.users / replicas)))
          : openLoopEstimate(est, r.rate! / replicas, r.osl, 64 * seqs);
      if (!e) return { e: { ttftS: Infinity, tpotS: Infinity, tokensPerS: 0 }, ratio: Infinity };
      const ratio = Math.max(
        e.ttftS / P.limit.ttftS,
        e.tpotS / P.limit.tpotS,
        (e.ttftS + (r.osl - 1) * e.tpotS) / P.limit.e2eS,
      );
      return { e, ratio };
    };
    const ok = (x: { ratio: number }) => x.ratio <= (1 + P.margin) * (1 + ESTIMATE_SLACK);
    // The fewest replicas that meet (fewer users per replica never slows a user down).
    let lo = 0;
    let hi = maxReplicas;
    let top: ReturnType<typeof at>;
    try {
      top = at(maxReplicas);
      if (ok(top))
        while (hi - lo > 1) {
          const mid = (lo + hi) >> 1;
          const x = at(mid);
          if (ok(x)) {
            hi = mid;
            top = x;
          } else lo = mid;
        }
    } catch {
      return unestimated();
    }
    const gpus = hi * unitGpus;
    const tokensPerS =
      r.users !== undefined ? (r.users * r.osl) / (top.e.ttftS + (r.osl - 1) * top.e.tpotS) : r.rate! * r.osl;
    estimates.push({
      index,
      family,
      disagg: split !== null,
      replicas: hi,
      meets: ok(top),
      miss: top.ratio,
      usdPerMillion: dev.price
        ? usdPerMillionOutputTokens(dev.price.usd_per_gpu_hour * gpus, tokensPerS)
        : null,
      perGpu: tokensPerS / gpus,
      perUser: top.e.tpotS > 0 ? 1 / top.e.tpotS : 0,
    });
  });
  r.onProgress?.(mine.length, mine.length);
  return {
    estimates,
    families: [...P.families.values()],
    configurations: mine.length,
    prefiltered,
    anyFit,
  };
}

/**
 * Which estimated configurations to simulate (the same choice whatever the sharding): those the estimate puts
 * within the limits (with its slack) and within COST_SLACK of the cheapest such estimate (of the best tokens/s per
 * GPU when unpriced); each family's best (or, when none of it meets, its nearest miss, so every family is judged
 * by the simulation); and the estimate's Pareto front of cost vs tokens/s per user.
 */
export function selectForSimulation(r: PlanRequest, parts: readonly EstimatePart[]): JobEstimate[] {
  const all = parts.flatMap((p) => p.estimates).sort((a, b) => a.index - b.index);
  if (r.exhaustive) return all;
  const meets = all.filter((e) => e.meets);
  let cheapest = Infinity;
  let bestPerGpu = 0;
  for (const e of meets) {
    if (e.usdPerMillion !== null) cheapest = Math.min(cheapest, e.usdPerMillion);
    bestPerGpu = Math.max(bestPerGpu, e.perGpu);
  }
  const keep = new Set<number>(all.filter((e) => e.unestimated).map((e) => e.index));
  for (const e of meets)
    if (
      e.usdPerMillion !== null
        ? e.usdPerMillion <= COST_SLACK * cheapest
        : e.perGpu * COST_SLACK >= bestPerGpu
    )
      keep.add(e.index);
  // Each family's best estimates (lowest cost, else most tokens/s per GPU), or its nearest misses, and its
  // estimate with the most headroom under the limits (if any configuration of the family meets them in the
  // simulation, that one is the likeliest), aggregated and disaggregated apart: the estimate and the simulation
  // can disagree, so a family is not judged by one configuration.
  const better = (a: JobEstimate, b: JobEstimate) => {
    if (a.meets !== b.meets) return a.meets;
    if (!a.meets) return a.miss < b.miss;
    if (a.usdPerMillion !== null && b.usdPerMillion !== null && a.usdPerMillion !== b.usdPerMillion)
      return a.usdPerMillion < b.usdPerMillion;
    return a.perGpu > b.perGpu;
  };
  const groups = new Map<string, JobEstimate[]>();
  for (const e of all) {
    const key = `${e.family}|${e.disagg}`;
    const g = groups.get(key) ?? [];
    g.push(e);
    groups.set(key, g);
  }
  for (const g of groups.values()) {
    g.sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : a.index - b.index))
      .slice(0, FAMILY_PICKS)
      .forEach((e) => keep.add(e.index));
    keep.add(g.reduce((a, b) => (b.miss < a.miss ? b : a)).index);
  }
  // The estimate's Pareto front: no other is both cheaper (or as cheap) and faster per user.
  const priced = meets.filter((e) => e.usdPerMillion !== null);
  for (const e of priced)
    if (
      !priced.some(
        (o) =>
          o !== e &&
          o.usdPerMillion! <= e.usdPerMillion! &&
          o.perUser >= e.perUser &&
          (o.usdPerMillion! < e.usdPerMillion! || o.perUser > e.perUser),
      )
    )
      keep.add(e.index);
  return all.filter((e) => keep.has(e.index));
}

/**
 * Phase 2: simulate the chosen configurations of shard `index` of `count` (every count-th of `chosen`), each from
 * its estimated replica count: the fewest replicas whose simulation meets the limits, its figures and cost.
 */
export function simulatePlans(
  r: PlanRequest,
  chosen: readonly JobEstimate[],
  shard = { index: 0, count: 1 },
): PlanPart {
  const P = prepare(r);
  P.families.clear();
  const { pct, limit, waves } = P;
  const within = (value: number, lim: number) => meetsLimit(value, lim, P.margin);
  const candidates: Candidate[] = [];
  let simulations = 0;
  const mine = chosen.filter((_, i) => i % shard.count === shard.index);
  mine.forEach((pick, i) => {
    r.onProgress?.(i, mine.length);
    const job = P.jobs[pick.index]!;
    const { dev, layout, precision, label, kv, engine, split } = job;
    // Replicas: the fewest that meet the limits (more replicas, fewer users or requests per rank).
    const dp = layout.plan.attentionDp;
    // A replica: one engine of the layout (its attention-DP ranks simulated as one), or a disaggregated unit of
    // prefill and decode workers (simulated whole).
    const unitGpus = split ? (split[0] + split[1]) * layout.gpus : layout.gpus;
    const ranksPerUnit = split ? 1 : dp;
    const decodeRanks = split ? split[1] : 1;
    const maxReplicas = Math.floor(r.maxGpus / unitGpus);
    const sims = new Map<number, Sim | null>();
    const simulateAt = (replicas: number): Sim | null => {
      const ranks = replicas * ranksPerUnit;
      const key = r.users !== undefined ? Math.max(1, Math.ceil(r.users / ranks)) : replicas;
      if (sims.has(key)) return sims.get(key)!;
      simulations++;
      // Mean field past 256 users per rank: ~128 simulated users, each standing for `scale` identical ones.
      const scale =
        r.users !== undefined && key / decodeRanks > 256 ? Math.floor(key / decodeRanks / 128) : 1;
      const simUsers = Math.round(key / scale);
      const perRank =
        r.users !== undefined
          ? {
              kind: 'closed' as const,
              users: simUsers,
              numRequests: simUsers * waves,
              input: { kind: 'fixed' as const, value: r.isl },
              output: { kind: 'fixed' as const, value: r.osl },
              seed: 1,
            }
          : {
              kind: 'rate' as const,
              rate: r.rate! / ranks,
              arrivals: 'poisson' as const,
              numRequests: 400,
              input: { kind: 'fixed' as const, value: r.isl },
              output: { kind: 'fixed' as const, value: r.osl },
              seed: 1,
            };
      const input: ServingInput = {
        spec: r.spec,
        hw: dev.hw,
        precision,
        kvPrecision: kv,
        engine,
        links: dev.links,
        ...(split
          ? {
              disagg: {
                prefill: { plan: layout.plan, workers: split[0] },
                decode: { plan: layout.plan, workers: split[1] },
              },
            }
          : { agg: { plan: layout.plan, workers: 1, simulatedRanks: 1 } }),
        workload: perRank,
        warmup: r.users !== undefined ? simUsers : 50,
        batchScale: scale > 1 ? scale : undefined,
        efficiency: r.efficiency,
        efficiencyFor: r.efficiencyFor,
        ideal: false,
        itl: false,
      };
      let out: Sim | null;
      try {
        const res = simulateServing(input);
        out = { m: res.estimate, share: r.users !== undefined ? r.users / (simUsers * scale) : ranks };
      } catch (e) {
        note(
          P.families,
          dev.id,
          engine,
          label,
          e instanceof NoKvError ? 'does-not-fit' : 'error',
          e instanceof Error ? e.message.split('\n')[0]! : String(e),
        );
        out = null;
      }
      sims.set(key, out);
      return out;
    };
    const meets = (s: Sim | null) =>
      !!s &&
      within(at(s.m.ttft_s, pct), limit.ttftS) &&
      within(at(s.m.tpot_s, pct), limit.tpotS) &&
      within(at(s.m.e2e_s, pct), limit.e2eS);

    // Start at the steady-state estimate's replicas (often the answer: two simulations), then double up or
    // bisect down.
    let lo = 0; // most replicas known to miss
    let hi = 0; // fewest known to meet
    const hint = Math.max(1, Math.min(pick.replicas, maxReplicas));
    if (meets(simulateAt(hint))) {
      hi = hint;
      if (hint > 1) {
        if (meets(simulateAt(hint - 1))) hi = hint - 1;
        else lo = hint - 1;
      }
    } else {
      lo = hint;
      for (let n = Math.min(hint * 2, maxReplicas); lo < maxReplicas; n = Math.min(n * 2, maxReplicas)) {
        if (meets(simulateAt(n))) {
          hi = n;
          break;
        }
        lo = n;
      }
    }
    if (!hi) {
      const s = sims.get(
        r.users !== undefined ? Math.max(1, Math.ceil(r.users / (maxReplicas * ranksPerUnit))) : maxReplicas,
      );
      if (s)
        note(
          P.families,
          dev.id,
          engine,
          label,
          'limits',
          `misses the limits with ${maxReplicas} replica(s) of ${split ? `${split[0]}P+${split[1]}D ` : ''}${layout.name} (the most in ${r.maxGpus} GPUs): ` +
            `TTFT p${pct} ${(at(s.m.ttft_s, pct) * 1e3).toFixed(0)} ms, TPOT p${pct} ${(at(s.m.tpot_s, pct) * 1e3).toFixed(1)} ms`,
          Math.max(
            at(s.m.ttft_s, pct) / limit.ttftS,
            at(s.m.tpot_s, pct) / limit.tpotS,
            at(s.m.e2e_s, pct) / limit.e2eS,
          ),
        );
      return;
    }
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (meets(simulateAt(mid))) hi = mid;
      else lo = mid;
    }
    const s = simulateAt(hi)!;
    const gpus = hi * unitGpus;
    const tokensPerS = s.m.output_tokens_per_s * s.share;
    const usdPerHour = dev.price ? dev.price.usd_per_gpu_hour * gpus : null;
    const tpot = at(s.m.tpot_s, pct);
    candidates.push({
      gpu: dev.id,
      gpus,
      gpus_per_replica: unitGpus,
      layout: split ? `${split[0]}P+${split[1]}D ${layout.name}` : layout.name,
      mode: split ? 'disagg' : 'agg',
      prefill_workers: split ? split[0] : null,
      decode_workers: split ? split[1] : null,
      tp: layout.plan.tp,
      pp: layout.plan.pp,
      ep: layout.plan.moeEp,
      attention_dp: dp,
      replicas: hi,
      engine,
      precision: label,
      kv_precision: kv,
      ttft_ms: at(s.m.ttft_s, pct) * 1e3,
      tpot_ms: tpot * 1e3,
      e2e_ms: at(s.m.e2e_s, pct) * 1e3,
      output_tokens_per_s: tokensPerS,
      output_tokens_per_s_per_gpu: tokensPerS / gpus,
      output_tokens_per_s_per_user: tpot > 0 ? 1 / tpot : NaN,
      usd_per_hour: usdPerHour,
      usd_per_million_output_tokens:
        usdPerHour === null ? null : usdPerMillionOutputTokens(usdPerHour, tokensPerS),
      price_source: dev.price,
    });
    const fkey = familyKey(dev.id, engine, label);
    const fam = P.families.get(fkey);
    if (fam) fam.met = true;
    else
      P.families.set(fkey, { gpu: dev.id, engine, precision: label, stage: 'limits', reason: '', met: true });
  });
  r.onProgress?.(mine.length, mine.length);
  return { candidates, families: [...P.families.values()], configurations: mine.length, simulations };
}

/** The shards' findings as one answer: ranked candidates, Pareto front, rejected families, nearest options. */
export function mergePlans(
  r: PlanRequest,
  estimated: readonly EstimatePart[],
  simulated: readonly PlanPart[],
): PlanResult {
  const candidates = simulated.flatMap((p) => p.candidates).sort(rank);
  const families = new Map<string, FamilyState>();
  for (const f of [...estimated, ...simulated].flatMap((p) => p.families)) {
    const key = `${f.gpu}|${f.engine}|${f.precision}`;
    const g = families.get(key);
    if (!g) families.set(key, { ...f });
    else {
      g.met ||= f.met;
      const further = STAGE_ORDER.indexOf(f.stage) - STAGE_ORDER.indexOf(g.stage);
      if (further > 0 || (further === 0 && nearer(f.miss, f.reason, g)))
        Object.assign(g, { stage: f.stage, reason: f.reason, miss: f.miss });
    }
  }
  const order = (f: Rejection) =>
    [r.devices.findIndex((d) => d.id === f.gpu), r.engines.indexOf(f.engine)] as const;
  const rejected = [...families.values()]
    .filter((f) => !f.met)
    .sort((a, b) => {
      const [da, ea] = order(a);
      const [db, eb] = order(b);
      return da - db || ea - eb || (a.precision < b.precision ? -1 : a.precision > b.precision ? 1 : 0);
    })
    .map(({ met: _met, miss: _miss, ...f }) => f);
  const anyFit = estimated.some((p) => p.anyFit);
  const sum = <T>(parts: readonly T[], f: (p: T) => number) => parts.reduce((a, p) => a + f(p), 0);
  return {
    recommended: candidates[0] ?? null,
    candidates,
    pareto: paretoFront(candidates),
    rejected,
    nearest: candidates.length ? [] : nearestOptions(r, anyFit),
    searched: {
      configurations: sum(estimated, (p) => p.configurations),
      prefiltered: sum(estimated, (p) => p.prefiltered),
      estimated: sum(estimated, (p) => p.estimates.length),
      simulated: sum(simulated, (p) => p.configurations),
      simulations: sum(simulated, (p) => p.simulations),
    },
  };
}

/** Priced before unpriced; then $/M output tokens; then tokens/s per GPU; then fewer GPUs. */
function rank(a: Candidate, b: Candidate): number {
  const ca = a.usd_per_million_output_tokens;
  const cb = b.usd_per_million_output_tokens;
  if ((ca === null) !== (cb === null)) return ca === null ? 1 : -1;
  if (ca !== null && cb !== null && ca !== cb) return ca - cb;
  if (a.output_tokens_per_s_per_gpu !== b.output_tokens_per_s_per_gpu)
    return b.output_tokens_per_s_per_gpu - a.output_tokens_per_s_per_gpu;
  if (a.gpus !== b.gpus) return a.gpus - b.gpus;
  // A fixed order for ties, whatever order the shards finished in.
  const key = (c: Candidate) => `${c.gpu}|${c.layout}|${c.engine}|${c.precision}|${c.kv_precision}`;
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}
