/**
 * `--precision all` for `memory` and `params`: one table over the common weight formats, as
 * `accelerate estimate-memory` prints float32 / float16 / int8 / int4 side by side.
 */
import { defaultKvPrecision } from '../core/defaults.js';
import { inferenceMemory, type InferenceOptions } from '../core/memory/inference.js';
import { weightLayout } from '../core/memory/weights.js';
import type { ModelSpec } from '../core/arch/index.js';

/** The formats people compare first: the floats, fp8, the 8- and 4-bit integers, and the 4-bit floats. */
export const COMMON_PRECISIONS = ['fp32', 'bf16', 'fp16', 'fp8', 'int8', 'int4', 'nf4', 'mxfp4'] as const;

export const wantsAll = (p: string | undefined) => p?.toLowerCase() === 'all';

export interface PrecisionRow {
  precision: string;
  weights_bytes: number;
}

/** Weight bytes of the model in each common format. */
export function weightsByPrecision(spec: ModelSpec): PrecisionRow[] {
  return COMMON_PRECISIONS.map((p) => ({ precision: p, weights_bytes: weightLayout(spec, p).total }));
}

export interface MemoryRow extends PrecisionRow {
  kv_precision: string;
  kv_cache_bytes: number;
  activation_bytes: number;
  overhead_bytes: number;
  total_bytes: number;
}

/** Inference memory per device in each common format (the KV dtype follows the weights unless one is given). */
export function memoryByPrecision(
  spec: ModelSpec,
  base: Omit<InferenceOptions, 'precision' | 'kvPrecision'>,
  kvPrecision: string | undefined,
): MemoryRow[] {
  return COMMON_PRECISIONS.map((p) => {
    const kv = kvPrecision ?? defaultKvPrecision(spec, p);
    const r = inferenceMemory(spec, { ...base, precision: p, kvPrecision: kv, explain: false });
    return {
      precision: p,
      kv_precision: kv,
      weights_bytes: r.weights_bytes,
      kv_cache_bytes: r.kv_cache_bytes,
      activation_bytes: r.activation_bytes + r.state_bytes + r.image_bytes,
      overhead_bytes: r.overhead_bytes,
      total_bytes: r.total_bytes,
    };
  });
}
