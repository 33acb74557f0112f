/**
 * Saved activations of one transformer layer for one micro-batch on one device, after Korthikanti et al. 2022,
 * "Reducing Activation Recomputation in Large Transformer Models", derived term by term from the layer's shapes.
 */
import type { AttentionSpec, LayerGroup } from '../arch/spec.js';
import { kvHeadsPerDevice } from './kv.js';
import type { GroupProfile } from './training-profile.js';

// ---------------------------------------------------------------------------------------------------------------
// Activations of one layer (one micro-batch, one device), after Korthikanti et al. 2022, term by term.

export interface ActContext {
  s: number;
  b: number;
  h: number;
  tp: number;
  /** Bytes per saved activation element. */
  e: number;
  dropout: boolean;
  fused: boolean;
}

/** Terms split as in the paper: `rep` are hidden-sized tensors TP replicates (SP splits them), `split` are TP-split. */
interface ActTerms {
  rep: number;
  split: number;
  /** Attention core (scores, softmax, dropout; or flash's logsumexp): what selective recompute drops. */
  core: number;
}

function attentionTerms(a: AttentionSpec, c: ActContext, qkNorm: boolean): ActTerms {
  const { s, b, h, e } = c;
  const sb = s * b;
  const heads = a.numHeads / c.tp;
  const kvHeads = a.mla ? heads : kvHeadsPerDevice(a, c.tp);
  const mask = c.dropout ? 1 : 0;
  // QKV input (the norm's output) + the 1-byte dropout mask after the output projection.
  let rep = e * sb * h + mask * sb * h;
  // MLA: the compressed latents pass a norm and an up-projection: norm input + projection input.
  if (a.mla) rep += e * sb * 2 * (a.mla.kvLoraRank + (a.mla.qLoraRank ?? 0));
  // Q and K (for QKᵀ), V (for attention over V), the output projection's input (the attention context).
  let split = e * sb * (heads * a.headDim + kvHeads * a.headDim + kvHeads * a.vHeadDim + heads * a.vHeadDim);
  // q/k norms keep their inputs too (Qwen3, Gemma-3, OLMo-2).
  if (qkNorm) split += e * sb * (heads + kvHeads) * a.headDim;
  // Eager attention materialises the full s×s scores whatever the window; flash keeps one fp32 logsumexp per row.
  const core = c.fused ? 4 * sb * heads : e * heads * s * s * b + mask * (1 + e) * heads * s * s * b; // softmax output; dropout mask + dropout output
  return { rep, split, core };
}

function mlpInner(f: number, gated: boolean, c: ActContext): number {
  // Plain: activation input (fc output) and activation output (fc2 input). Gated (fused SwiGLU, as Megatron):
  // gate and up outputs and the down-projection input; act(gate) is recomputed in backward.
  return c.e * c.s * c.b * (f / c.tp) * (gated ? 3 : 2);
}

export function layerActivations(
  g: LayerGroup,
  gp: GroupProfile,
  c: ActContext,
  loraRanks: number,
): ActTerms {
  const { s, b, h, e } = c;
  const sb = s * b;
  const mask = c.dropout ? 1 : 0;
  const t: ActTerms = { rep: gp.normCount * e * sb * h, split: 0, core: 0 };
  for (const a of [g.attention, g.crossAttention]) {
    if (!a) continue;
    const at = attentionTerms(a, c, gp.qkNorm && a === g.attention);
    t.rep += at.rep;
    t.split += at.split;
    t.core += at.core;
  }
  const m = g.mlp;
  if (m) {
    // First linear's input + dropout mask after the MLP.
    t.rep += e * sb * h + mask * sb * h;
    if (m.kind === 'dense') t.split += mlpInner(m.intermediateSize, m.gated, c);
    else {
      // Router logits in fp32; each token is dispatched to top-k experts: its copy (expert input) and the expert's
      // output (kept for the routing-weight gradient) per route, plus the expert MLP internals per route.
      t.rep += 4 * sb * m.numExperts + 2 * m.topK * e * sb * h;
      t.split += m.topK * mlpInner(m.expertIntermediateSize, m.gated, c);
      if (m.sharedIntermediateSize > 0) t.split += mlpInner(m.sharedIntermediateSize, m.gated, c);
    }
  }
  const ssm = g.ssm;
  if (ssm) {
    // Approximation: in_proj input; x and z (2·d_inner); the conv output fed to the scan (conv_dim); delta
    // (d_inner); the gated scan output = out_proj input (d_inner); mamba-1's B and C (2·d_state). The fused scan
    // kernels recompute the d_inner·d_state hidden states in backward, so none are kept.
    t.rep += e * sb * h + (ssm.kind === 'mamba1' ? e * sb * 2 * ssm.nGroups * ssm.dState : 0);
    t.split += (e * sb * (4 * ssm.dInner + ssm.convDim)) / c.tp;
  }
  // LoRA: the rank-sized output of A (B's input) per targeted module.
  t.rep += e * sb * loraRanks;
  return t;
}
