/**
 * The operator graph of one forward step, per device: GEMMs, attention, MoE router and experts, norms, embedding
 * and head, each with its FLOPs and the bytes it moves. A step is `tokens` new tokens per sequence over `context`
 * cached tokens (prefill: tokens = prompt, context = 0; decode: tokens = 1, context = length so far).
 */
import type { AttentionSpec, LayerGroup, ModelSpec } from '../arch/spec.js';
import type { WeightLayout } from '../memory/weights.js';
import { indexerBytesPerToken, kvBytesPerTokenLayer, kvHeadsPerDevice, ssmStateBytes } from '../memory/kv.js';

export type OpCategory =
  | 'attention_proj'
  | 'attention_core'
  | 'mlp'
  | 'experts'
  | 'router'
  | 'ssm'
  | 'norm'
  | 'embedding'
  | 'lm_head';

export interface Op {
  category: OpCategory;
  /** Which kind of peak bounds its math: GEMMs run on tensor cores, the rest is bandwidth work. */
  kind: 'gemm' | 'attention' | 'elementwise';
  flops: number;
  bytes: number;
  /** Kernel launches the op takes. */
  kernels: number;
  /**
   * Rows of the GEMM (tokens it multiplies; for grouped expert GEMMs the tokens one expert gets): small-M GEMMs
   * reach less of the peak (tile quantisation, too few blocks for the SMs), see efficiency.ts.
   */
  m: number;
  /** A grouped GEMM over the routed experts (its own efficiency curve). */
  grouped?: boolean;
}

/** Sequences that take `tokens` new tokens each over `context` cached ones (prefill: context 0; decode: tokens 1). */
export interface Segment {
  batch: number;
  tokens: number;
  context: number;
}

/** One forward step: one or more segments batched together (continuous batching mixes prefill and decode). */
export interface StepShape {
  segments: readonly Segment[];
  tp: number;
  /** Context parallel degree: prompt tokens and the KV cache are split over cp devices (1 without CP). */
  cp: number;
  ep: number;
  /** Layers of the decoder this device runs (a pipeline stage), as a fraction of the decoder (1 without PP). */
  layerShare: number;
  kvBytes: number;
  actBytes: number;
  /** Rows whose logits are computed (the last token of each sequence). */
  logitsRows: number;
  /**
   * Attention data-parallel ranks that share the MoE layers (SGLang/TensorRT-LLM "attention DP"): each rank
   * attends its own sequences; the experts see the tokens of all ranks. 1 (or absent) without it.
   */
  adp?: number;
  /** TP degree of the expert matrices (moe_tp); absent: the attention tp. Experts span moeTp · ep devices. */
  moeTp?: number;
  /** Tokens the experts see over all attention-DP ranks; absent: this rank's tokens on every rank (tokens · adp). */
  moeTokens?: number;
}

/** Keys attended in total by `q` new queries after `c` cached tokens, causal, with an optional window. */
export function attendedPairs(q: number, c: number, window: number | null): number {
  // Query j (1..q) sees c + j keys, capped by the window: sum of min(c + j, w).
  const w = window ?? Infinity;
  if (c + q <= w) return q * c + (q * (q + 1)) / 2;
  if (c >= w) return q * w;
  const free = w - c; // queries before the cap
  return free * c + (free * (free + 1)) / 2 + (q - free) * w;
}

/** Sequences in a step (decode sequences and prompts, whole or chunked). */
export function stepSequences(s: StepShape): number {
  let n = 0;
  for (const g of s.segments) n += g.batch;
  return n;
}

/** New tokens this device processes: prompt chunks are split over the CP group, decode tokens are not. */
export function stepTokens(s: StepShape): number {
  let t = 0;
  for (const g of s.segments) t += (g.batch * g.tokens) / (g.tokens > 1 ? s.cp : 1);
  return t;
}

/**
 * MLA runs two ways in vLLM, SGLang and TensorRT-LLM: prompt tokens as plain multi-head attention over K/V
 * up-projected from the latent (scores over qk_nope + rope = head_dim, values over v_head_dim), decode tokens in the
 * latent space with the up-projections absorbed (DeepSeek-V2 report §2.1.2: scores over kv_lora_rank + rope, values
 * over the latent), which costs 3.4× the FLOPs per pair for DeepSeek-V3 but reads only the latent cache. A DSA
 * model (DeepSeek-V3.2, GLM-5) attends in the latent space throughout, to at most index_topk keys per query, and its
 * indexer scores every cached key first (DeepSeek-V3.2-Exp report: sparse MLA in MQA mode, prefill and decode).
 */
function attentionDims(a: AttentionSpec, prompt: boolean): { qk: number; v: number } {
  if (!a.mla || (prompt && !a.sparseTopK)) return { qk: a.headDim, v: a.vHeadDim };
  return { qk: a.mla.kvLoraRank + a.mla.qkRopeHeadDim, v: a.mla.kvLoraRank };
}

