/**
 * Llama-shaped decoders: llama, mistral, mixtral, qwen2(_moe), qwen3(_moe), granite, olmo2, cohere, starcoder2,
 * phi3, phimoe, gemma, gemma2, gemma3_text, gpt_oss. Each is the shared decoder with its family's traits and
 * per-layer rules (sliding windows, MoE interleaving) as the transformers modelling code applies them.
 */
import { ConfigReader } from '../reader.js';
import type { ModelSpec, MoeMlpSpec } from '../spec.js';
import {
  buildDecoderGroups,
  decoderGlobals,
  plansFromLayerTypes,
  PRE_NORMS,
  readDims,
  SANDWICH_NORMS,
  type DecoderDims,
  type DecoderTraits,
  type LayerPlan,
} from './../decoder.js';
import { checkpointQuant } from './quant.js';

interface Family {
  traits: (r: ConfigReader) => DecoderTraits;
  /** transformers' default for tie_word_embeddings when the key is absent. */
  tieDefault: boolean;
  /** Sliding window of layer i when the config has no layer_types. */
  window?: (r: ConfigReader, i: number, numLayers: number) => number | null;
  /** Whether layer i is an MoE layer. */
  moeLayer?: (r: ConfigReader, i: number) => boolean;
  moe?: (r: ConfigReader, intermediate: number) => MoeMlpSpec;
  lmHeadBias?: (r: ConfigReader) => boolean;
  finalNorm?: string;
  /** The family's own reading of the sizes, where its config names them differently. */
  dims?: (r: ConfigReader) => DecoderDims;
}

const NO_MOE = { routerBias: false, expertBias: false, sharedExpertGate: false, routerCorrectionBias: false };

function base(r: ConfigReader, over: Partial<DecoderTraits> = {}): DecoderTraits {
  const bias = r.bool('attention_bias', false);
  return {
    attention: { qkvBias: bias, oBias: bias, qkNorm: null, sinks: false },
    mlpBias: r.bool('mlp_bias', false),
    normBias: false,
    layerNorms: PRE_NORMS,
    gated: true,
    activation: r.str('hidden_act', 'silu'),
    moe: NO_MOE,
    ...over,
  };
}

/** Mistral, Starcoder2, Phi-3: one sliding window on every layer when the config sets one. */
function everyLayerWindow(r: ConfigReader): number | null {
  return r.optInt('sliding_window', null);
}

/** Qwen2/Qwen3: the window applies only with use_sliding_window, from layer max_window_layers on. */
function qwenWindow(r: ConfigReader, i: number): number | null {
  if (!r.bool('use_sliding_window', false)) return null;
  return i >= r.optInt('max_window_layers', 0) ? r.optInt('sliding_window', null) : null;
}

function topK(r: ConfigReader): number {
  return r.int('num_experts_per_tok', 'experts_per_token', 'moe_topk');
}

function mixtralMoe(r: ConfigReader, intermediate: number): MoeMlpSpec {
  return {
    kind: 'moe',
    numExperts: r.int('num_local_experts', 'num_experts'),
    topK: topK(r),
    gated: true,
    activation: r.str('hidden_act', 'silu'),
    expertIntermediateSize: intermediate,
    sharedIntermediateSize: 0,
  };
}

function qwenMoe(r: ConfigReader): MoeMlpSpec {
  return {
    kind: 'moe',
    numExperts: r.int('num_experts'),
    topK: topK(r),
    gated: true,
    activation: r.str('hidden_act', 'silu'),
    expertIntermediateSize: r.int('moe_intermediate_size'),
    sharedIntermediateSize: r.optInt('shared_expert_intermediate_size', 0),
  };
}

function qwenMoeLayer(r: ConfigReader, i: number): boolean {
  const only = (r.array('mlp_only_layers') ?? []) as unknown[];
  const step = r.optInt('decoder_sparse_step', 1);
  return !only.includes(i) && r.optInt('num_experts', 0) > 0 && (i + 1) % Math.max(step, 1) === 0;
}

