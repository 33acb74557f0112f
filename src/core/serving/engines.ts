/**
 * The scheduling policy of each engine, as the settings that change the simulated numbers. Defaults are the
 * engines' own (sources beside each); every one can be overridden.
 */

export type EngineId = 'vllm' | 'sglang' | 'trtllm';
export const ENGINE_IDS: readonly EngineId[] = ['vllm', 'sglang', 'trtllm'];

export interface EngineConfig {
  engine: EngineId;
  /** Most sequences running at once per attention-DP rank (vLLM max_num_seqs, SGLang max_running_requests,
   * TensorRT-LLM max_batch_size). */
  maxRunning: number;
  /** Token budget of one step (vLLM max_num_batched_tokens, TensorRT-LLM max_num_tokens; SGLang: the prefill
   * batch's budget, chunked_prefill_size when chunking, else max_prefill_tokens). */
  maxStepTokens: number;
  /** Whether a prompt may be split over several steps. */
  chunkedPrefill: boolean;
  /** Whether prefill chunks and decodes share a step (vLLM and TensorRT-LLM always; SGLang only with
   * --enable-mixed-chunk). */
  mixed: boolean;
  /** KV cache granularity in tokens (vLLM block_size, SGLang page_size, TensorRT-LLM tokens_per_block). */
  blockTokens: number;
  /**
   * How KV is reserved at admission:
   * - 'current': the tokens known now; preempt by recompute when blocks run out (vLLM V1).
   * - 'full': prompt + every output token reserved up front, never preempted (TensorRT-LLM GUARANTEED_NO_EVICT).
   * - 'ratio': prompt + a decaying fraction of the outputs still to come (SGLang new_token_ratio).
   */
  reservation: 'current' | 'full' | 'ratio';
  prefixCaching: boolean;
}

/**
 * vLLM V1 (vllm/v1/core/sched/scheduler.py; defaults in vllm/engine/arg_utils.py get_batch_defaults):
 * running requests are scheduled first (decode first), then waiting ones in the remaining token budget, with chunked
 * prefill always on; when allocate_slots fails the newest running request is preempted (`self.running.pop()`),
 * its KV freed and recomputed later. On GPUs of 70 GiB or more (not A100) the API server defaults are
 * max_num_batched_tokens 8192 and max_num_seqs 1024; smaller GPUs 2048 and 256. Block size 16, prefix caching on.
 */
export function vllmDefaults(deviceBytes: number): EngineConfig {
  const big = deviceBytes >= 70 * 2 ** 30;
  return {
    engine: 'vllm',
    maxRunning: big ? 1024 : 256,
    maxStepTokens: big ? 8192 : 2048,
    chunkedPrefill: true,
    mixed: true,
    blockTokens: 16,
    reservation: 'current',
    prefixCaching: true,
  };
}

/**
 * SGLang (python/sglang/srt/managers/scheduler.py get_next_batch_to_run; schedule_policy.py PrefillAdder):
 * prefill has priority: when a new prefill batch can be formed it runs alone and the running decodes wait that step,
 * unless --enable-mixed-chunk. Admission reserves prompt + min(max_new_tokens, 4096) · new_token_ratio for every
 * running request (SGLANG_INIT_NEW_TOKEN_RATIO 0.7, min factor 0.14, decay over 600 steps; environ.py). KV pool at
 * token granularity (page_size 1); radix prefix cache on. chunked_prefill_size by GPU memory (server_args.py):
 * 2048 under 35 GiB, 8192 under 160 GiB (H100, H200), 16384 above (B200, B300, GB200, GB300); max_running_requests
 * bounded by the pool.
 */
export function sglangDefaults(deviceBytes: number): EngineConfig {
  const gib = deviceBytes / 2 ** 30;
  return {
    engine: 'sglang',
    maxRunning: 4096,
    maxStepTokens: gib < 35 ? 2048 : gib < 160 ? 8192 : 16384,
    chunkedPrefill: true,
    mixed: false,
    blockTokens: 1,
    reservation: 'ratio',
    prefixCaching: true,
  };
}

/**
 * TensorRT-LLM PyTorch backend (docs: torch/scheduler.html, SchedulerConfig; performance tuning guide "Capacity
 * Scheduler Policy"): in-flight batching mixes context and generation requests in one step under max_num_tokens
 * (8192) and max_batch_size (2048); the default capacity policy GUARANTEED_NO_EVICT admits a request only when KV for
 * its prompt and all its output fits, so requests are never paused. Context chunking is on here (the serving
 * configs of the measured data enable it). tokens_per_block 32; block reuse (prefix caching) on.
 */
export function trtllmDefaults(): EngineConfig {
  return {
    engine: 'trtllm',
    maxRunning: 2048,
    maxStepTokens: 8192,
    chunkedPrefill: true,
    mixed: true,
    blockTokens: 32,
    reservation: 'full',
    prefixCaching: true,
  };
}

export function engineDefaults(engine: EngineId, deviceBytes: number): EngineConfig {
  return engine === 'vllm'
    ? vllmDefaults(deviceBytes)
    : engine === 'sglang'
      ? sglangDefaults(deviceBytes)
      : trtllmDefaults();
}

/** SGLang's admission estimate of the outputs still to come (environ.py defaults). */
export const SGLANG_RATIO = {
  init: 0.7,
  min: 0.7 * 0.14,
  decaySteps: 600,
  clipMaxNewTokens: 4096,
} as const;
