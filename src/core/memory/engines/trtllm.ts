/**
 * TensorRT-LLM's KV-cache sizing (PyTorch backend, 1.0 and later; tensorrt_llm/llmapi/llm_args.py
 * KvCacheConfig.free_gpu_memory_fraction, "Default is 90%"): after the weights load, the executor runs a
 * profiling step of max_num_tokens tokens, reads the peak memory in use, and gives the KV cache that fraction
 * of what is left:
 *
 *   kv = (total - (context + weights + activation peak + non-torch)) x kv_cache_free_gpu_mem_fraction
 *
 * Defaults of trtllm-serve / the LLM API: max_batch_size 2048, max_num_tokens 8192, tokens_per_block 32.
 * The profiling requests are as long as max_num_tokens allows, so few logits rows are computed.
 */
import type { ModelSpec } from '../../arch/spec.js';
import { Trace, NO_TRACE } from '../../explain.js';
import type { HardwareSpec } from '../../hardware/spec.js';
import { InputError } from '../inference.js';
import {
  forwardPeakBytes,
  kvBytesPerTokenAll,
  kvLayerTypes,
  loadedWeights,
  moePath,
  moeWorkspaceBytes,
  parseVersion,
  stageFilter,
  versionAtLeast,
  type UncertainTerm,
} from './common.js';
import { checkFraction, checkPositive, resolveCommon } from './device.js';
import { contextBytes } from './sglang.js';
import { nonTorchBytes } from './vllm.js';
import type { EngineCapacity, EngineOptions } from './types.js';

export const TRTLLM_DEFAULT_VERSION = '1.0.0';

export function trtllmCapacity(spec: ModelSpec, hw: HardwareSpec, o: EngineOptions): EngineCapacity {
  const trace = o.explain ? new Trace(true) : NO_TRACE;
  const uncertain: UncertainTerm[] = [];
  const versionStr = o.engineVersion ?? TRTLLM_DEFAULT_VERSION;
  const v = parseVersion(versionStr);
  if (!v) throw new InputError(`engine version must look like 1.0.0 (got '${versionStr}')`);
  if (!versionAtLeast(v, [1, 0, 0]))
    throw new InputError(
      `TensorRT-LLM ${versionStr} is not modelled: the profile covers the 1.x PyTorch backend`,
    );
  const r = resolveCommon(spec, hw, o, uncertain);
  const { plan, b } = r;
  checkPositive('max_batch_size', o.maxNumSeqs);
  checkPositive('max_num_tokens', o.maxNumBatchedTokens);
  checkPositive('tokens_per_block', o.blockSize);
  const frac = o.memoryFraction ?? 0.9;
  checkFraction('kv_cache_free_gpu_mem_fraction', frac);
  const maxBatch = o.maxNumSeqs ?? 2048;
  const T = o.maxNumBatchedTokens ?? 8192;
  const blockSize = o.blockSize ?? 32;
  // Non-torch growth after start as vLLM 0.19 measured it on H100 (cuBLAS, kernels; NCCL and all-reduce at TP>1).
  const nonTorch = nonTorchBytes(plan.tp);
  const path = moePath(spec, r.precision);
  let worst: { weights: number; act: number; free: number; perToken: number } | null = null;
  for (let s = 0; s < plan.pp; s++) {
    const onStage = stageFilter(spec, plan.pp, s);
    const w = loadedWeights(spec, r.precision, plan, s, b);
    const act =
      forwardPeakBytes(spec, T, plan.tp, b, onStage) + moeWorkspaceBytes(spec, path, T, plan.tp, b, onStage);
    const free = r.deviceTotal - contextBytes(plan.tp) - w.total - act - nonTorch;
    const kv = kvLayerTypes(spec, r.kvBytes, plan.tp, onStage);
    if (!worst || free < worst.free)
      worst = { weights: w.total, act, free, perToken: kvBytesPerTokenAll(kv.types) };
  }
  const st = worst!;
  const available = Math.max(0, st.free * frac);
  const blockBytes = st.perToken * blockSize;
  const numBlocks = blockBytes > 0 ? Math.floor(available / blockBytes) : 0;
  const tokens = numBlocks * blockSize;
  const concurrency = tokens / r.maxModelLen;
  uncertain.push({
    term: 'activation_peak',
    note: 'profiling step modelled as one forward of max_num_tokens; TensorRT-LLM measures it and its sampler differs',
  });
  uncertain.push({
    term: 'context_and_nccl',
    note: 'CUDA context, NCCL and library workspaces taken from vLLM 0.19 measurements on H100',
  });
  if (kvLayerTypes(spec, r.kvBytes, plan.tp, () => true).types.some((t) => t.window !== null))
    uncertain.push({
      term: 'sliding_window',
      note: 'variable sliding-window attention is sized as full attention here',
    });
  trace.add(
    'kv_cache_bytes_available',
    available,
    'bytes',
    '(total - context - weights - activation - non-torch) x kv_cache_free_gpu_mem_fraction',
    { total: r.deviceTotal, weights: st.weights, activation: st.act, fraction: frac },
  );
  const error =
    st.free <= 0
      ? 'weights and activations leave no free memory for the KV cache'
      : tokens < r.maxModelLen
        ? `the KV cache holds ${tokens} tokens, fewer than max_seq_len ${r.maxModelLen}`
        : null;
  return {
    engine: 'trtllm',
    engine_version: versionStr,
    settings: {
      tp: plan.tp,
      pp: plan.pp,
      ep: plan.ep,
      max_model_len: r.maxModelLen,
      memory_fraction: frac,
      max_num_seqs: maxBatch,
      max_num_batched_tokens: T,
      block_size: blockSize,
      kv_cache_dtype: r.kvCacheDtype,
      dtype: r.dtype,
    },
    device_total_bytes: r.deviceTotal,
    budget_bytes: Math.max(0, st.free),
    weights_bytes: st.weights,
    activation_peak_bytes: st.act,
    non_torch_bytes: nonTorch + contextBytes(plan.tp),
    cuda_graph_bytes: 0,
    kv_cache_bytes_available: available,
    kv_cache_bytes_per_token: st.perToken,
    num_blocks: numBlocks,
    max_kv_tokens: tokens,
    max_concurrency: concurrency,
    fits: error === null,
    error,
    uncertain_terms: uncertain,
    trace: trace.entries,
  };
}
