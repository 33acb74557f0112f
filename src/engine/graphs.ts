/**
 * The ONNX graphs of one model, built from its config and weights. Granularity: per layer, two graphs around the
 * attention core, so the core can run either in TypeScript (paged KV, score capture, sparsity masks: attention.ts)
 * or, when no research hook wants the layer's probabilities, in one weightless graph shared by all layers:
 *   attn_in   : x → norm → fused QKV GEMM → [qk-norm] → [RoPE] → q, k, v
 *   attention : q, gathered K/V context, additive mask → softmax(q·kᵀ/√d + mask)·v (GQA by broadcasting)
 *   attn_out  : x, attention output → O GEMM + residual → norm → MLP → + residual → x'
 *   head      : x rows → final norm → LM head GEMM → logits
 * Weights are used in their checkpoint layout (GPT-2's Conv1D [in, out] with transB = 0, nn.Linear [out, in] with
 * transB = 1: onnxruntime prepacks either, equally fast), so an fp32 checkpoint's tensors are external data read by
 * onnxruntime from the file (onnx/graph.ts); only llama's fused q/k/v and gate/up are stacked in JavaScript.
 */
import type { ModelConfig } from './config.js';
import { GraphBuilder } from './onnx/graph.js';
import type { LayerWeights, Mat, ModelWeights } from './weights.js';

/** Matrices stacked by rows (each `data` read once: it may come from the file on every access). */
function concatRows(ms: Mat[]): Float32Array {
  const out = new Float32Array(ms.reduce((a, m) => a + m.shape.reduce((x, y) => x * y, 1), 0));
  let o = 0;
  for (const m of ms) {
    const d = m.data;
    out.set(d, o);
    o += d.length;
  }
  return out;
}

/** Per-head RMSNorm (qwen3) over [T, heads, headDim]. */
function headNorm(g: GraphBuilder, x: string, w: Mat, c: ModelConfig, name: string): string {
  return g.rmsNorm(x, g.weight(name, w, [c.headDim]), c.normEps);
}

/** Half-split rotation: [x1, x2] → [x1·cos − x2·sin, x2·cos + x1·sin]. */
function rope(g: GraphBuilder, x: string, cos: string, sin: string, half: number): string {
  const [x1, x2] = g.split(x, [half, half], -1) as [string, string];
  const a = g.op('Sub', [g.mul(x1, cos), g.mul(x2, sin)]);
  const b = g.add(g.mul(x2, cos), g.mul(x1, sin));
  return g.concat([a, b], -1);
}

export function attnInGraph(
  c: ModelConfig,
  l: LayerWeights,
  i: number,
  folder: string | null = null,
): Uint8Array {
  const g = new GraphBuilder(`layer${i}.attn_in`, folder);
  const H = c.hiddenSize;
  const qd = c.numHeads * c.headDim;
  const kvd = c.numKvHeads * c.headDim;
  const x = g.input('x', ['T', H]);
  let h: string;
  let qkv: string;
  if (c.family === 'gpt2') {
    h = g.layerNorm(x, g.weight('ln1.w', l.norm1, [H]), g.weight('ln1.b', l.norm1Bias!, [H]), c.normEps);
    const w = g.weight('c_attn.w', l.qkv[0]!, [H, 3 * H]);
    qkv = g.gemm(h, w, g.weight('c_attn.b', l.qkvBias![0]!, [3 * H]), false);
  } else {
    h = g.rmsNorm(x, g.weight('ln1.w', l.norm1, [H]), c.normEps);
    const w = g.weight('qkv.w', concatRows(l.qkv), [qd + 2 * kvd, H]);
    const b = l.qkvBias ? g.weight('qkv.b', concatRows(l.qkvBias), [qd + 2 * kvd]) : null;
    qkv = g.gemm(h, w, b, true);
  }
  const split = g.split(qkv, [qd, kvd, kvd], 1) as [string, string, string];
  let q = split[0];
  let k = split[1];
  const v = split[2];
  if (c.family === 'llama') {
    const cos = g.input('cos', ['T', 1, c.headDim / 2]);
    const sin = g.input('sin', ['T', 1, c.headDim / 2]);
    q = g.reshape(q, [-1, c.numHeads, c.headDim]);
    k = g.reshape(k, [-1, c.numKvHeads, c.headDim]);
    if (l.qNorm && l.kNorm) {
      q = headNorm(g, q, l.qNorm, c, 'q_norm.w');
      k = headNorm(g, k, l.kNorm, c, 'k_norm.w');
    }
    q = g.reshape(rope(g, q, cos, sin, c.headDim / 2), [-1, qd]);
    k = g.reshape(rope(g, k, cos, sin, c.headDim / 2), [-1, kvd]);
  }
  g.output(q, 'q', ['T', qd]);
  g.output(k, 'k', ['T', kvd]);
  g.output(v, 'v', ['T', kvd]);
  return g.build();
}

/**
 * Scaled dot-product attention over padded sequences, no weights: q [B, T, heads·d], k and v [B, kvHeads, S, d]
 * (each sequence's context, gathered from the paged cache), mask [B, T, S] (0 where a query sees a key, a large
 * negative number elsewhere) → [B, T, heads·d]. Query head h reads KV head h / (heads / kvHeads), as attention.ts.
 */
