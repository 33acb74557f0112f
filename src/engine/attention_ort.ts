/**
 * Attention in onnxruntime (graphs.ts attentionGraph), for layers no research hook is watching: the same
 * softmax(q·kᵀ/√d)·v over each sequence's causal (and sliding-window) context as attention.ts, on padded batches.
 * A step is planned once and reused by every layer: each sequence's new tokens are cut into query chunks, and
 * chunks are grouped into runs whose score tensor (runs × queries × keys × heads) stays under a fixed budget, so a
 * long prompt never materialises a quadratic buffer larger than that. Runs execute one after another through one
 * set of buffers: the mask, and the K/V context gathered from the paged cache (written before, new tokens
 * included) into [part, kv head, key, head dim], whole block-head slabs in the layout the graph multiplies by.
 */
import * as ort from 'onnxruntime-node';
import type { AttentionItem } from './attention.js';
import type { ModelConfig } from './config.js';
import type { KvCache } from './kv_cache.js';

/** Score elements one run may hold (16 MiB of fp32 scores; the softmax output is as large again). */
export const ATTENTION_SCORE_BUDGET = 4 * 2 ** 20;

/** What the mask gives a key a query must not see: softmax turns it into a zero weight. */
const MASKED = -1e30;

/**
 * Gathered contexts are padded (masked) to a multiple of this many keys. onnxruntime pays ~20 ms the first time a
 * session sees an input shape, and a decode step's context grows by one token: unpadded, every step would pay it.
 */
export const KEY_BUCKET = 64;

interface Run {
  /** Query chunks, each a sequence's consecutive new tokens. */
  parts: AttentionItem[];
  /** Queries and keys per part after padding. */
  T: number;
  S: number;
  /** The parts' queries are consecutive rows of the step's q (same count, in order): no padding copy. */
  qInPlace: boolean;
}

/**
 * Buffers kept from step to step (grow-only): fresh multi-megabyte arrays cost a page fault per 4 KiB page on
 * first touch, which measured ~30 ms per decode step here. A forward takes the model's scratch and gives it back.
 */
export class AttentionScratch {
  mask = new Float32Array(0);
  k = new Float32Array(0);
  v = new Float32Array(0);

  /** Room for `mask` and `kv` floats each; the contents are left as they are (anything). */
  fit(mask: number, kv: number): void {
    if (this.mask.length < mask) this.mask = new Float32Array(mask);
    if (this.k.length < kv) {
      this.k = new Float32Array(kv);
      this.v = new Float32Array(kv);
    }
  }
}

export interface AttentionPlan {
  runs: Run[];
  /** Rows of the step (its new tokens). */
  tokens: number;
  scratch: AttentionScratch;
  /** With one run, its mask and padding are set up by the first layer and kept by the others. */
  prepared: Run | null;
  /**
   * Bytes of the attention buffers the step holds at once, from their shapes: the largest run's mask, gathered
   * K/V, scores and probabilities, padded queries and output.
   */
  bytes: number;
}

export function planAttention(
  c: ModelConfig,
  items: readonly AttentionItem[],
  budget = ATTENTION_SCORE_BUDGET,
  scratch = new AttentionScratch(),
): AttentionPlan {
  const nh = c.numHeads;
  const parts: AttentionItem[] = [];
  let tokens = 0;
  for (const it of items) {
    tokens += it.count;
    const chunk = Math.max(1, Math.floor(budget / (nh * (it.start + it.count))));
    for (let t = 0; t < it.count; t += chunk)
      parts.push({ ...it, offset: it.offset + t, start: it.start + t, count: Math.min(chunk, it.count - t) });
  }
  const runs: Run[] = [];
  let group: AttentionItem[] = [];
  let T = 0;
  let keys = 0;
  const close = () => {
    const qInPlace = group.every((p, b) => p.count === T && p.offset === group[0]!.offset + b * T);
    runs.push({ parts: group, T, S: Math.ceil(keys / KEY_BUCKET) * KEY_BUCKET, qInPlace });
    group = [];
    T = keys = 0;
  };
  for (const p of parts) {
    const t = Math.max(T, p.count);
    const s = Math.max(keys, p.start + p.count);
    if (group.length && (group.length + 1) * t * s * nh > budget) close();
    group.push(p);
    T = Math.max(T, p.count);
    keys = Math.max(keys, p.start + p.count);
  }
  if (group.length) close();
  let mask = 0;
  let kv = 0;
  let largest = 0;
  const row = c.numKvHeads * c.headDim;
  for (const r of runs) {
    const B = r.parts.length;
    mask = Math.max(mask, B * r.T * r.S);
    kv = Math.max(kv, B * r.S * row);
    largest = Math.max(largest, B * r.T * (2 * nh * r.S + 2 * nh * c.headDim));
  }
  scratch.fit(mask, kv);
  return { runs, tokens, scratch, prepared: null, bytes: 4 * (mask + 2 * kv + largest) };
}

