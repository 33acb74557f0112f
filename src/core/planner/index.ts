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
import { idealBounds, memoryFit, type IdealBounds, type MemoryFit } from './bounds.js';
import { usdPerMillionOutputTokens, type PriceChoice } from './cost.js';
import { paretoFront } from './pareto.js';
import { nearestOptions } from './nearest.js';
import { defaultPrecisions, precisionLabel, supported } from './precisions.js';
import { checkMargin, meetsLimit } from './limits.js';
import { layouts, type Layout } from './space.js';

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
  searched: { configurations: number; prefiltered: number; simulations: number };
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

/** What one shard of the search found (structured-clonable, for worker threads). */
export interface PlanPart {
  candidates: Candidate[];
  families: FamilyState[];
  configurations: number;
  prefiltered: number;
  simulations: number;
  anyFit: boolean;
}

/** Whether a miss (limit ratio) is nearer than a family's recorded one; ties go to the smaller reason text. */
function nearer(miss: number | undefined, reason: string, f: FamilyState): boolean {
  const a = miss ?? Infinity;
  const b = f.miss ?? Infinity;
  return a < b || (a === b && reason < f.reason);
}

/** The whole search in one thread. */
export function planServing(r: PlanRequest): PlanResult {
  return mergePlans(r, [searchPlans(r)]);
}

/**
 * The configurations of shard `index` of `count` (every count-th, so shards get a mix of devices and sizes):
 * pre-filter, simulate, keep those that meet the limits.
 */