function attentionOps(a: AttentionSpec, s: StepShape, weightBytes: number, params: number): Op[] {
  const T = stepTokens(s);
  const heads = a.numHeads / s.tp;
  const window = a.window ?? a.chunk;
  const ix = a.indexer ?? null;
  // The indexer's key cache is read by the indexer over every cached key; the attention reads at most top-k.
  const ixPerToken = indexerBytesPerToken(a);
  const perToken = kvBytesPerTokenLayer(a, s.kvBytes, s.tp) - ixPerToken;
  const attended = a.sparseTopK ? Math.min(window ?? Infinity, a.sparseTopK) : window;
  let flops = 0;
  let ctxRead = 0;
  let act = 0;
  let upProj = 0;
  let ixFlops = 0;
  let ixRead = 0;
  // Under CP each device attends its share of the query–key pairs and holds 1/cp of the cache.
  for (const g of s.segments) {
    const prompt = g.tokens > 1;
    const d = attentionDims(a, prompt);
    const pairs = (g.batch * attendedPairs(g.tokens, g.context, attended)) / s.cp;
    flops += 2 * pairs * heads * (d.qk + d.v);
    act += (g.batch * g.tokens * heads * (d.qk + d.v) * s.actBytes) / (prompt ? s.cp : 1);
    const seen = Math.min(g.context + g.tokens, window ?? Infinity);
    ctxRead += (g.batch * Math.min(seen, attended ?? Infinity) * perToken) / s.cp;
    // MHA-mode MLA up-projects the cached latent of earlier chunks to K and V before attending to it.
    if (a.mla && prompt && !a.sparseTopK && g.context > 0)
      upProj +=
        (2 * g.batch * g.context * a.mla.kvLoraRank * heads * (a.mla.qkNopeHeadDim + a.vHeadDim)) / s.cp;
    if (ix) {
      // One indexer per device (vLLM replicates it across TP ranks): its heads score every key in the window.
      ixFlops += (2 * g.batch * attendedPairs(g.tokens, g.context, window) * ix.numHeads * ix.headDim) / s.cp;
      ixRead += (g.batch * seen * ixPerToken) / s.cp;
    }
  }
  const projOut = a.mla
    ? heads * (a.headDim + a.vHeadDim)
    : heads * a.headDim + 2 * kvHeadsPerDevice(a, s.tp) * a.headDim;
  const ops: Op[] = [
    {
      category: 'attention_proj',
      kind: 'gemm',
      flops: 2 * T * params + upProj,
      bytes: weightBytes + T * projOut * s.actBytes,
      kernels: 4,
      m: T,
    },
    {
      category: 'attention_core',
      kind: 'attention',
      flops,
      bytes: ctxRead + act,
      kernels: 2,
      m: T,
    },
  ];
  if (ix)
    ops.push({
      category: 'attention_core',
      kind: 'attention',
      flops: ixFlops,
      bytes: ixRead,
      // Scoring and top-k selection.
      kernels: 2,
      m: T,
    });
  return ops;
}

interface GroupParams {
  /** Per layer: K/V projection weights (split only down to one KV head) and the other weights by role. */
  kv: number;
  byRole: Partial<Record<string, number>>;
}

const paramCache = new WeakMap<LayerGroup, GroupParams>();

function groupParams(g: LayerGroup): GroupParams {
  let p = paramCache.get(g);
  if (p) return p;
  p = { kv: 0, byRole: {} };
  for (const t of g.tensors) {
    if (t.shape.length < 2 || t.name.endsWith('.bias')) continue;
    const size = t.shape.reduce((x, y) => x * y, 1);
    if (t.role === 'attention' && /(k_proj|v_proj)\./.test(t.name)) p.kv += size;
    else p.byRole[t.role] = (p.byRole[t.role] ?? 0) + size;
  }
  paramCache.set(g, p);
  return p;
}

/** Weights per device of a group's matrices of one role, for GEMM FLOPs (2 per multiply-accumulate). */
function matrixParams(
  g: LayerGroup,
  tp: number,
  role: 'attention' | 'mlp' | 'expert' | 'shared_expert' | 'ssm',
): number {
  const p = groupParams(g);
  const own = (p.byRole[role] ?? 0) / tp;
  return role === 'attention' && g.attention ? own + p.kv / Math.min(tp, g.attention.numKvHeads) : own;
}

/** Distinct experts that T routed tokens touch: E · (1 − (1 − k/E)^T). */
export function expertsTouched(experts: number, topK: number, tokens: number): number {
  return experts * (1 - Math.pow(1 - topK / experts, tokens));
}

function pushScaled(ops: Op[], layers: number, o: Op): void {
  o.flops *= layers;
  o.bytes *= layers;
  o.kernels *= layers;
  ops.push(o);
}

