/**
 * What the engine reports about itself: model metadata, its own memory accounting (weights and KV pools measured
 * from the arrays it holds), latency statistics from the profiler, and prefix-cache statistics.
 */
import type { Engine } from './engine.js';

const MB = 1e6;

/** The calculator's name for the precision the engine holds weights and KV in. */
export const ENGINE_PRECISION = 'fp32';

/** The dtype config.json says the checkpoint is stored in (torch_dtype, or dtype in newer configs). */
export function checkpointDtype(e: Engine): string | null {
  const d = e.rawConfig['torch_dtype'] ?? e.rawConfig['dtype'];
  return typeof d === 'string' ? d : null;
}

export function modelInfo(e: Engine) {
  const c = e.config;
  return {
    model_name: e.name,
    model_type: c.modelType,
    family: c.family,
    parameters: e.model.weightBytes / 4,
    hidden_size: c.hiddenSize,
    num_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    intermediate_size: c.intermediateSize,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxPositions,
    max_model_len: e.maxModelLen,
    tie_word_embeddings: c.tiedEmbeddings,
    rope_theta: c.family === 'llama' ? c.ropeTheta : null,
    rope_scaling: c.ropeScaling,
    // The engine computes in fp32 whatever the checkpoint stores (onnxruntime's CPU kernels are fp32): the
    // calculator matches it with precision fp32 (`infersim memory --precision fp32`), not the checkpoint's dtype.
    dtype: 'float32',
    checkpoint_dtype: checkpointDtype(e),
    calculator_precision: ENGINE_PRECISION,
    device: 'cpu',
    backend:
      'onnxruntime-node (GEMMs, attention) + TypeScript (attention of layers under a research hook, KV cache, ' +
      'sampler, scheduler)',
    kv_block_size: e.cache.blockSize,
    kv_num_blocks: e.cache.numBlocks,
    max_num_seqs: e.scheduler.limits.maxNumSeqs,
    max_num_batched_tokens: e.scheduler.limits.maxBatchedTokens,
  };
}

export function memoryUsage(e: Engine) {
  const weights = e.model.weightBytes;
  const kvAllocated = e.cache.allocatedBytes;
  const kvUsed = e.blocks.numUsed * e.cache.blockSize * e.cache.bytesPerToken;
  const activation = e.peakActivationBytes;
  const rss = process.memoryUsage();
  return {
    model_weights_bytes: weights,
    kv_cache_bytes: kvUsed,
    kv_cache_allocated_bytes: kvAllocated,
    kv_bytes_per_token: e.cache.bytesPerToken,
    activation_bytes: activation,
    peak_memory_bytes: weights + kvAllocated + activation,
    model_weights_mb: weights / MB,
    kv_cache_mb: kvUsed / MB,
    kv_cache_allocated_mb: kvAllocated / MB,
    activation_mb: activation / MB,
    peak_memory_mb: (weights + kvAllocated + activation) / MB,
    kv_blocks_used: e.blocks.numUsed,
    kv_blocks_total: e.cache.numBlocks,
    process_rss_bytes: rss.rss,
    sliding_window: e.config.slidingWindow,
    // Blocks that fall wholly out of a sliding window are freed (block_manager.ts), so kv_cache_bytes is what
    // core/memory's kvCache counts for the same sequence lengths and block size.
    kv_window_freed: e.blocks.window !== null,
    notes:
      'weights and KV are measured from the engine’s arrays (fp32); activation_bytes is the largest step’s buffers ' +
      '(hidden, q/k/v, attention output, MLP, logits, attention scores and gathered K/V) from their shapes; ' +
      'peak = weights + KV pool + activations. ' +
      'onnxruntime keeps its own copy of the layer weights, visible in process_rss_bytes. With a sliding window ' +
      'the blocks wholly before a sequence’s window are freed (kv_window_freed), as the calculator counts them.',
  };
}

export function latencyStats(e: Engine) {
  const p = e.profiler;
  const ms = (op: string) => p.total(op);
  const count = (op: string) => p.totals.get(op)?.count ?? 0;
  const attention = ms('qkv_proj') + ms('attention');
  const output = ms('lm_head') + ms('sample') + ms('detokenize');
  const prefill = p.totals.get('step_prefill');
  const decode = p.totals.get('step_decode');
  return {
    tokenize_ms: ms('tokenize'),
    embed_ms: ms('embed'),
    attention_ms: attention,
    mlp_ms: ms('o_proj_mlp'),
    output_ms: output,
    total_ms: ms('tokenize') + ms('embed') + attention + ms('o_proj_mlp') + output,
    steps: e.steps,
    generated_tokens: e.generatedTokens,
    prefill_steps: prefill?.count ?? 0,
    decode_steps: decode?.count ?? 0,
    mean_prefill_step_ms: prefill ? prefill.totalMs / prefill.count : 0,
    mean_decode_step_ms: decode ? decode.totalMs / decode.count : 0,
    breakdown: {
      qkv_proj_ms: ms('qkv_proj'),
      attention_core_ms: ms('attention'),
      o_proj_mlp_ms: ms('o_proj_mlp'),
      lm_head_ms: ms('lm_head'),
      sample_ms: ms('sample'),
      detokenize_ms: ms('detokenize'),
      calls: { qkv_proj: count('qkv_proj'), attention: count('attention'), lm_head: count('lm_head') },
    },
    notes:
      'cumulative since start: attention = norm+QKV+RoPE graph + attention core (onnxruntime; TypeScript in layers under a capture or sparsity hook); mlp = O projection + ' +
      'MLP graph; output = LM head + sampling + detokenization',
  };
}

export function cacheStats(e: Engine) {
  const s = e.blocks.stats();
  return {
    hits: s.hits,
    misses: s.misses,
    hit_rate: s.hitRate,
    hit_tokens: s.hitTokens,
    lookups: s.lookups,
    block_size: e.cache.blockSize,
    total_blocks: e.cache.numBlocks,
    used_blocks: e.blocks.numUsed,
    free_blocks: e.blocks.numFree,
    cached_blocks: e.blocks.cachedBlocks,
    kv_cache_bytes: e.blocks.numUsed * e.cache.blockSize * e.cache.bytesPerToken,
    running_sequences: e.scheduler.running.length,
    waiting_sequences: e.scheduler.waiting.length,
    preemptions: e.scheduler.preemptions,
    notes:
      'a lookup is one full prompt block checked against the prefix cache (hash of its tokens and its prefix)',
  };
}