/** The run's mask, and zeros in its padding keys (which must be finite: a huge key makes an infinite score). */
function prepare(c: ModelConfig, r: Run, s: AttentionScratch): void {
  const { T, S } = r;
  const d = c.headDim;
  const mask = s.mask.subarray(0, r.parts.length * T * S).fill(MASKED);
  const window = c.slidingWindow;
  r.parts.forEach((p, b) => {
    for (let t = 0; t < T; t++) {
      const o = (b * T + t) * S;
      if (t >= p.count) {
        mask[o] = 0; // a padding query: any finite row will do, its output is dropped
        continue;
      }
      const pos = p.start + t;
      const from = window !== null ? Math.max(0, pos - window + 1) : 0;
      mask.fill(0, o + from, o + pos + 1);
    }
    for (let h = 0; h < c.numKvHeads; h++) {
      const head = (b * c.numKvHeads + h) * S;
      s.k.fill(0, (head + p.start + p.count) * d, (head + S) * d);
      s.v.fill(0, (head + p.start + p.count) * d, (head + S) * d);
    }
  });
}

const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);

/** Attention of `layer` for the planned step: q [tokens, heads·d] → [tokens, heads·d]. */
export async function runAttention(
  session: ort.InferenceSession,
  c: ModelConfig,
  plan: AttentionPlan,
  cache: KvCache,
  layer: number,
  q: Float32Array,
): Promise<Float32Array> {
  const qd = c.numHeads * c.headDim;
  const d = c.headDim;
  const nkv = c.numKvHeads;
  const bs = cache.blockSize;
  const kp = cache.k[layer]!;
  const vp = cache.v[layer]!;
  const s = plan.scratch;
  const single = plan.runs.length === 1 ? plan.runs[0]! : null;
  const out =
    single?.qInPlace && single.parts.length * single.T === plan.tokens
      ? null
      : new Float32Array(plan.tokens * qd);
  for (const r of plan.runs) {
    const B = r.parts.length;
    const first = r.parts[0]!.offset;
    if (plan.prepared !== r) prepare(c, r, s);
    if (single) plan.prepared = r;
    let qIn: Float32Array;
    if (r.qInPlace) qIn = q.subarray(first * qd, (first + B * r.T) * qd);
    else {
      qIn = new Float32Array(B * r.T * qd);
      r.parts.forEach((p, b) => qIn.set(q.subarray(p.offset * qd, (p.offset + p.count) * qd), b * r.T * qd));
    }
    r.parts.forEach((p, b) => {
      const ctx = p.start + p.count;
      for (let j = 0; j * bs < ctx; j++) {
        const n = Math.min(bs, ctx - j * bs) * d;
        const block = p.blockTable[j]!;
        for (let h = 0; h < nkv; h++) {
          const to = ((b * nkv + h) * r.S + j * bs) * d;
          // A block freed from the sliding window lies wholly before it, so it is masked: zeros stand in.
          if (block < 0) {
            s.k.fill(0, to, to + n);
            s.v.fill(0, to, to + n);
            continue;
          }
          const from = block * cache.blockStride + h * cache.headStride;
          s.k.set(kp.subarray(from, from + n), to);
          s.v.set(vp.subarray(from, from + n), to);
        }
      }
    });
    const kv = B * nkv * r.S * d;
    const res = await session.run({
      q: f32(qIn, [B, r.T, qd]),
      k: f32(s.k.subarray(0, kv), [B, nkv, r.S, d]),
      v: f32(s.v.subarray(0, kv), [B, nkv, r.S, d]),
      mask: f32(s.mask.subarray(0, B * r.T * r.S), [B, r.T, r.S]),
    });
    const a = res['a']!.data as Float32Array;
    if (!out) return a;
    if (r.qInPlace) out.set(a, first * qd);
    else
      r.parts.forEach((p, b) => out.set(a.subarray(b * r.T * qd, (b * r.T + p.count) * qd), p.offset * qd));
  }
  return out!;
}