/**
 * Qwen v1 (model_type 'qwen', QWenLMHeadModel): head size is kv_channels, and intermediate_size is the width of
 * w1 and w2 together: each of the three MLP projections is intermediate_size / 2 wide (modeling_qwen.py QWenMLP).
 */
function qwenV1Dims(r: ConfigReader): DecoderDims {
  const d = readDims(r);
  const headDim = r.optInt('kv_channels', d.headDim);
  if (d.intermediate % 2 !== 0)
    r.invalid.push('intermediate_size must be even in Qwen v1 (w1 and w2 share it)');
  return { ...d, headDim, vHeadDim: headDim, intermediate: Math.floor(d.intermediate / 2) };
}

const gemmaAct = (r: ConfigReader) => r.str('hidden_activation', r.str('hidden_act', 'gelu_pytorch_tanh'));

export const LLAMA_FAMILIES: Record<string, Family> = {
  llama: { traits: (r) => base(r), tieDefault: false },
  granite: { traits: (r) => base(r), tieDefault: true },
  mistral: { traits: (r) => base(r), tieDefault: false, window: everyLayerWindow },
  mixtral: {
    traits: (r) => base(r),
    tieDefault: false,
    window: everyLayerWindow,
    moeLayer: () => true,
    moe: mixtralMoe,
  },
  qwen: {
    // c_attn (fused QKV) always has a bias; c_proj and the MLP have one only when no_bias is false.
    traits: (r) => {
      const b = !r.bool('no_bias', true);
      return base(r, { attention: { qkvBias: true, oBias: b, qkNorm: null, sinks: false }, mlpBias: b });
    },
    tieDefault: false,
    dims: qwenV1Dims,
  },
  qwen2: {
    traits: (r) => base(r, { attention: { qkvBias: true, oBias: false, qkNorm: null, sinks: false } }),
    tieDefault: false,
    window: qwenWindow,
  },
  qwen2_moe: {
    traits: (r) => ({
      ...base(r, {
        attention: { qkvBias: r.bool('qkv_bias', true), oBias: false, qkNorm: null, sinks: false },
      }),
      moe: { ...NO_MOE, sharedExpertGate: true },
    }),
    tieDefault: false,
    window: qwenWindow,
    moeLayer: qwenMoeLayer,
    moe: qwenMoe,
  },
  qwen3: {
    traits: (r) => {
      const b = r.bool('attention_bias', false);
      return base(r, { attention: { qkvBias: b, oBias: b, qkNorm: 'head', sinks: false } });
    },
    tieDefault: false,
    window: qwenWindow,
  },
  qwen3_moe: {
    traits: (r) => {
      const b = r.bool('attention_bias', false);
      return base(r, { attention: { qkvBias: b, oBias: b, qkNorm: 'head', sinks: false } });
    },
    tieDefault: false,
    window: qwenWindow,
    moeLayer: qwenMoeLayer,
    moe: qwenMoe,
  },
  olmo2: {
    traits: (r) => {
      const b = r.bool('attention_bias', false);
      return base(r, {
        attention: { qkvBias: b, oBias: b, qkNorm: 'full', sinks: false },
        layerNorms: ['post_attention_layernorm', 'post_feedforward_layernorm'],
      });
    },
    tieDefault: false,
  },
  cohere: {
    // Parallel attention and MLP behind one LayerNorm without bias; optional q/k LayerNorms over [heads, head_dim].
    traits: (r) => {
      const b = r.bool('attention_bias', false);
      return base(r, {
        attention: {
          qkvBias: b,
          oBias: b,
          qkNorm: r.bool('use_qk_norm', false) ? 'full' : null,
          sinks: false,
        },
        layerNorms: ['input_layernorm'],
      });
    },
    tieDefault: true,
  },
  starcoder2: {
    traits: (r) => {
      const b = r.bool('use_bias', true);
      return base(r, {
        attention: { qkvBias: b, oBias: b, qkNorm: null, sinks: false },
        mlpBias: b,
        normBias: true,
        gated: false,
        activation: r.str('hidden_act', 'gelu_pytorch_tanh'),
      });
    },
    tieDefault: true,
    window: everyLayerWindow,
  },
  phi3: { traits: (r) => base(r), tieDefault: false, window: everyLayerWindow },
  phimoe: {
    traits: (r) => {
      const b = r.bool('attention_bias', true);
      return base(r, { attention: { qkvBias: b, oBias: b, qkNorm: null, sinks: false }, normBias: true });
    },
    tieDefault: false,
    window: everyLayerWindow,
    moeLayer: () => true,
    moe: mixtralMoe,
    lmHeadBias: (r) => r.bool('lm_head_bias', false),
  },
  gemma: {
    traits: (r) => base(r, { activation: gemmaAct(r) }),
    tieDefault: true,
  },
  gemma2: {
    traits: (r) => base(r, { activation: gemmaAct(r), layerNorms: SANDWICH_NORMS }),
    tieDefault: true,
    // transformers Gemma2: even layers use the sliding window, odd layers are global.
    window: (r, i) => (i % 2 === 0 ? r.optInt('sliding_window', null) : null),
  },
  gemma3_text: {
    traits: (r) =>
      base(r, {
        activation: gemmaAct(r),
        layerNorms: SANDWICH_NORMS,
        attention: {
          qkvBias: r.bool('attention_bias', false),
          oBias: r.bool('attention_bias', false),
          qkNorm: 'head',
          sinks: false,
        },
      }),
    tieDefault: true,
    // Every sliding_window_pattern-th layer is global, the others slide.
    window: (r, i) =>
      (i + 1) % r.optInt('sliding_window_pattern', 6) !== 0 ? r.optInt('sliding_window', null) : null,
  },
  gpt_oss: {
    traits: (r) => ({
      ...base(r, { attention: { qkvBias: true, oBias: true, qkNorm: null, sinks: true } }),
      moe: { routerBias: true, expertBias: true, sharedExpertGate: false, routerCorrectionBias: false },
    }),
    tieDefault: false,
    window: (r, i) => (i % 2 === 0 ? r.optInt('sliding_window', null) : null),
    moeLayer: () => true,
    moe: (r, intermediate) => ({ ...mixtralMoe(r, intermediate), activation: 'swiglu_oai' }),
  },
};

