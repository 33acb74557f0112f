/**
 * The decoder-only transformer shared by most families (llama, mistral, qwen, gemma, phi3, olmo2, deepseek,
 * gpt-oss, llama4 text, ...). A family is a set of traits plus a per-layer plan; identical layers form one group.
 */
import type { ConfigReader } from './reader.js';
import type { AttentionSpec, DenseMlpSpec, LayerGroup, MlpSpec, MoeMlpSpec, Stack, Tensor } from './spec.js';
import {
  attentionKind,
  attentionTensors,
  linear,
  mlpTensors,
  moeTensors,
  norm,
  type AttentionTensorOptions,
  type MoeTensorOptions,
} from './tensors.js';

export interface DecoderTraits {
  attention: AttentionTensorOptions;
  mlpBias: boolean;
  /** LayerNorm (with bias) or RMSNorm. */
  normBias: boolean;
  /** Names of the norms inside one layer. */
  layerNorms: readonly string[];
  gated: boolean;
  activation: string;
  moe: MoeTensorOptions;
}

/** What differs from layer to layer. */
export interface LayerPlan {
  window: number | null;
  chunk: number | null;
  moe: boolean;
}

export interface DecoderDims {
  hidden: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vHeadDim: number;
  intermediate: number;
}

export const PRE_NORMS = ['input_layernorm', 'post_attention_layernorm'] as const;
export const SANDWICH_NORMS = [
  'input_layernorm',
  'post_attention_layernorm',
  'pre_feedforward_layernorm',
  'post_feedforward_layernorm',
] as const;

/** Reads the dimensions every decoder config has, under their several names. */
export function readDims(r: ConfigReader): DecoderDims {
  const hidden = r.int('hidden_size', 'n_embd', 'd_model');
  const numLayers = r.int('num_hidden_layers', 'n_layer', 'num_layers');
  const numHeads = r.int('num_attention_heads', 'n_head', 'num_heads');
  const numKvHeads = r.optInt(['num_key_value_heads', 'num_kv_heads'], numHeads);
  let headDim = r.optInt('head_dim', null);
  if (headDim === null) {
    // Only when the config has no head_dim: hidden / heads (peers take this even when head_dim is given).
    if (hidden % numHeads !== 0)
      r.invalid.push(`head_dim is absent and hidden_size is not divisible by heads`);
    headDim = Math.floor(hidden / numHeads);
  }
  if (numHeads % numKvHeads !== 0)
    r.invalid.push(`num_attention_heads must be a multiple of num_key_value_heads`);
  const intermediate = r.has('intermediate_size')
    ? r.int('intermediate_size')
    : r.optInt(['n_inner', 'ffn_hidden_size'], 4 * hidden);
  return { hidden, numLayers, numHeads, numKvHeads, headDim, vHeadDim: headDim, intermediate };
}

export function attentionSpec(d: DecoderDims, plan: LayerPlan): AttentionSpec {
  return {
    kind: attentionKind(d.numHeads, d.numKvHeads),
    numHeads: d.numHeads,
    numKvHeads: d.numKvHeads,
    headDim: d.headDim,
    vHeadDim: d.vHeadDim,
    window: plan.window,
    chunk: plan.chunk,
    mla: null,
    cross: false,
    causal: true,
  };
}

export interface DecoderBuild {
  dims: DecoderDims;
  traits: DecoderTraits;
  plans: readonly LayerPlan[];
  /** MoE block of MoE layers; null for dense models. */
  moe: MoeMlpSpec | null;
  /** Override the attention of every layer (MLA). */
  attention?: (plan: LayerPlan) => AttentionSpec;
  stack?: Stack;
}

/** Groups identical layers and lists each group's tensors. */
export function buildDecoderGroups(b: DecoderBuild): LayerGroup[] {
  const byKey = new Map<string, { plan: LayerPlan; layers: number[] }>();
  b.plans.forEach((plan, i) => {
    const key = `${plan.window}|${plan.chunk}|${plan.moe}`;
    const g = byKey.get(key);
    if (g) g.layers.push(i);
    else byKey.set(key, { plan, layers: [i] });
  });
  const dense: DenseMlpSpec = {
    kind: 'dense',
    gated: b.traits.gated,
    activation: b.traits.activation,
    intermediateSize: b.dims.intermediate,
  };
  const stack = b.stack ?? 'decoder';
  return [...byKey.values()].map(({ plan, layers }) => {
    const attention = b.attention ? b.attention(plan) : attentionSpec(b.dims, plan);
    const mlp: MlpSpec = plan.moe && b.moe ? b.moe : dense;
    const tensors: Tensor[] = [
      ...attentionTensors(attention, b.dims.hidden, b.traits.attention),
      ...(mlp.kind === 'moe'
        ? moeTensors(mlp, b.dims.hidden, b.traits.moe)
        : mlpTensors(mlp, b.dims.hidden, b.traits.mlpBias)),
      ...b.traits.layerNorms.flatMap((n) => norm(n, b.dims.hidden, b.traits.normBias)),
    ];
    const parts: string[] = [stack];
    if (plan.window !== null) parts.push('sliding');
    else if (plan.chunk !== null) parts.push('chunked');
    if (plan.moe && b.moe) parts.push('moe');
    return {
      name: parts.join('.'),
      stack,
      count: layers.length,
      layers,
      attention,
      crossAttention: null,
      mlp,
      ssm: null,
      tensors,
    };
  });
}

/** Token embedding, final norm and LM head (tied: counted once, in the embedding). */
export function decoderGlobals(
  hidden: number,
  vocab: number,
  tied: boolean,
  o: { normBias: boolean; lmHeadBias?: boolean; finalNorm?: string | null },
): Tensor[] {
  const t: Tensor[] = [{ name: 'embed_tokens.weight', shape: [vocab, hidden], role: 'embedding' }];
  const fn = o.finalNorm === undefined ? 'norm' : o.finalNorm;
  if (fn) t.push(...norm(fn, hidden, o.normBias));
  if (!tied) t.push(...linear('lm_head', vocab, hidden, 'lm_head', o.lmHeadBias ?? false));
  else if (o.lmHeadBias) t.push({ name: 'lm_head.bias', shape: [vocab], role: 'lm_head' });
  return t;
}

/** Per-layer attention kinds from `layer_types` when the config lists them. */
export function plansFromLayerTypes(
  r: ConfigReader,
  numLayers: number,
  window: number | null,
  chunk: number | null,
): (LayerPlan | null)[] | null {
  const types = r.array('layer_types');
  if (!types) return null;
  if (types.length !== numLayers) {
    r.invalid.push(`layer_types has ${types.length} entries but num_hidden_layers is ${numLayers}`);
    return null;
  }
  return types.map((t) => {
    if (t === 'sliding_attention') return { window, chunk: null, moe: false };
    if (t === 'chunked_attention') return { window: null, chunk, moe: false };
    if (t === 'full_attention') return { window: null, chunk: null, moe: false };
    return null;
  });
}
