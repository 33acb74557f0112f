/**
 * The deployment planner: for a workload (N users in a closed loop, or a request rate; ISL/OSL) and latency
 * limits (TTFT, TPOT, E2E at a percentile), search device × layout per replica (TP/PP/EP/attention DP) × weight
 * precision × KV precision × engine × replicas (prepare.ts). An analytical pre-filter (bounds.ts: memory fit, ideal
 * TPOT and TTFT) prunes and the steady state estimates the rest (estimate-plans.ts); the serving simulation scores
 * the estimate's selection (select.ts, simulate-plans.ts); configurations that meet the limits are ranked by $/M
 * output tokens (merge.ts). Each phase runs on shards of the configurations (workers/plan-workers.ts). Pure:
 * devices, prices and the model come in as data.
 */
import { estimatePlans } from './estimate-plans.js';
import { mergePlans } from './merge.js';
import { selectForSimulation } from './select.js';
import { simulatePlans } from './simulate-plans.js';
import type { PlanRequest, PlanResult } from './types.js';

export {
  choosePrice,
  usdPerMillionOutputTokens,
  type Price,
  type PriceChoice,
  type PricePolicy,
} from './cost.js';
export { paretoFront } from './pareto.js';
export * from './types.js';
export { SPLITS } from './prepare.js';
export { ESTIMATE_SLACK, estimatePlans } from './estimate-plans.js';
export { COST_SLACK, FAMILY_PICKS, selectForSimulation } from './select.js';
export { simulatePlans } from './simulate-plans.js';
export { mergePlans } from './merge.js';

/** The whole search in one thread. */
export function planServing(r: PlanRequest): PlanResult {
  const est = estimatePlans(r);
  return mergePlans(r, [est], [simulatePlans(r, selectForSimulation(r, [est]))]);
}
