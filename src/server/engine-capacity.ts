/**
 * The engine capacity block the APIs share: optional `engine` / `engine_version` request fields and the KV cache an
 * engine gives one replica (core engineKvCapacity), with concurrency as engines print it (two decimals, "58.11x").
 * A version the engine profile refuses is a 422 naming `engine_version`.
 */
import { z } from 'zod';
import type { ModelSpec } from '../core/arch/spec.js';
import type { HardwareSpec } from '../core/hardware/spec.js';
import {
  ENGINE_IDS,
  engineKvCapacity,
  type EngineCapacity,
  type EngineId,
} from '../core/memory/engines/index.js';
import { InputError } from '../core/memory/inference.js';
import type { ParallelPlan } from '../core/parallel/plan.js';
import { InvalidInput } from './errors.js';

export const engineFields = {
  engine: z
    .enum(ENGINE_IDS as [EngineId, ...EngineId[]])
    .optional()
    .describe('serving engine whose KV-cache sizing counts (default vllm)'),
  engine_version: z
    .string()
    .min(1)
    .max(20)
    .optional()
    .describe(
      "engine release, e.g. 0.19.0 (default: the engine's modelled one: vllm 0.19.0, sglang 0.5.3, trtllm 1.0.0)",
    ),
};

export interface CapacityRequest {
  engine?: EngineId;
  engine_version?: string;
  plan: ParallelPlan;
  precision: string;
  kvPrecision?: string;
  maxModelLen: number;
  /** vLLM gpu_memory_utilization; the other engines keep their own default fractions. */
  gpuMemoryUtilization?: number;
  explain?: boolean;
  /** Where the engine fields sit in the body ("decode_req." for nested requests), for the 422's field name. */
  fieldPrefix?: string;
}

/** Concurrency to two decimals, as vLLM prints "Maximum concurrency for N tokens per request: 58.11x". */
export const concurrency2 = (c: number): number => Math.round(c * 100) / 100;

export function engineCapacityOf(spec: ModelSpec, hw: HardwareSpec, r: CapacityRequest): EngineCapacity {
  const engine = r.engine ?? 'vllm';
  try {
    return engineKvCapacity(spec, hw, {
      engine,
      engineVersion: r.engine_version,
      plan: r.plan,
      precision: r.precision,
      kvCacheDtype: r.kvPrecision,
      maxModelLen: r.maxModelLen,
      memoryFraction: engine === 'vllm' ? r.gpuMemoryUtilization : undefined,
      explain: r.explain,
    });
  } catch (e) {
    // The profiles word version errors as "... version ..." / "<Engine> X is not modelled"; name the field.
    if (e instanceof InputError && /version|not modelled/i.test(e.message))
      throw new InvalidInput(`${r.fieldPrefix ?? ''}engine_version`, e.message);
    throw e;
  }
}

/** The capacity block of a response: what the engine prints, which engine, and the terms it is unsure of. */
export function capacityJson(c: EngineCapacity) {
  return {
    engine: c.engine,
    engine_version: c.engine_version,
    max_model_len: c.settings.max_model_len,
    kv_cache_dtype: c.settings.kv_cache_dtype,
    memory_fraction: c.settings.memory_fraction,
    device_total_bytes: c.device_total_bytes,
    weights_bytes: c.weights_bytes,
    activation_peak_bytes: c.activation_peak_bytes,
    non_torch_bytes: c.non_torch_bytes,
    cuda_graph_bytes: c.cuda_graph_bytes,
    kv_cache_bytes_available: c.kv_cache_bytes_available,
    kv_cache_bytes_per_token: c.kv_cache_bytes_per_token,
    max_kv_tokens: c.max_kv_tokens,
    max_concurrency: concurrency2(c.max_concurrency),
    fits: c.fits,
    error: c.error,
    uncertain_terms: c.uncertain_terms,
  };
}

/**
 * The capacity block, or — when the engine refuses the setup itself (a length beyond the model's positions, a
 * format it cannot load) — the engine named with its reason, so the rest of a response still stands. A bad
 * engine_version stays a 422.
 */
export function capacityBlock(spec: ModelSpec, hw: HardwareSpec, r: CapacityRequest) {
  try {
    const c = engineCapacityOf(spec, hw, r);
    return { json: capacityJson(c), capacity: c };
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return {
      json: { engine: r.engine ?? 'vllm', max_model_len: r.maxModelLen, fits: false, error: e.message },
      capacity: null,
    };
  }
}
