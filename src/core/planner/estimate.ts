/**
 * The planner's calibrated pre-ranking: the analytical closed-loop steady state (core/perf/steady.ts) of one
 * configuration, timed by the step-time model the simulator uses (core/serving StepTimer, the same calibrated
 * efficiencies). It costs a few step evaluations where a simulation costs thousands, so the planner estimates
 * every configuration and simulates only those that could rank near the top (index.ts). It is an estimate, not a
 * bound: the selection keeps a slack on the limits and on the cost for that reason.
 */
import type { ModelSpec } from '../arch/spec.js';
import type { HardwareSpec } from '../hardware/spec.js';
import { kvElementBytes } from '../numerics/formats.js';
import type { Efficiency } from '../perf/efficiency.js';
import { steadyAgg, steadyDisagg, type StepFn } from '../perf/steady.js';
import type { Links } from '../perf/step.js';
import { engineDefaults } from '../serving/engines.js';
import { kvTransferS, type EngineId } from '../serving/index.js';
import { estimateEfficiency, StepTimer, type ServingPlan } from '../serving/step-time.js';

export interface EstimateInput {
  spec: ModelSpec;
  hw: HardwareSpec;
  links?: Links;
  precision: string;
  kvPrecision: string;
  engine: EngineId;
  plan: ServingPlan;
  /** Disaggregated: prefill and decode workers of the plan per replica. */
  split: readonly [number, number] | null;
  /** KV tokens per attention-DP rank (the engine's capacity, bounds.ts memoryFit). */
  kvTokensPerRank: number;
  isl: number;
  osl: number;
  efficiency?: Efficiency;
  efficiencyFor?: (hwClass: string) => Efficiency;
}

export interface SteadyEstimate {
  ttftS: number;
  tpotS: number;
  /** Output tokens/s of all `users` together: users · OSL / (TTFT + (OSL − 1) · TPOT). */
  tokensPerS: number;
}

/**
 * A rank's step time for `decode` sequences at the mean context ISL + OSL/2 and `prompt` prompt tokens (whole
 * prompts of ISL tokens). A prompt longer than the engine's step budget is prefilled over n chunked steps: its cost
 * is n steps of ISL/n prompt tokens each, as the analytical fit reads it (validation/analytic.ts).
 */
function rankStep(t: StepTimer, isl: number, osl: number, dp: number, chunk: number, alone = false): StepFn {
  const ctx = isl + Math.floor(osl / 2);
  const n = Math.max(1, Math.ceil(isl / chunk));
  const cache = new Map<number, number>();
  return (decode, prompt) => {
    const prompts = prompt > 0 ? Math.max(1, Math.round(prompt / isl)) : 0;
    const key = decode * 1e4 + prompts;
    let s = cache.get(key);
    if (s === undefined) {
      const tokens = Math.ceil(isl / n);
      const prefill = Array.from({ length: prompts }, () => ({ tokens, context: 0 }));
      // Attention-DP ranks run in lock-step: the experts see every rank's tokens (alone: the others idle).
      const all = (decode + prompts * tokens) * (alone ? 1 : dp);
      s = t.exact({ prefill, decodes: decode, decodeContext: decode * ctx }, all) * (prompts > 0 ? n : 1);
      cache.set(key, s);
    }
    return s;
  };
}

/**
 * A steady-state estimator for one configuration at any number of users per replica (step times cached). With
 * `poisson`, the users are the requests in flight of an open loop: no waves, prompts queue as M/D/1.
 */
export type Estimator = (usersPerReplica: number, o?: { poisson?: boolean }) => SteadyEstimate;

export function steadyEstimator(i: EstimateInput): Estimator {
  const kvBytes = kvElementBytes(i.kvPrecision) ?? 2;
  const opts = {
    spec: i.spec,
    hw: i.hw,
    precision: i.precision,
    kvBytes,
    plan: i.plan,
    links: i.links,
    efficiency: i.efficiency,
    efficiencyFor: i.efficiencyFor,
    engine: i.engine,
  };
  const eff = estimateEfficiency(opts);
  const timer = new StepTimer(opts, eff);
  const dp = i.plan.attentionDp;
  const chunk = engineDefaults(i.engine, i.hw.memoryBytes).maxStepTokens;
  const step = rankStep(timer, i.isl, i.osl, dp, chunk);
  const seqs = Math.max(1, i.kvTokensPerRank / (i.isl + i.osl));
  const cycle = (e: { ttft_s: number; tpot_s: number }) => e.ttft_s + Math.max(0, i.osl - 1) * e.tpot_s;
  if (!i.split)
    return (users, o) => {
      const b = Math.max(1, Math.ceil(users / dp));
      const e = steadyAgg({
        batch: b,
        kvCapacity: seqs,
        requestS: eff.requestS,
        burst: o?.poisson ? 0 : eff.burst,
        burstHalf: eff.burstHalf,
        isl: i.isl,
        osl: i.osl,
        step,
        chunk,
      });
      return { ttftS: e.ttft_s, tpotS: e.tpot_s, tokensPerS: (users * i.osl) / cycle(e) };
    };
  const [p, d] = i.split;
  const alone = rankStep(timer, i.isl, i.osl, dp, chunk, true);
  // Prefill and decode workers of one layout: each GPU sends its shard (serving/index.ts's transfer).
  const move = kvTransferS(
    i.spec,
    kvBytes,
    i.plan.tp * i.plan.pp * i.plan.attentionDp,
    i.links?.inter,
  )(i.isl);
  return (users, o) => {
    const e = steadyDisagg({
      users,
      decodeBatch: Math.max(1, Math.ceil(users / d)),
      kvCapacity: seqs,
      requestS: eff.requestS,
      burst: o?.poisson ? 0 : eff.burst,
      prefillRanks: p,
      isl: i.isl,
      osl: i.osl,
      prefillStep: step,
      prefillStepAlone: alone,
      decodeStep: step,
      transferS: move,
      chunk,
    });
    return { ttftS: e.ttft_s, tpotS: e.tpot_s, tokensPerS: (users * i.osl) / cycle(e) };
  };
}

/**
 * An open loop of `rate` requests/s on one replica, by Little's law: the requests in flight N = rate · (TTFT +
 * (OSL − 1) · TPOT) at the latencies N requests see; iterated to its fixed point. null when there is none: the
 * replica cannot keep up (more requests in flight than its KV cache holds, or than `most`).
 */
export function openLoopEstimate(
  est: Estimator,
  rate: number,
  osl: number,
  most: number,
): SteadyEstimate | null {
  const cycle = (e: SteadyEstimate) => e.ttftS + Math.max(0, osl - 1) * e.tpotS;
  let n = Math.max(1, rate * cycle(est(1, { poisson: true })));
  for (let it = 0; it < 60; it++) {
    const e = est(Math.ceil(n), { poisson: true });
    const next = rate * cycle(e);
    if (!Number.isFinite(next) || next > most) return null;
    if (Math.abs(next - n) <= 1e-3 * n) return { ...e, tokensPerS: rate * osl };
    n = 0.5 * (n + next);
  }
  return null;
}
