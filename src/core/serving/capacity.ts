/**
 * KV capacity of one attention-DP rank, from core/memory's engine capacity. Kept in this one adapter so a better
 * capacity model (engine-aware memory fractions) can replace the call in one place.
 */
import type { ModelSpec } from '../arch/spec.js';
import type { HardwareSpec } from '../hardware/spec.js';
import { engineKvCapacity } from '../memory/engines/index.js';
import type { EngineConfig } from './engines.js';
import type { ServingPlan } from './step-time.js';

export interface KvCapacityOptions {
  precision: string;
  kvPrecision: string;
  plan: ServingPlan;
  engine: EngineConfig;
  /** Engine release (its memory profile); default: the profile's own. */
  engineVersion?: string;
  /** Longest sequence the engine is configured for. */
  maxModelLen: number;
  /** Fraction of device memory the engine takes; default per engine (below). */
  memoryFraction?: number;
}

/**
 * The fraction a row or user gives is passed to the engine profile as that engine means it (vLLM
 * gpu_memory_utilization of the device, SGLang mem_fraction_static, TensorRT-LLM free_gpu_memory_fraction of what is
 * free after loading); left out, each engine picks its own default as its code does (core/memory/engines).
 */
export interface KvCapacity {
  tokensPerRank: number;
  blocksPerRank: number;
  bytesPerToken: number;
  weightsBytes: number;
}

export function kvCapacity(spec: ModelSpec, hw: HardwareSpec, o: KvCapacityOptions): KvCapacity {
  const p = o.plan;
  const moe = spec.groups.some((g) => g.mlp?.kind === 'moe');
  // Per GPU: attention sharded by tp (replicated over attention-DP ranks), experts over moe_tp · moe_ep
  // = tp · attention_dp, which core/memory's plan expresses as ep = attention_dp.
  // When that does not divide the experts (redundant experts), the largest ep that does: a little more weight
  // per GPU, so a little less KV (the safe side).
  const experts = spec.groups.find((g) => g.mlp?.kind === 'moe')?.mlp;
  const n = experts?.kind === 'moe' ? experts.numExperts : 1;
  let ep = moe ? Math.max(1, Math.floor((p.moeTp * p.moeEp) / p.tp)) : 1;
  while (n % ep !== 0) ep--;
  const cap = engineKvCapacity(spec, hw, {
    engine: o.engine.engine,
    engineVersion: o.engineVersion,
    plan: { tp: p.tp, pp: p.pp, ep },
    precision: o.precision,
    kvCacheDtype: o.kvPrecision,
    maxModelLen: o.maxModelLen,
    memoryFraction: o.memoryFraction,
    maxNumSeqs: o.engine.maxRunning,
    maxNumBatchedTokens: o.engine.maxStepTokens,
    blockSize: o.engine.blockTokens,
  });
  // A setup the engine refuses to start (weights alone too large) has no KV room at all.
  const tokens = cap.fits || cap.num_blocks > 0 ? cap.num_blocks * cap.settings.block_size : 0;
  const blocks = Math.floor(tokens / o.engine.blockTokens);
  return {
    tokensPerRank: blocks * o.engine.blockTokens,
    blocksPerRank: blocks,
    bytesPerToken: cap.kv_cache_bytes_per_token,
    weightsBytes: cap.weights_bytes,
  };
}
