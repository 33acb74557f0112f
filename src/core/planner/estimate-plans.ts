/**
 * Phase 1 of the planner: the memory and ideal-latency pre-filter, then the steady-state estimate (estimate.ts) of
 * every configuration at the fewest replicas that meet the limits.
 */
import { idealBounds, memoryFit, type IdealBounds } from './bounds.js';
import { usdPerMillionOutputTokens } from './cost.js';
import { openLoopEstimate, steadyEstimator, type Estimator } from './estimate.js';
import { meetsLimit } from './limits.js';
import { familyKey, note, prepare, unitGpusOf } from './prepare.js';
import type { EstimatePart, JobEstimate, PlanRequest } from './types.js';

/**
 * The steady-state estimate's slack: a configuration it puts up to this fraction over a limit is still simulated
 * (the estimate and the simulation differ, most in TTFT), and one within COST_SLACK of the cheapest estimate.
 */
export const ESTIMATE_SLACK = 0.25;

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