export function stepOps(spec: ModelSpec, layout: WeightLayout, s: StepShape): Op[] {
  const ops: Op[] = [];
  const T = stepTokens(s);
  for (let gi = 0; gi < spec.groups.length; gi++) {
    const g = spec.groups[gi]!;
    if (g.stack === 'vision') continue; // vision towers run once per image, not per step
    const layers = g.count * s.layerShare;
    const w = layout.groups[gi]!;
    const sr = w.splitByRole;
    for (const a of [g.attention, g.crossAttention]) {
      if (!a) continue;
      const kvShard = a.kind !== 'mla' ? Math.min(s.tp, a.numKvHeads) : s.tp;
      const share = g.crossAttention ? 0.5 : 1;
      for (const o of attentionOps(
        a,
        s,
        ((sr.attention ?? 0) / s.tp + w.kvProj / kvShard) * share,
        matrixParams(g, s.tp, 'attention') * share,
      ))
        pushScaled(ops, layers, o);
    }
    const m = g.mlp;
    if (m?.kind === 'dense') {
      pushScaled(ops, layers, {
        category: 'mlp',
        kind: 'gemm',
        flops: 2 * T * matrixParams(g, s.tp, 'mlp'),
        bytes: (sr.mlp ?? 0) / s.tp + T * (m.intermediateSize / s.tp) * (m.gated ? 3 : 2) * s.actBytes,
        kernels: m.gated ? 3 : 2,
        m: T,
      });
    } else if (m?.kind === 'moe') {
      // Under attention DP the experts see the tokens of every rank, spread over moeTp · ep devices.
      const moeTp = s.moeTp ?? s.tp;
      const Tm = s.moeTokens ?? T * (s.adp ?? 1);
      const perExpert = w.expert / m.numExperts / moeTp;
      // Bytes: every expert the step's tokens touch is read once; FLOPs: each token runs top-k experts.
      const touched = Math.min(m.numExperts / s.ep, expertsTouched(m.numExperts, m.topK, Tm) / s.ep);
      const expertParams = matrixParams(g, moeTp, 'expert') / m.numExperts;
      pushScaled(ops, layers, {
        category: 'router',
        kind: 'elementwise',
        flops: 2 * T * m.numExperts * spec.hiddenSize,
        bytes: w.replicated + T * m.numExperts * 4,
        kernels: 2,
        m: T,
      });
      pushScaled(ops, layers, {
        category: 'experts',
        kind: 'gemm',
        flops: (2 * Tm * m.topK * expertParams) / s.ep,
        bytes:
          touched * perExpert + ((Tm * m.topK * (m.expertIntermediateSize / moeTp) * 3) / s.ep) * s.actBytes,
        kernels: 3,
        // Tokens one expert gets: T·k/E (decode: a handful, so the grouped GEMM is weight-bandwidth bound).
        m: (Tm * m.topK) / m.numExperts,
        grouped: true,
      });
      const shared = matrixParams(g, s.tp, 'shared_expert');
      if (shared > 0) {
        pushScaled(ops, layers, {
          category: 'experts',
          kind: 'gemm',
          flops: 2 * T * shared,
          bytes: (sr.shared_expert ?? 0) / s.tp + T * spec.hiddenSize * 2 * s.actBytes,
          kernels: 1,
          m: T,
        });
      }
    }
    if (g.ssm) {
      pushScaled(ops, layers, {
        category: 'ssm',
        kind: 'gemm',
        flops: 2 * T * matrixParams(g, s.tp, 'ssm') + 10 * T * (g.ssm.dInner / s.tp) * g.ssm.dState,
        // Each sequence of the step reads and writes its recurrent and conv state once (memory/kv.ts sizes).
        bytes:
          (sr.ssm ?? 0) / s.tp + w.replicated + 2 * stepSequences(s) * ssmStateBytes(g.ssm, s.tp, s.actBytes),
        kernels: 6,
        m: T,
      });
    }
    pushScaled(ops, layers, {
      category: 'norm',
      kind: 'elementwise',
      flops: 10 * T * spec.hiddenSize,
      bytes: 4 * T * spec.hiddenSize * s.actBytes,
      kernels: 2,
      m: T,
    });
  }
  ops.push({
    category: 'embedding',
    kind: 'elementwise',
    flops: 0,
    bytes: 2 * T * spec.hiddenSize * s.actBytes,
    kernels: 1,
    m: T,
  });
  const rows = s.logitsRows;
  ops.push({
    category: 'lm_head',
    kind: 'gemm',
    flops: (2 * rows * spec.vocabSize * spec.hiddenSize) / s.tp,
    bytes: (layout.headBytes || layout.embeddingBytes) / s.tp + (rows * spec.vocabSize * 4) / s.tp,
    kernels: 2,
    m: rows,
  });
  return ops;
}