export function readLlamaLike(
  r: ConfigReader,
  modelType: string,
  family: Family,
  warnings: string[],
): ModelSpec {
  const dims = family.dims ? family.dims(r) : readDims(r);
  const vocab = r.int('vocab_size');
  const traits = family.traits(r);
  const windowOf = family.window ?? (() => null);
  const fromTypes = plansFromLayerTypes(r, dims.numLayers, r.optInt('sliding_window', null), null);
  const plans: LayerPlan[] = [];
  for (let i = 0; i < dims.numLayers; i++) {
    const window = fromTypes?.[i] ? fromTypes[i]!.window : windowOf(r, i, dims.numLayers);
    plans.push({ window, chunk: null, moe: family.moeLayer ? family.moeLayer(r, i) : false });
  }
  const moe = family.moe ? family.moe(r, dims.intermediate) : null;
  const tied = r.bool('tie_word_embeddings', family.tieDefault);
  r.done(modelType);
  return {
    modelType,
    hiddenSize: dims.hidden,
    vocabSize: vocab,
    numLayers: dims.numLayers,
    maxPositionEmbeddings: r.optInt('max_position_embeddings', null),
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups: buildDecoderGroups({ dims, traits, plans, moe }),
    globalTensors: decoderGlobals(dims.hidden, vocab, tied, {
      normBias: traits.normBias,
      lmHeadBias: family.lmHeadBias ? family.lmHeadBias(r) : false,
      finalNorm: family.finalNorm,
    }),
    vision: null,
    checkpointQuant: checkpointQuant(r),
    torchDtype: r.str('torch_dtype', r.str('dtype', '')) || null,
    warnings,
  };
}
