import type { EstimatePart, JobEstimate, PlanRequest } from './types.js';

/** Configurations within this factor of the cheapest estimate (or of the best tokens/s per GPU) are simulated. */
export const COST_SLACK = 1.5;
/** Configurations simulated per family (device · engine · precision) and mode, at least. */
export const FAMILY_PICKS = 2;

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