export function searchPlans(r: PlanRequest, shard = { index: 0, count: 1 }): PlanPart {
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
  const pct: Percentile = r.limits.percentile ?? 50;
  const limit = {
    ttftS: r.limits.ttftMs !== undefined ? r.limits.ttftMs / 1e3 : Infinity,
    tpotS: r.limits.tpotMs !== undefined ? r.limits.tpotMs / 1e3 : Infinity,
    e2eS: r.limits.e2eMs !== undefined ? r.limits.e2eMs / 1e3 : Infinity,
  };
  const margin = r.limits.margin ?? 0;
  const marginError = checkMargin(margin);
  if (marginError) throw new PlanInputError(marginError);
  const within = (value: number, lim: number) => meetsLimit(value, lim, margin);
  const tokens = r.isl + r.osl;
  const precisions = r.precisions?.length ? r.precisions : defaultPrecisions(r.spec);
  for (const p of precisions)
    try {
      weightLayout(r.spec, p);
    } catch (e) {
      throw new PlanInputError(`precision: ${e instanceof Error ? e.message : String(e)}`);
    }
  for (const k of r.kvPrecisions ?? [])
    if (kvElementBytes(k) === null) throw new PlanInputError(`kv precision: unknown KV-cache dtype '${k}'`);
  const waves = r.waves ?? 3;

  // Families and the furthest stage each reached.
  const families = new Map<string, FamilyState>();
  const note = (
    gpu: string,
    engine: EngineId,
    precision: string,
    stage: RejectStage,
    reason: string,
    miss?: number,
  ) => {
    const key = `${gpu}|${engine}|${precision}`;
    const f = families.get(key);
    if (!f) families.set(key, { gpu, engine, precision, stage, reason, met: false, miss });
    else if (
      STAGE_ORDER.indexOf(stage) > STAGE_ORDER.indexOf(f.stage) ||
      (stage === f.stage && nearer(miss, reason, f))
    )
      Object.assign(f, { stage, reason, miss });
  };

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
  const jobs: Job[] = [];
  for (const dev of r.devices) {
    const ls = layouts(r.spec, r.maxGpus, dev.perNode ?? 8);
    for (const precision of precisions) {
      const label = precisionLabel(r.spec, precision);
      const why = supported(dev.hw, precision, label);
      if (why) {
        for (const e of r.engines) note(dev.id, e, label, 'unsupported', why);
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
          note(dev.id, e, label, 'does-not-fit', `no layout of up to ${r.maxGpus} GPUs`);
    }
  }

  const idealCache = new Map<string, IdealBounds>();
  const hints = new Map<string, number>();
  const candidates: Candidate[] = [];
  let prefiltered = 0;
  let simulations = 0;
  const fits: { job: Job; mem: MemoryFit }[] = [];

  const mine = jobs.filter((_, i) => i % shard.count === shard.index);
  mine.forEach((job, i) => {
    r.onProgress?.(i, mine.length);
    const { dev, layout, precision, label, kv, engine, split } = job;
    const mem = memoryFit(r.spec, dev.hw, { engine, plan: layout.plan, precision, kvPrecision: kv, tokens });
    if (!mem.fits) {
      prefiltered++;
      note(
        dev.id,
        engine,
        label,
        'does-not-fit',
        `does not fit in ${r.maxGpus} GPUs: ${mem.reason ?? ''}`.trim(),
      );
      return;
    }
    fits.push({ job, mem });
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
    if (!within(ideal.ttftS, limit.ttftS) || !within(ideal.ttftS + (r.osl - 1) * ideal.tpotS, limit.e2eS)) {
      prefiltered++;
      note(
        dev.id,
        engine,
        label,
        'ideal-ttft',
        `TTFT or E2E over the limit even at datasheet speed (ideal TTFT ${(ideal.ttftS * 1e3).toFixed(1)} ms with ${layout.name})`,
        Math.max(ideal.ttftS / limit.ttftS, (ideal.ttftS + (r.osl - 1) * ideal.tpotS) / limit.e2eS),
      );
      return;
    }
    if (!within(ideal.tpotS, limit.tpotS)) {
      prefiltered++;
      note(
        dev.id,
        engine,
        label,
        'ideal-tpot',
        `TPOT over the limit even at datasheet speed (ideal ${(ideal.tpotS * 1e3).toFixed(2)} ms with ${layout.name})`,
        ideal.tpotS / limit.tpotS,
      );
      return;
    }

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

    // Start where the same device and layout ended for the previous precision or engine (often the answer:
    // two simulations), then double up or bisect down.
    let lo = 0; // most replicas known to miss
    let hi = 0; // fewest known to meet
    const hkey = `${dev.id}|${layout.name}|${split ?? ''}`;
    const hint = Math.max(1, Math.min(hints.get(hkey) ?? 1, maxReplicas));
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
    hints.set(hkey, hi);
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
    const fkey = `${dev.id}|${engine}|${label}`;
    const fam = families.get(fkey);
    if (fam) fam.met = true;
    else
      families.set(fkey, { gpu: dev.id, engine, precision: label, stage: 'limits', reason: '', met: true });
  });
  r.onProgress?.(mine.length, mine.length);
  return {
    candidates,
    families: [...families.values()],
    configurations: mine.length,
    prefiltered,
    simulations,
    anyFit: fits.length > 0,
  };
}

/** The shards' findings as one answer: ranked candidates, Pareto front, rejected families, nearest options. */
export function mergePlans(r: PlanRequest, parts: readonly PlanPart[]): PlanResult {
  const candidates = parts.flatMap((p) => p.candidates).sort(rank);
  const families = new Map<string, FamilyState>();
  for (const f of parts.flatMap((p) => p.families)) {
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
  const anyFit = parts.some((p) => p.anyFit);
  const sum = (k: 'configurations' | 'prefiltered' | 'simulations') => parts.reduce((a, p) => a + p[k], 0);
  return {
    recommended: candidates[0] ?? null,
    candidates,
    pareto: paretoFront(candidates),
    rejected,
    nearest: candidates.length ? [] : nearestOptions(r, anyFit),
    searched: {
      configurations: sum('configurations'),
      prefiltered: sum('prefiltered'),
      simulations: sum('simulations'),
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
