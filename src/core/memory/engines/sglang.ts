/**
 * SGLang's KV pool sizing (python/sglang/srt/model_executor/model_runner.py profile_max_num_token):
 * mem_fraction_static is the share of the memory free at start that weights and the KV pool may take, so
 *
 *   kv_pool = free_at_start x mem_fraction_static - weights,   tokens = kv_pool / cell_size
 *
 * where free_at_start is after the CUDA context and NCCL are up, and cell_size is the KV bytes of one token
 * over the rank's layers (page size 1 by default). Its default (server_args.py _handle_gpu_memory_settings) by
 * release: before 0.5 a TP table (0.88 TP1, 0.87 TP2, 0.85 TP4, 0.81 TP8, 0.79 TP16); 0.5.0-0.5.2 a reserve by
 * GPU memory bucket ((9.5 + tp·pp/2) GiB under 90 GiB, (12 + tp·pp/2) GiB under 160 GiB, 32 GiB above);
 * from 0.5.3 (sgl-project/sglang PR #10975) reserve_mb = 512 + max(chunked_prefill_size, 2048) x 1.5 +
 * cuda_graph_max_bs x 2 + tp·pp/8 x 1024, at least 10 GiB on GPUs over 60 GiB, and
 * mem_fraction_static = round((gpu_mem - reserve) / gpu_mem, 3) with gpu_mem nvidia-smi's total in MiB.
 */
import type { ModelSpec } from '../../arch/spec.js';
import { Trace, NO_TRACE } from '../../explain.js';
import type { HardwareSpec } from '../../hardware/spec.js';
import { InputError } from '../inference.js';
import {
  GiB,
  kvBytesPerTokenAll,
  kvLayerTypes,
  loadedWeights,
  MiB,
  parseVersion,
  stageFilter,
  versionAtLeast,
  type UncertainTerm,
} from './common.js';
import { checkFraction, checkPositive, resolveCommon } from './device.js';
import type { EngineCapacity, EngineOptions } from './types.js';

export const SGLANG_DEFAULT_VERSION = '0.5.3';

/**
 * CUDA context (and NCCL communicators at TP>1) before weights load: vLLM 0.19's start snapshot on H100 reads
 * 0.51 GiB at TP1 and 1.51-1.99 GiB at TP2.
 */
export function contextBytes(tp: number): number {
  return tp > 1 ? 2.0 * GiB : 0.51 * GiB;
}

export function sglangDefaults(
  gpuMemMiB: number,
  tp: number,
  pp: number,
  v: number[],
): { memFractionStatic: number; chunkedPrefillSize: number; cudaGraphMaxBs: number } {
  // Buckets of _handle_gpu_memory_settings (0.5.3+): <20 GiB, <35 GiB, <60 GiB (A100-40G, L40), <160 GiB
  // (H100, A100-80G, H20, H200), larger (B200, MI300).
  const G = 1024;
  const chunkedPrefillSize =
    gpuMemMiB < 35 * G ? 2048 : gpuMemMiB < 60 * G ? 4096 : gpuMemMiB < 160 * G ? 8192 : 16384;
  const small = tp < 4;
  const cudaGraphMaxBs =
    gpuMemMiB < 20 * G
      ? small
        ? 8
        : 80
      : gpuMemMiB < 35 * G
        ? small
          ? 24
          : 80
        : gpuMemMiB < 60 * G
          ? small
            ? 32
            : 160
          : gpuMemMiB < 160 * G
            ? small
              ? 256
              : 512
            : 512;
  const ps = tp * pp;
  let frac: number;
  if (!versionAtLeast(v, [0, 5, 0])) {
    frac = tp >= 16 ? 0.79 : tp >= 8 ? 0.81 : tp >= 4 ? 0.85 : tp >= 2 ? 0.87 : 0.88;
  } else {
    let reserve: number;
    if (!versionAtLeast(v, [0, 5, 3])) {
      reserve =
        gpuMemMiB < 35 * 1024
          ? (2.8 + ps / 10) * 1024
          : gpuMemMiB < 90 * 1024
            ? (9.5 + ps / 2) * 1024
            : gpuMemMiB < 160 * 1024
              ? (12 + ps / 2) * 1024
              : 32 * 1024;
    } else {
      reserve = 512 + Math.max(chunkedPrefillSize, 2048) * 1.5 + cudaGraphMaxBs * 2 + (ps / 8) * 1024;
      if (gpuMemMiB > 60 * 1024) reserve = Math.max(reserve, 10 * 1024);
    }
    frac = Math.round(((gpuMemMiB - reserve) / gpuMemMiB) * 1000) / 1000;
  }
  return { memFractionStatic: frac, chunkedPrefillSize, cudaGraphMaxBs };
}

/**
 * Default max_running_requests: half the pool's tokens, capped by the request-slot pool (tp_worker.py), whose
 * size is min(max(tokens / context_len x 512, 2048), 4096) (model_runner.py).
 */
