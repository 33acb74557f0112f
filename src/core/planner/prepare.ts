/**
 * The planner's search space: a request checked and its configurations listed (the same list, in the same order,
 * in every thread), and each device · engine · precision family's furthest stage.
 */
import { modelDtype } from '../memory/inference.js';
import { weightLayout } from '../memory/weights.js';
import { kvElementBytes } from '../numerics/formats.js';
import type { EngineId } from '../serving/index.js';
import { checkMargin } from './limits.js';
import { defaultPrecisions, precisionLabel, supported } from './precisions.js';
import { layouts, type Layout } from './space.js';
import {
  PlanInputError,
  type FamilyState,
  type Percentile,
  type PlanDevice,
  type PlanRequest,
  type RejectStage,
} from './types.js';

/** Prefill : decode workers per disaggregated replica. */
export const SPLITS: readonly (readonly [number, number])[] = [
  [1, 1],
  [1, 2],
  [1, 3],
  [2, 1],
];

export const STAGE_ORDER: RejectStage[] = [
  'error',
  'unsupported',
  'does-not-fit',
  'ideal-ttft',
  'ideal-tpot',
  'limits',
];

/** Whether a miss (limit ratio) is nearer than a family's recorded one; ties go to the smaller reason text. */
export function nearer(miss: number | undefined, reason: string, f: FamilyState): boolean {
  const a = miss ?? Infinity;
  const b = f.miss ?? Infinity;
  return a < b || (a === b && reason < f.reason);
}

export type Job = {
  dev: PlanDevice;
  layout: Layout;
  precision: string;
  label: string;
  kv: string;
  engine: EngineId;
  /** Disaggregated: [prefill workers, decode workers] per replica. */
  split: readonly [number, number] | null;
};

export interface Prepared {
  jobs: Job[];
  families: Map<string, FamilyState>;
  pct: Percentile;
  limit: { ttftS: number; tpotS: number; e2eS: number };
  margin: number;
  tokens: number;
  waves: number;
}

export const familyKey = (gpu: string, engine: string, label: string) => `${gpu}|${engine}|${label}`;

/** Record a family's furthest stage (and, at one stage, its nearest miss). */
export function note(
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
export function prepare(r: PlanRequest): Prepared {
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
export const unitGpusOf = (job: Job) =>
  job.split ? (job.split[0] + job.split[1]) * job.layout.gpus : job.layout.gpus;
