/**
 * The analytical pre-filter: before a configuration is simulated, it must hold the weights and one request's KV
 * cache (the engine's own capacity rule, core/memory engineKvCapacity), and its latencies at datasheet speed must
 * be within the limits. Both ideal figures are lower bounds of what a served workload can see: one decode step at
 * batch 1 (no batch is faster) and one prompt's prefill alone (no request gets its first token sooner), so a
 * configuration whose ideal exceeds a limit is rejected without simulating.
 */
import type { ModelSpec } from '../arch/spec.js';
import type { HardwareSpec } from '../hardware/spec.js';
import { engineKvCapacity } from '../memory/engines/index.js';
import { kvElementBytes } from '../numerics/formats.js';
import { IDEAL } from '../perf/efficiency.js';
import type { Links } from '../perf/step.js';
import type { EngineId, ServingPlan } from '../serving/index.js';
import { StepTimer } from '../serving/step-time.js';

export interface MemoryFit {
  fits: boolean;
  /** KV tokens per attention-DP rank as the engine would size them (0 when it does not start). */
  kvTokens: number;
  weightsBytes: number;
  /** Why not, in the engine's words. */
  reason: string | null;
}

/** core/memory's plan for a serving layout: experts over tp · attention_dp as ep = attention_dp (capacity.ts). */
function memoryPlan(spec: ModelSpec, p: ServingPlan) {
  const experts = spec.groups.find((g) => g.mlp?.kind === 'moe')?.mlp;
  const n = experts?.kind === 'moe' ? experts.numExperts : 1;
  let ep = experts ? Math.max(1, Math.floor((p.moeTp * p.moeEp) / p.tp)) : 1;
  while (n % ep !== 0) ep--;
  return { tp: p.tp, pp: p.pp, ep };
}

export function memoryFit(
  spec: ModelSpec,
  hw: HardwareSpec,
  o: { engine: EngineId; plan: ServingPlan; precision: string; kvPrecision: string; tokens: number },
): MemoryFit {
  try {
    const c = engineKvCapacity(spec, hw, {
      engine: o.engine,
      plan: memoryPlan(spec, o.plan),
      precision: o.precision,
      kvCacheDtype: o.kvPrecision,
      maxModelLen: o.tokens,
    });
    const fits = c.fits && c.max_kv_tokens >= o.tokens;
    return {
      fits,
      kvTokens: c.fits ? c.max_kv_tokens : 0,
      weightsBytes: c.weights_bytes,
      reason: fits
        ? null
        : (c.error ??
          `KV cache holds ${Math.floor(c.max_kv_tokens)} tokens, less than one request's ${o.tokens}`),
    };
  } catch (e) {
    return {
      fits: false,
      kvTokens: 0,
      weightsBytes: NaN,
      reason: e instanceof Error ? e.message : String(e),
    };
  }
}

export interface IdealBounds {
  /** One decode step at batch 1 with the prompt as context, at datasheet speed (s). */
  tpotS: number;
  /** One prompt's prefill alone, at datasheet speed (s). */
  ttftS: number;
}

export function idealBounds(
  spec: ModelSpec,
  hw: HardwareSpec,
  o: { plan: ServingPlan; precision: string; kvPrecision: string; isl: number; links?: Links },
): IdealBounds {
  const kvBytes = kvElementBytes(o.kvPrecision) ?? 2;
  const t = new StepTimer(
    { spec, hw, precision: o.precision, kvBytes, plan: o.plan, links: o.links, efficiency: IDEAL },
    IDEAL,
  );
  // The other attention-DP ranks may be idle: the expert layers see this rank's tokens only (the least work).
  return {
    tpotS: t.exact({ prefill: [], decodes: 1, decodeContext: o.isl }, 1),
    ttftS: t.exact({ prefill: [{ tokens: o.isl, context: 0 }], decodes: 0, decodeContext: 0 }, o.isl),
  };
}
