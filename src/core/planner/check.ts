/**
 * The planner's check on measured deployments: within each slice (model, system, engine, ISL, OSL) of measured
 * configurations, with a TPOT limit equal to the slice's median measured TPOT, the configuration the planner ranks
 * best by its own predictions is compared, as measured, with the measured best. Pure: records in, figure out.
 */
import { mulberry32, normal } from '../serving/rng.js';
import { MARGIN_SHARE, meetsLimit } from './limits.js';

export interface MeasuredConfig {
  id: string;
  /** Slice key: model | system | engine | isl | osl. */
  slice: string;
  users: number;
  osl: number;
  gpus: number;
  measured: { ttft_ms: number; tpot_ms: number };
  /** null when the configuration could not be simulated. */
  predicted: { ttft_ms: number; tpot_ms: number } | null;
}

/**
 * Output tokens/s per GPU of a closed loop of N users: N · OSL / (TTFT + (OSL − 1) · TPOT) / GPUs
 * (each user's request takes TTFT + (OSL − 1) · TPOT; the serving README's derived figure).
 */
export function closedLoopTokensPerGpu(
  users: number,
  osl: number,
  ttftMs: number,
  tpotMs: number,
  gpus: number,
): number {
  const requestS = (ttftMs + (osl - 1) * tpotMs) / 1e3;
  return (users * osl) / requestS / gpus;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface SliceVerdict {
  slice: string;
  configs: number;
  tpot_limit_ms: number;
  /** The planner's pick (null: it predicted no configuration meets the limit). */
  chosen: string | null;
  chosen_measured_tokens_per_s_per_gpu: number | null;
  chosen_measured_tpot_ms: number | null;
  best: string;
  best_measured_tokens_per_s_per_gpu: number;
  /** chosen / best measured tokens/s per GPU. */
  ratio: number | null;
  /** chosen's measured TPOT / limit − 1 (positive: it misses the limit by that fraction). */
  limit_miss: number | null;
  ok: boolean;
}

export interface CheckFigure {
  slices: number;
  /** The margin the planner's pick used (limits.ts). */
  margin: number;
  ok: number;
  fraction_ok: number;
  /** Slices where the planner's pick misses the limit by more than the tolerance, as measured. */
  over_limit: number;
  /** Slices where no configuration was predicted to meet the limit. */
  no_pick: number;
  verdicts: SliceVerdict[];
}

/**
 * The figure. A slice passes when the planner's pick, measured, reaches ≥ (1 − tolerance) of the measured best
 * tokens/s per GPU among configurations that meet the limit, and its measured TPOT is ≤ (1 + tolerance) · limit.
 * The planner picks as it plans: among configurations whose predicted TPOT meets the limit with its margin
 * (limits.ts; default MARGIN_SHARE of the tolerance), the most predicted tokens/s per GPU.
 */
export function planCheck(
  configs: readonly MeasuredConfig[],
  o: { minConfigs?: number; tolerance?: number; margin?: number } = {},
): CheckFigure {
  const minConfigs = o.minConfigs ?? 4;
  const tol = o.tolerance ?? 0.1;
  const margin = o.margin ?? MARGIN_SHARE * tol;
  const bySlice = new Map<string, MeasuredConfig[]>();
  for (const c of configs) {
    const list = bySlice.get(c.slice) ?? [];
    list.push(c);
    bySlice.set(c.slice, list);
  }
  const verdicts: SliceVerdict[] = [];
  for (const [slice, list] of bySlice) {
    if (list.length < minConfigs) continue;
    const limit = median(list.map((c) => c.measured.tpot_ms));
    const measuredTps = (c: MeasuredConfig) =>
      closedLoopTokensPerGpu(c.users, c.osl, c.measured.ttft_ms, c.measured.tpot_ms, c.gpus);
    let best: MeasuredConfig | null = null;
    for (const c of list)
      if (c.measured.tpot_ms <= limit && (!best || measuredTps(c) > measuredTps(best))) best = c;
    // The planner's rank: predicted tokens/s per GPU among those predicted to meet the limit.
    let chosen: MeasuredConfig | null = null;
    let chosenTps = -Infinity;
    for (const c of list) {
      const p = c.predicted;
      if (!p || !meetsLimit(p.tpot_ms, limit, margin)) continue;
      const t = closedLoopTokensPerGpu(c.users, c.osl, p.ttft_ms, p.tpot_ms, c.gpus);
      if (t > chosenTps) {
        chosen = c;
        chosenTps = t;
      }
    }
    const bestTps = measuredTps(best!);
    const ratio = chosen ? measuredTps(chosen) / bestTps : null;
    const miss = chosen ? chosen.measured.tpot_ms / limit - 1 : null;
    verdicts.push({
      slice,
      configs: list.length,
      tpot_limit_ms: limit,
      chosen: chosen?.id ?? null,
      chosen_measured_tokens_per_s_per_gpu: chosen ? measuredTps(chosen) : null,
      chosen_measured_tpot_ms: chosen?.measured.tpot_ms ?? null,
      best: best!.id,
      best_measured_tokens_per_s_per_gpu: bestTps,
      ratio,
      limit_miss: miss,
      ok: ratio !== null && miss !== null && ratio >= 1 - tol && miss <= tol,
    });
  }
  const ok = verdicts.filter((v) => v.ok).length;
  return {
    slices: verdicts.length,
    margin,
    ok,
    fraction_ok: verdicts.length ? ok / verdicts.length : NaN,
    over_limit: verdicts.filter((v) => v.limit_miss !== null && v.limit_miss > tol).length,
    no_pick: verdicts.filter((v) => v.chosen === null).length,
    verdicts,
  };
}

/**
 * The figure a predictor with independent log-normal errors of `sigma` would get: each configuration's prediction
 * is its measurement times exp(sigma · z), z standard normal, over `seeds` seeded draws; the mean share of slices
 * that pass. It tells how accurate TPOT and TTFT predictions must be for the goal, and what the margin buys.
 */
export function syntheticFraction(
  configs: readonly MeasuredConfig[],
  sigma: number,
  o: { seeds?: number; minConfigs?: number; tolerance?: number; margin?: number } = {},
): number {
  const seeds = o.seeds ?? 8;
  let sum = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const rng = mulberry32(seed);
    const noisy = configs.map((c) => ({
      ...c,
      predicted: {
        ttft_ms: c.measured.ttft_ms * Math.exp(sigma * normal(rng)),
        tpot_ms: c.measured.tpot_ms * Math.exp(sigma * normal(rng)),
      },
    }));
    sum += planCheck(noisy, o).fraction_ok;
  }
  return sum / seeds;
}