export function sglangMaxRunningRequests(tokens: number, contextLen: number): number {
  const slots = Math.min(Math.max(Math.floor((tokens / contextLen) * 512), 2048), 4096);
  return Math.max(1, Math.min(Math.floor(tokens / 2), slots));
}

export function sglangCapacity(spec: ModelSpec, hw: HardwareSpec, o: EngineOptions): EngineCapacity {
  const trace = o.explain ? new Trace(true) : NO_TRACE;
  const uncertain: UncertainTerm[] = [];
  const versionStr = o.engineVersion ?? SGLANG_DEFAULT_VERSION;
  const v = parseVersion(versionStr);
  if (!v) throw new InputError(`engine version must look like 0.5.3 (got '${versionStr}')`);
  if (!versionAtLeast(v, [0, 4, 0]))
    throw new InputError(`SGLang ${versionStr} is not modelled: the profile covers 0.4.0 and later`);
  const r = resolveCommon(spec, hw, o, uncertain);
  const { plan } = r;
  checkPositive('max_running_requests', o.maxNumSeqs);
  checkPositive('chunked_prefill_size', o.maxNumBatchedTokens);
  checkPositive('page_size', o.blockSize);
  const gpuMemMiB = hw.visibleMemoryBytes / MiB;
  const d = sglangDefaults(gpuMemMiB, plan.tp, plan.pp, v);
  const frac = o.memoryFraction ?? d.memFractionStatic;
  checkFraction('mem_fraction_static', frac);
  const pageSize = o.blockSize ?? 1;
  const freeAtStart = r.deviceTotal - contextBytes(plan.tp);
  const budget = freeAtStart * frac;
  // The pool is sized on the rank with the least memory left (distributed min), i.e. the heaviest stage.
  let worst: { weights: number; perToken: number; avail: number; swa: boolean } | null = null;
  for (let s = 0; s < plan.pp; s++) {
    const onStage = stageFilter(spec, plan.pp, s);
    const w = loadedWeights(spec, r.precision, plan, s, r.b);
    const kv = kvLayerTypes(spec, r.kvBytes, plan.tp, onStage);
    const avail = budget - w.total;
    if (!worst || avail < worst.avail)
      worst = {
        weights: w.total,
        perToken: kvBytesPerTokenAll(kv.types),
        avail,
        swa: kv.types.some((t) => t.window !== null),
      };
  }
  const st = worst!;
  const available = Math.max(0, st.avail);
  const rawTokens = st.perToken > 0 ? Math.floor(available / st.perToken) : 0;
  const tokens = Math.floor(rawTokens / pageSize) * pageSize;
  const concurrency = tokens / r.maxModelLen;
  uncertain.push({
    term: 'context_and_nccl',
    note: 'memory in use before weights load (CUDA context, NCCL) taken from vLLM 0.19 start snapshots on H100',
  });
  uncertain.push({
    term: 'activation_headroom',
    note: 'SGLang keeps activations and CUDA graphs in the (1 - mem_fraction_static) share; an OOM there is not modelled',
  });
  if (spec.vision && o.memoryFraction === undefined)
    uncertain.push({
      term: 'vlm_fraction',
      note: 'SGLang lowers mem_fraction_static for vision models by the tower size; not applied here',
    });
  if (st.swa)
    uncertain.push({
      term: 'sliding_window_pool',
      note: 'SGLang can keep a smaller pool for sliding-window layers; every layer is sized for full attention here',
    });
  trace.add('kv_cache_bytes_available', available, 'bytes', 'free_at_start x mem_fraction_static - weights', {
    free_at_start: freeAtStart,
    mem_fraction_static: frac,
    weights: st.weights,
  });
  const error =
    st.avail <= 0
      ? 'Not enough memory. Please try to increase --mem-fraction-static.'
      : tokens < r.maxModelLen
        ? `the KV pool holds ${tokens} tokens, fewer than max_model_len ${r.maxModelLen}`
        : null;
  return {
    engine: 'sglang',
    engine_version: versionStr,
    settings: {
      tp: plan.tp,
      pp: plan.pp,
      ep: plan.ep,
      max_model_len: r.maxModelLen,
      memory_fraction: frac,
      max_num_seqs: o.maxNumSeqs ?? sglangMaxRunningRequests(tokens, r.maxModelLen),
      max_num_batched_tokens: o.maxNumBatchedTokens ?? d.chunkedPrefillSize,
      block_size: pageSize,
      kv_cache_dtype: r.kvCacheDtype,
      dtype: r.dtype,
    },
    device_total_bytes: r.deviceTotal,
    budget_bytes: budget,
    weights_bytes: st.weights,
    activation_peak_bytes: 0,
    non_torch_bytes: contextBytes(plan.tp),
    cuda_graph_bytes: 0,
    kv_cache_bytes_available: available,
    kv_cache_bytes_per_token: st.perToken,
    num_blocks: Math.floor(tokens / pageSize),
    max_kv_tokens: tokens,
    max_concurrency: concurrency,
    fits: error === null,
    error,
    uncertain_terms: uncertain,
    trace: trace.entries,
  };
}
