/**
 * The attention core, in TypeScript over the paged KV cache: for each new token of each sequence, softmax(q·kᵀ/√d)
 * over its causal (and sliding-window) context, then the weighted sum of values. GQA maps query head h to KV head
 * h / (heads / kv_heads). Two research hooks act here, on the real probabilities: a capture of one layer's
 * attention rows, and a sparsity mask (top-k, threshold or ratio) that zeroes weights and renormalises. This is the
 * reference, and the path of every layer a hook acts on; attention_ort.ts runs the same computation in onnxruntime
 * for the others.
 */
import type { ModelConfig } from './config.js';
import type { KvCache } from './kv_cache.js';

export type SparsityMethod = 'top_k' | 'threshold' | 'ratio';

export interface SparsityMask {
  method: SparsityMethod;
  /** top_k: keys kept per query. */
  k: number;
  /** threshold: weights below it are dropped. */
  threshold: number;
  /** ratio: fraction of keys dropped (the smallest weights). */
  ratio: number;
  /** Layers it applies to; all when null. */
  layers: number[] | null;
}

export interface AttentionCapture {
  layer: number;
  /** rows[h][t] = probabilities of query t over its keys 0..pos, one array per head. */
  rows: Float32Array[][];
}

export interface AttentionHooks {
  capture: AttentionCapture | null;
  sparsity: SparsityMask | null;
  /** Counters for the mask's effect. */
  maskedWeights: number;
  totalWeights: number;
}

export interface AttentionItem {
  /** Index of this sequence's first new token in the flattened batch. */
  offset: number;
  /** Number of new tokens. */
  count: number;
  /** Absolute position of the first new token. */
  start: number;
  blockTable: readonly number[];
}

/**
 * A mask's identity as a string (null: no mask): sequences under equal masks share a forward and prefix-cache
 * blocks; under different masks they share neither, since a mask changes the K/V of every later layer.
 */
export function maskKey(m: SparsityMask | null): string | null {
  return m && `sparsity:${JSON.stringify([m.method, m.k, m.threshold, m.ratio, m.layers])}`;
}

/** The sparsity mask that applies to `layer`, if any. */
function maskFor(hooks: AttentionHooks | null, layer: number): SparsityMask | null {
  const m = hooks?.sparsity ?? null;
  return m && (!m.layers || m.layers.includes(layer)) ? m : null;
}

/**
 * Whether a research hook acts on `layer` (a capture of its probabilities or a sparsity mask): such a layer's
 * attention runs here, in TypeScript, where the hooks see and change the real probabilities. Other layers may run
 * the same computation in onnxruntime (attention_ort.ts).
 */
export function hooksActOn(hooks: AttentionHooks | null, layer: number): boolean {
  return maskFor(hooks, layer) !== null || hooks?.capture?.layer === layer;
}

/** Keep only the strongest weights of p[0..n) per the mask; renormalise. Returns how many were zeroed. */
export function applySparsity(p: Float32Array, n: number, m: SparsityMask): number {
  let keep: number;
  if (m.method === 'top_k') keep = Math.max(1, Math.min(n, m.k));
  else if (m.method === 'ratio') keep = Math.max(1, n - Math.floor(n * m.ratio));
  else keep = n;
  let cut = -Infinity;
  if (keep < n) {
    const sorted = Float32Array.from(p.subarray(0, n)).sort();
    cut = sorted[n - keep]!;
  }
  if (m.method === 'threshold') {
    let max = 0;
    for (let j = 0; j < n; j++) if (p[j]! > max) max = p[j]!;
    cut = Math.min(m.threshold, max);
  }
  let zeroed = 0;
  let kept = 0;
  let sum = 0;
  for (let j = 0; j < n; j++) {
    // Ties at the cut are kept only up to `keep` for top-k/ratio.
    if (p[j]! < cut || (p[j] === cut && kept >= keep)) {
      p[j] = 0;
      zeroed++;
    } else {
      kept++;
      sum += p[j]!;
    }
  }
  // A mask that drops nothing leaves the row exactly as it was.
  if (zeroed > 0 && sum > 0) for (let j = 0; j < n; j++) p[j] = p[j]! / sum;
  return zeroed;
}

/** Attention for layer `layer`: q [T, heads·d] against the cache → out [T, heads·d]. */
export function attend(
  c: ModelConfig,
  cache: KvCache,
  layer: number,
  q: Float32Array,
  items: readonly AttentionItem[],
  hooks: AttentionHooks | null,
): Float32Array {
  const d = c.headDim;
  const nh = c.numHeads;
  const group = nh / c.numKvHeads;
  const bs = cache.blockSize;
  const scale = 1 / Math.sqrt(d);
  const kp = cache.k[layer]!;
  const vp = cache.v[layer]!;
  const out = new Float32Array(q.length);
  const window = c.slidingWindow;
  const mask = maskFor(hooks, layer);
  const capture = hooks?.capture?.layer === layer ? hooks.capture : null;
  let maxCtx = 0;
  for (const it of items) maxCtx = Math.max(maxCtx, it.start + it.count);
  const p = new Float32Array(maxCtx);
  const base = new Int32Array(maxCtx);
  for (const it of items) {
    const ctx = it.start + it.count;
    // Offset of each position's K/V (KV head 0) in the pools, once per sequence.
    // (A block freed from the sliding window lies before every query's window: its positions are never read.)
    for (let j = 0; j < ctx; j++) {
      const block = it.blockTable[(j / bs) | 0]!;
      base[j] = block < 0 ? -1 : cache.offset(block * bs + (j % bs));
    }
    for (let t = 0; t < it.count; t++) {
      const pos = it.start + t;
      const from = window !== null ? Math.max(0, pos - window + 1) : 0;
      const n = pos + 1 - from;
      const qRow = (it.offset + t) * nh * d;
      for (let h = 0; h < nh; h++) {
        const qo = qRow + h * d;
        const kvo = ((h / group) | 0) * cache.headStride;
        let max = -Infinity;
        for (let j = 0; j < n; j++) {
          const ko = base[from + j]! + kvo;
          let s = 0;
          for (let e = 0; e < d; e++) s += q[qo + e]! * kp[ko + e]!;
          s *= scale;
          p[j] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let j = 0; j < n; j++) {
          const e = Math.exp(p[j]! - max);
          p[j] = e;
          sum += e;
        }
        for (let j = 0; j < n; j++) p[j] = p[j]! / sum;
        if (mask) {
          hooks!.maskedWeights += applySparsity(p, n, mask);
          hooks!.totalWeights += n;
        }
        if (capture) {
          const full = new Float32Array(pos + 1);
          full.set(p.subarray(0, n), from);
          (capture.rows[h] ??= []).push(full);
        }
        for (let j = 0; j < n; j++) {
          const w = p[j]!;
          if (w === 0) continue;
          const vo = base[from + j]! + kvo;
          for (let e = 0; e < d; e++) out[qo + e] = out[qo + e]! + w * vp[vo + e]!;
        }
      }
    }
  }
  return out;
}
