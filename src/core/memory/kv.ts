/**
 * KV cache and recurrent state, summed per layer group: 2 · kv_heads · head_dim · bytes per token per layer
 * (MLA: kv_lora_rank + qk_rope_head_dim, one latent shared by K and V), tokens capped by sliding windows and
 * attention chunks, SSM layers a constant state, cross-attention over the encoder tokens.
 */
import type { AttentionSpec, LayerGroup, ModelSpec, SsmSpec } from '../arch/spec.js';

/** KV heads one device holds under tensor parallelism: split, or one replicated head when kv_heads < tp. */
export function kvHeadsPerDevice(a: AttentionSpec, tp: number): number {
  if (a.kind === 'mla') return 1;
  return a.numKvHeads >= tp ? a.numKvHeads / tp : 1;
}

/**
 * Bytes of one token in one layer's cache on one device: what the layer's attention reads per cached token. A
 * KV-shared layer (Gemma 3n) reads an earlier layer's cache and stores none: kvCache skips it.
 */
export function kvBytesPerTokenLayer(a: AttentionSpec, kvBytes: number, tp: number): number {
  const own = a.mla
    ? (a.mla.kvLoraRank + a.mla.qkRopeHeadDim) * kvBytes
    : kvHeadsPerDevice(a, tp) * (a.headDim + a.vHeadDim) * kvBytes;
  return own + indexerBytesPerToken(a);
}

/**
 * A DSA indexer caches one key of index_head_dim per token and layer, whatever the KV dtype: vLLM's
 * DeepseekV32IndexerCache holds fp8 values plus one fp32 scale per 128 (uint8, head_dim + head_dim / 128 · 4).
 */
export function indexerBytesPerToken(a: AttentionSpec): number {
  if (!a.indexer) return 0;
  return a.indexer.headDim + Math.ceil(a.indexer.headDim / 128) * 4;
}

/** Tokens a layer keeps for a sequence of `seq` tokens: windows and chunks bound it. */
export function cachedTokens(a: AttentionSpec, seq: number): number {
  let t = seq;
  if (a.window !== null) t = Math.min(t, a.window);
  if (a.chunk !== null) t = Math.min(t, a.chunk);
  return t;
}

/**
 * Cached tokens one query attends to: windows and chunks bound it, and DSA (DeepSeek-V3.2, GLM-5) attends only the
 * top index_topk of them (an indexer layer's indexer itself still scores every cached key: indexerBytesPerToken).
 */
export function attendedTokens(a: AttentionSpec, context: number): number {
  const t = cachedTokens(a, context);
  return a.sparseTopK ? Math.min(t, a.sparseTopK) : t;
}

function roundUp(tokens: number, block: number | null): number {
  return block ? Math.ceil(tokens / block) * block : tokens;
}

/**
 * Token slots a layer's cache holds for a sequence of `seq` tokens. Unpaged: the tokens it keeps. Paged: whole
 * blocks, and under a sliding window w (seq > w) the blocks that positions seq − w … seq − 1 span, which is one more
 * than w / block when the window starts mid-block: a paged engine frees only the blocks wholly before the window
 * (vLLM's SlidingWindowManager; the reference engine's block_manager.ts).
 */
export function cachedSlots(a: AttentionSpec, seq: number, block: number | null): number {
  const kept = cachedTokens(a, seq);
  if (!block || a.window === null || kept !== a.window || kept === seq) return roundUp(kept, block);
  const first = seq - a.window;
  return (Math.floor((seq - 1) / block) - Math.floor(first / block) + 1) * block;
}

export interface KvOptions {
  batch: number;
  seq: number;
  kvBytes: number;
  tp: number;
  /** Paged engines allocate whole blocks of this many tokens per sequence. */
  blockSize: number | null;
  /** Which layers of the decoder are on this device (pipeline stage); all when null. */
  layerFilter: ((layer: number) => boolean) | null;
  /** Bytes of one SSM conv-state element (the model dtype); the SSM state itself is fp32. */
  stateBytes: number;
}

function layersOnDevice(g: LayerGroup, f: KvOptions['layerFilter']): number {
  if (!f) return g.count;
  let n = 0;
  for (const i of g.layers) if (f(i)) n++;
  return n;
}

export interface KvResult {
  kvCacheBytes: number;
  /** Per token at full attention (no window cap): the slope of KV against context length. */
  kvBytesPerToken: number;
  stateBytes: number;
}

/**
 * State of one sequence in one SSM layer on one device (TP splits the heads): the conv state keeps the last
 * d_conv − 1 inputs at `convBytes` each; the SSM state is fp32 (mamba1: d_inner·d_state, mamba2 and gated DeltaNet:
 * heads·head_dim·d_state).
 */
export function ssmStateBytes(s: SsmSpec, tp: number, convBytes: number): number {
  const shard = Math.max(1, tp);
  const conv = ((s.convDim * (s.dConv - 1)) / shard) * convBytes;
  const rec = s.kind === 'mamba1' ? s.dInner * s.dState : s.numHeads * s.headDim * s.dState;
  return conv + (rec / shard) * 4;
}

export function kvCache(spec: ModelSpec, o: KvOptions): KvResult {
  let kv = 0;
  let perToken = 0;
  let state = 0;
  for (const g of spec.groups) {
    if (g.stack !== 'decoder') continue;
    const n = layersOnDevice(g, o.layerFilter);
    if (n === 0) continue;
    if (g.attention && spec.structure !== 'encoder' && !g.attention.kvShared) {
      const per = kvBytesPerTokenLayer(g.attention, o.kvBytes, o.tp) * n;
      perToken += per;
      kv += per * o.batch * cachedSlots(g.attention, o.seq, o.blockSize);
    }
    if (g.crossAttention) {
      const per = kvBytesPerTokenLayer(g.crossAttention, o.kvBytes, o.tp) * n;
      kv += per * o.batch * roundUp(o.seq, o.blockSize);
    }
    if (g.ssm) state += ssmStateBytes(g.ssm, o.tp, o.stateBytes) * n * o.batch;
  }
  return { kvCacheBytes: kv, kvBytesPerToken: perToken, stateBytes: state };
}