export function attentionGraph(c: ModelConfig): Uint8Array {
  const g = new GraphBuilder('attention');
  const d = c.headDim;
  const nkv = c.numKvHeads;
  const group = c.numHeads / nkv;
  const q = g.input('q', ['B', 'T', c.numHeads * d]);
  const k = g.input('k', ['B', nkv, 'S', d]);
  const v = g.input('v', ['B', nkv, 'S', d]);
  const mask = g.input('mask', ['B', 'T', 'S']);
  // Queries [B, T, kv, group, d] → [B, kv, group, T, d]; keys and values [B, kv, 1, S, d], where one K/V head
  // serves its group of query heads by broadcasting.
  const qh = g.op('Transpose', [g.reshape(q, [0, 0, nkv, group, d])], { perm: [0, 2, 3, 1, 4] });
  const kh = g.op('Unsqueeze', [k, g.ints([2])]);
  const vh = g.op('Unsqueeze', [v, g.ints([2])]);
  // q·kᵀ/√d in one GEMM with kᵀ read in place (onnxruntime's FusedMatMul; a Transpose of k costs more than it).
  const scores = g.op(
    'FusedMatMul',
    [qh, kh],
    { transB: 1, alpha: { float: 1 / Math.sqrt(d) } },
    undefined,
    'com.microsoft',
  );
  const m = g.op('Unsqueeze', [mask, g.ints([1, 2])]); // [B, 1, 1, T, S]
  const p = g.op('Softmax', [g.add(scores, m)], { axis: -1 });
  const o = g.op('Transpose', [g.op('MatMul', [p, vh])], { perm: [0, 3, 1, 2, 4] }); // [B, T, kv, group, d]
  g.output(g.reshape(o, [0, 0, c.numHeads * d]), 'a', ['B', 'T', c.numHeads * d]);
  return g.build();
}

export function attnOutGraph(
  c: ModelConfig,
  l: LayerWeights,
  i: number,
  folder: string | null = null,
): Uint8Array {
  const g = new GraphBuilder(`layer${i}.attn_out`, folder);
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const qd = c.numHeads * c.headDim;
  const x = g.input('x', ['T', H]);
  const a = g.input('a', ['T', qd]);
  let out: string;
  if (c.family === 'gpt2') {
    const o = g.gemm(a, g.weight('c_proj.w', l.o, [H, H]), g.weight('c_proj.b', l.oBias!, [H]), false);
    const x2 = g.add(x, o);
    const h = g.layerNorm(
      x2,
      g.weight('ln2.w', l.norm2, [H]),
      g.weight('ln2.b', l.norm2Bias!, [H]),
      c.normEps,
    );
    const [fc, proj] = l.mlp as [Mat, Mat];
    const [fcb, projb] = l.mlpBias as [Mat, Mat];
    const up = g.gemm(h, g.weight('fc.w', fc, [H, I]), g.weight('fc.b', fcb, [I]), false);
    const act = g.activation(up, c.activation);
    out = g.add(x2, g.gemm(act, g.weight('proj.w', proj, [I, H]), g.weight('proj.b', projb, [H]), false));
  } else {
    const ob = l.oBias ? g.weight('o.b', l.oBias, [H]) : null;
    const x2 = g.add(x, g.gemm(a, g.weight('o.w', l.o, [H, qd]), ob, true));
    const h = g.rmsNorm(x2, g.weight('ln2.w', l.norm2, [H]), c.normEps);
    const [gate, up, down] = l.mlp as [Mat, Mat, Mat];
    const gu = g.gemm(h, g.weight('gate_up.w', concatRows([gate, up]), [2 * I, H]), null, true);
    const [gt, u] = g.split(gu, [I, I], 1) as [string, string];
    const act = g.mul(g.activation(gt, c.activation), u);
    out = g.add(x2, g.gemm(act, g.weight('down.w', down, [H, I]), null, true));
  }
  g.output(out, 'y', ['T', H]);
  return g.build();
}

/**
 * The LM head matrix is an input ('head_w' [vocab, H]), not an initializer: the model passes the array it already
 * holds (the embedding itself when tied), so the largest matrix is in memory once and never serialized (loading
 * it as an initializer held it three times over at its peak: the array, the protobuf, onnxruntime's copy).
 */
export function headGraph(c: ModelConfig, w: ModelWeights, folder: string | null = null): Uint8Array {
  const g = new GraphBuilder('head', folder);
  const H = c.hiddenSize;
  const x = g.input('x', ['N', H]);
  const hw = g.input('head_w', [c.vocabSize, H]);
  const nw = g.weight('norm.w', w.finalNorm, [H]);
  const h =
    c.family === 'gpt2'
      ? g.layerNorm(x, nw, g.weight('norm.b', w.finalNormBias!, [H]), c.normEps)
      : g.rmsNorm(x, nw, c.normEps);
  const logits = g.gemm(h, hw, null, true);
  g.output(logits, 'logits', ['N', c.vocabSize]);
  return g.build();
}
