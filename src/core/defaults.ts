/**
 * The defaults every adapter (CLI, the four calculator APIs, the web page) uses when a request leaves a setting out.
 * They live in one place so that the same question gets the same bytes everywhere: before, the CLI and two APIs
 * counted a PyTorch process, the others a vLLM V1 engine with 16-token blocks, and LoRA targeted q,k,v,o in the CLI
 * but every linear layer on the web page.
 */
import type { ModelSpec } from './arch/spec.js';
import type { RuntimeId } from './memory/runtime.js';
import { modelDtype } from './memory/inference.js';
import { normaliseFormatId } from './numerics/formats.js';

/** Inference serving: what a `vllm serve` with no memory flags does. */
export const SERVING_DEFAULTS = {
  /** Runtime overhead profile: inference is mostly served by vLLM V1 today. */
  runtime: 'vllm-v1' as RuntimeId,
  /** vLLM's EngineArgs.gpu_memory_utilization default: the engine budgets 0.9 of the device's memory. */
  gpuMemoryUtilization: 0.9,
  /** vLLM's CacheConfig block size on CUDA (tokens per KV block); paged engines allocate whole blocks. */
  kvBlockSize: 16,
} as const;

/** Training: what an unqualified LoRA run means. */
export const TRAINING_DEFAULTS = {
  /**
   * LoRA on every linear layer (PEFT 'all-linear', as QLoRA recommends): the largest common choice, so a default
   * estimate errs toward less free memory.
   */
  loraTargets: 'all-linear' as const,
  /** Rank used when a fit suggestion proposes LoRA / QLoRA. */
  loraRank: 16,
} as const;

/** Paged engines round each sequence's KV cache up to whole blocks; a plain PyTorch process does not. */
export function kvBlockSizeFor(runtime: RuntimeId): number | null {
  return runtime.startsWith('vllm') ? SERVING_DEFAULTS.kvBlockSize : null;
}

/** The KV-cache dtype when none is named: the weight precision when it is a float, else the model's dtype. */
export function defaultKvPrecision(spec: ModelSpec, weightPrecision: string): string {
  const p = weightPrecision === 'auto' ? 'auto' : normaliseFormatId(weightPrecision);
  if (p === 'fp32' || p === 'fp16' || p === 'bf16') return p;
  return modelDtype(spec);
}
