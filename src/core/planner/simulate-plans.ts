/** Phase 2 of the planner: the serving simulation of the configurations the estimate chose, and their cost. */
import { NoKvError, simulateServing, type ServingInput } from '../serving/index.js';
import type { ServingMetrics } from '../serving/metrics.js';
import { usdPerMillionOutputTokens } from './cost.js';
import { meetsLimit } from './limits.js';
import { familyKey, note, prepare } from './prepare.js';
import type { Candidate, JobEstimate, Percentile, PlanPart, PlanRequest } from './types.js';

function at(d: { p50: number; p90: number; p99: number }, p: Percentile): number {
  return p === 99 ? d.p99 : p === 90 ? d.p90 : d.p50;
}

interface Sim {
  m: ServingMetrics;
  /** Ranks (attention-DP ranks × replicas) the simulated rank stands for. */
  share: number;
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
