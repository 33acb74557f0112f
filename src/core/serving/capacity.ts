/**
 * KV capacity of one attention-DP rank, from core/memory's engine capacity. Kept in this one adapter so a better
 * capacity model (engine-aware memory fractions) can replace the call in one place.
 */
import type { ModelSpec } from '../arch/spec.js';
import type { HardwareSpec } from '../hardware/spec.js';
import { engineCapacity } from '../memory/capacity.js';
import type { EngineConfig } from './engines.js';
import type { ServingPlan } from './step-time.js';

export interface KvCapacityOptions {
  precision: string;
  kvPrecision: string;
  plan: ServingPlan;
  engine: EngineConfig;
  /** Longest sequence the engine is configured for. */
  maxModelLen: number;
  /** Fraction of device memory the engine takes; default per engine (below). */
  memoryFraction?: number;
}

/**
 * Memory the engines give to weights + KV + activations by default: vLLM gpu_memory_utilization 0.9 of the device;
 * SGLang mem_fraction_static ≈ 0.88 on large GPUs (server_args.py picks it from GPU memory and TP); TensorRT-LLM
 * kv_cache_config.free_gpu_memory_fraction 0.9 of the memory still free after weights, activations and runtime.
 */
export function defaultMemoryFraction(engine: EngineConfig['engine']): number {
  return engine === 'sglang' ? 0.88 : 0.9;
}

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
  const plan = { tp: p.tp, pp: p.pp, ep };
  const fraction = o.memoryFraction ?? defaultMemoryFraction(o.engine.engine);
  const cap = engineCapacity(spec, {
    deviceBytes: hw.visibleMemoryBytes,
    gpuMemoryUtilization: o.engine.engine === 'trtllm' ? 1 : fraction,
    precision: o.precision,
    kvPrecision: o.kvPrecision,
    plan,
    maxModelLen: o.maxModelLen,
    maxNumBatchedTokens: o.engine.maxStepTokens,
    maxNumSeqs: Math.min(o.engine.maxRunning, 1024),
    blockSize: o.engine.blockTokens,
    runtime: 'vllm-v1',
  });
  const available =
    o.engine.engine === 'trtllm' ? cap.kv_cache_bytes_available * fraction : cap.kv_cache_bytes_available;
  const perToken = cap.kv_cache_bytes_per_token;
  const blocks = perToken > 0 ? Math.floor(available / (perToken * o.engine.blockTokens)) : 0;
  return {
    tokensPerRank: blocks * o.engine.blockTokens,
    blocksPerRank: blocks,
    bytesPerToken: perToken,
    weightsBytes: cap.weights_bytes,
  };
}
