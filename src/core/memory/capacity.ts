/**
 * Deprecated: kept only for src/core/serving/capacity.ts (main) until its adapter switches to `engineKvCapacity`;
 * nothing else calls it. Remove it then.
 *
 * Runtime-profile capacity: usable = visible memory · gpu_memory_utilization, minus weights, the activation peak
 * of core/memory/inference and the runtime profile's non-torch memory; the rest is KV blocks, and concurrency is
 * whole sequences. For capacity as a named engine computes and prints it (vLLM, SGLang, TensorRT-LLM; unrounded
 * concurrency, the engine's own defaults) use `engineKvCapacity` in ./engines/index.ts.
 */
import type { ModelSpec } from '../arch/spec.js';
import type { TraceEntry } from '../explain.js';
import { Trace, NO_TRACE } from '../explain.js';
import type { ParallelPlan } from '../parallel/plan.js';
import { inferenceMemory, InputError } from './inference.js';
import { kvCache } from './kv.js';
import { kvElementBytes } from '../numerics/formats.js';
import type { RuntimeId } from './runtime.js';

export interface CapacityOptions {
  /** Device memory the process sees (bytes). */
  deviceBytes: number;
  gpuMemoryUtilization: number;
  precision: string;
  kvPrecision: string;
  plan: ParallelPlan;
  /** max_model_len: the sequence length the engine must hold, and its profiling run's size. */
  maxModelLen: number;
  /** Tokens of the profiling forward step (vLLM: max_num_batched_tokens). */
  maxNumBatchedTokens: number;
  /** Sequences in the profiling step (vLLM: max_num_seqs), one logits row each. */
  maxNumSeqs: number;
  blockSize: number;
  runtime: RuntimeId;
  explain?: boolean;
}

export interface Capacity {
  usable_bytes: number;
  weights_bytes: number;
  activation_bytes: number;
  overhead_bytes: number;
  kv_cache_bytes_available: number;
  kv_cache_bytes_per_token: number;
  num_blocks: number;
  max_kv_tokens: number;
  /** Sequences of max_model_len tokens that fit at once. */
  max_concurrency: number;
  fits: boolean;
  trace: TraceEntry[];
}

export function engineCapacity(spec: ModelSpec, o: CapacityOptions): Capacity {
  if (!(o.gpuMemoryUtilization > 0 && o.gpuMemoryUtilization <= 1)) {
    throw new InputError(`gpu_memory_utilization must be in (0, 1] (got ${o.gpuMemoryUtilization})`);
  }
  const trace = o.explain ? new Trace(true) : NO_TRACE;
  const step = inferenceMemory(spec, {
    precision: o.precision,
    kvPrecision: o.kvPrecision,
    batch: 1,
    seq: o.maxModelLen,
    plan: o.plan,
    stepTokens: o.maxNumBatchedTokens,
    logitsRows: o.maxNumSeqs,
    runtime: o.runtime,
  });
  const usable = o.deviceBytes * o.gpuMemoryUtilization;
  const available = Math.max(0, usable - step.weights_bytes - step.activation_bytes - step.overhead_bytes);
  const perToken = step.kv_cache_bytes_per_token;
  const blockBytes = perToken * o.blockSize;
  const blocks = blockBytes > 0 ? Math.floor(available / blockBytes) : 0;
  const kvBytes = kvElementBytes(o.kvPrecision)!;
  const oneSeq = kvCache(spec, {
    batch: 1,
    seq: o.maxModelLen,
    kvBytes,
    tp: o.plan.tp,
    blockSize: o.blockSize,
    layerFilter: null,
    stateBytes: 2,
  });
  // CP holds 1/cp of each sequence's KV cache on a device (as inferenceMemory does); the SSM state is not split.
  const seqBytes = (oneSeq.kvCacheBytes / (o.plan.cp ?? 1) + oneSeq.stateBytes) / o.plan.pp;
  const maxConcurrency = seqBytes > 0 ? Math.floor(available / seqBytes) : 0;
  trace.add('usable_bytes', usable, 'bytes', 'device_bytes · gpu_memory_utilization', {
    device_bytes: o.deviceBytes,
    gpu_memory_utilization: o.gpuMemoryUtilization,
  });
  trace.add(
    'kv_cache_bytes_available',
    available,
    'bytes',
    'usable − weights − activation peak − non-torch',
    {
      weights: step.weights_bytes,
      activation: step.activation_bytes,
      non_torch: step.overhead_bytes,
    },
  );
  trace.add('num_blocks', blocks, 'blocks', 'floor(available / (kv_bytes_per_token · block_size))', {
    kv_bytes_per_token: perToken,
    block_size: o.blockSize,
  });
  trace.add(
    'max_concurrency',
    maxConcurrency,
    'sequences',
    'floor(available / kv bytes of one max_model_len sequence on the device (÷ cp, ÷ pp))',
    {
      max_model_len: o.maxModelLen,
      cp: o.plan.cp ?? 1,
      pp: o.plan.pp,
    },
  );
  return {
    usable_bytes: usable,
    weights_bytes: step.weights_bytes,
    activation_bytes: step.activation_bytes,
    overhead_bytes: step.overhead_bytes,
    kv_cache_bytes_available: available,
    kv_cache_bytes_per_token: perToken,
    num_blocks: blocks,
    max_kv_tokens: perToken > 0 ? blocks * o.blockSize : 0,
    max_concurrency: maxConcurrency,
    fits: available > 0 && (seqBytes === 0 || maxConcurrency >= 1),
    trace: trace.entries,
  };
}
