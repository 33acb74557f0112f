/** What every engine profile takes and gives: the settings a user launches with, and the capacity it would print. */
import type { TraceEntry } from '../../explain.js';
import type { ParallelPlan } from '../../parallel/plan.js';
import type { UncertainTerm } from './common.js';

export type EngineId = 'vllm' | 'sglang' | 'trtllm';

export const ENGINE_IDS: readonly EngineId[] = ['vllm', 'sglang', 'trtllm'];

/** Launch settings. Every field is optional: an engine picks its own default, as its code does. */
export interface EngineOptions {
  /** Engine release, e.g. "0.19.0"; each profile has a default and rejects versions it does not model. */
  engineVersion?: string;
  plan?: ParallelPlan;
  /** Longest sequence (vLLM --max-model-len); default: the model's max_position_embeddings. */
  maxModelLen?: number;
  /**
   * vLLM --gpu-memory-utilization, SGLang --mem-fraction-static, TensorRT-LLM kv_cache_free_gpu_mem_fraction;
   * each means something different (see the engine files).
   */
  memoryFraction?: number;
  /** Weight format ('auto' = as the checkpoint ships, quantization_config included). */
  precision?: string;
  /** KV-cache dtype ('auto' = the model dtype). */
  kvCacheDtype?: string;
  /** Compute dtype (--dtype; 'auto' = the checkpoint's torch_dtype, fp32 read as bf16 as vLLM does). */
  dtype?: string;
  /** vLLM --max-num-seqs / SGLang --max-running-requests / TRT-LLM max_batch_size. */
  maxNumSeqs?: number;
  /** vLLM --max-num-batched-tokens / SGLang --chunked-prefill-size / TRT-LLM max_num_tokens. */
  maxNumBatchedTokens?: number;
  /** vLLM usage context: `vllm serve` (openai_api_server, default) or the offline LLM class. */
  usageContext?: 'openai_api_server' | 'llm_class';
  /** KV block (page) size in tokens. */
  blockSize?: number;
  /** Device memory as CUDA reports it (torch.cuda.mem_get_info total); default from the hardware entry. */
  deviceTotalBytes?: number;
  /** --enforce-eager: no CUDA graphs. */
  enforceEager?: boolean;
  /** vLLM: subtract the estimated CUDA-graph memory (VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS); default by version. */
  estimateCudaGraphs?: boolean;
  explain?: boolean;
}

export interface EngineCapacity {
  engine: EngineId;
  engine_version: string;
  /** The settings the engine ends up with (its defaults filled in). */
  settings: {
    tp: number;
    pp: number;
    ep: number;
    max_model_len: number;
    memory_fraction: number;
    max_num_seqs: number;
    max_num_batched_tokens: number;
    block_size: number;
    kv_cache_dtype: string;
    dtype: string;
  };
  device_total_bytes: number;
  /** Memory the engine budgets for itself (vLLM: requested memory = total x gpu_memory_utilization). */
  budget_bytes: number;
  /** Per rank of the stage that bounds the cache. */
  weights_bytes: number;
  activation_peak_bytes: number;
  non_torch_bytes: number;
  cuda_graph_bytes: number;
  /** What the engine gives the KV cache on the rank that bounds it (vLLM: "Available KV cache memory"). */
  kv_cache_bytes_available: number;
  kv_cache_bytes_per_token: number;
  num_blocks: number;
  /** "GPU KV cache size: N tokens" as the engine prints it. */
  max_kv_tokens: number;
  /** Requests of max_model_len tokens at once, unrounded ("58.11x"). */
  max_concurrency: number;
  fits: boolean;
  /** Why it does not fit, in the engine's own words; null when it fits. */
  error: string | null;
  uncertain_terms: UncertainTerm[];
  trace: TraceEntry[];
}
