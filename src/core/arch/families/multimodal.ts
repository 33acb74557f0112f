/**
 * Vision-language wrappers: llava (CLIP + llama-like LM), qwen2_vl (its ViT + merger + qwen2), gemma3
 * (SigLIP + gemma3_text), llama4 (its ViT + MoE text model with chunked attention). The text model is read by the
 * llama-shaped reader; nested configs get transformers' class defaults for the keys they omit.
 */
import { ConfigReader, type RawConfig } from '../reader.js';
import type { LayerGroup, ModelSpec, MoeMlpSpec, Tensor, VisionSpec } from '../spec.js';
import { linear, norm, vector } from '../tensors.js';
import { buildDecoderGroups, decoderGlobals, PRE_NORMS, readDims, type LayerPlan } from '../decoder.js';
import { LLAMA_FAMILIES, readLlamaLike } from './llama.js';
import { checkpointQuant } from './quant.js';
import { dense, group, mha, range } from './layer.js';

const LLAMA_DEFAULTS: RawConfig = {
  model_type: 'llama',
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  vocab_size: 32000,
  max_position_embeddings: 2048,
};
const CLIP_DEFAULTS: RawConfig = {
  hidden_size: 768,
  intermediate_size: 3072,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  image_size: 224,
  patch_size: 32,
};
const SIGLIP_DEFAULTS: RawConfig = { ...CLIP_DEFAULTS, patch_size: 16 };
const GEMMA3_TEXT_DEFAULTS: RawConfig = {
  model_type: 'gemma3_text',
  vocab_size: 262208,
  hidden_size: 2304,
  intermediate_size: 9216,
  num_hidden_layers: 26,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  head_dim: 256,
  sliding_window: 4096,
  max_position_embeddings: 131072,
};

/** A nested config with its class defaults under the keys it omits; errors go to the parent's lists. */
function nested(parent: ConfigReader, key: string, defaults: RawConfig): ConfigReader {
  const sub = parent.sub(key);
  const r = new ConfigReader({ ...defaults, ...(sub?.raw ?? {}) }, `${key}.`);
  r.missing.push = (...items: string[]) => parent.missing.push(...items);
  r.invalid.push = (...items: string[]) => parent.invalid.push(...items);
  return r;
}

function textModel(r: ConfigReader, defaults: RawConfig): ModelSpec {
  const t = nested(r, 'text_config', defaults);
  const type = t.str('model_type', String(defaults['model_type']));
  const family = LLAMA_FAMILIES[type];
  const warnings = family ? [] : [`text_config.model_type '${type}' read as llama-like`];
  return readLlamaLike(t, type, family ?? LLAMA_FAMILIES['llama']!, warnings);
}

/** A ViT encoder layer (CLIP, SigLIP, Llama-4 vision): biased q/k/v/o and fc1/fc2, two LayerNorms. */
function vitLayer(
  h: number,
  inter: number,
  names: [string, string] = ['layer_norm1', 'layer_norm2'],
): Tensor[] {
  return [
    ...linear('self_attn.q_proj', h, h, 'vision', true),
    ...linear('self_attn.k_proj', h, h, 'vision', true),
    ...linear('self_attn.v_proj', h, h, 'vision', true),
    ...linear('self_attn.out_proj', h, h, 'vision', true),
    ...norm(names[0], h, true),
    ...linear('mlp.fc1', inter, h, 'vision', true),
    ...linear('mlp.fc2', h, inter, 'vision', true),
    ...norm(names[1], h, true),
  ].map((t) => ({ ...t, role: 'vision' as const }));
}

function visionGroup(v: ConfigReader, layer: Tensor[], depthKey = 'num_hidden_layers'): LayerGroup {
  const h = v.int('hidden_size', 'embed_dim');
  const heads = v.int('num_attention_heads', 'num_heads');
  const n = v.int(depthKey);
  return group(
    'vision',
    'vision',
    range(n),
    {
      attention: mha(heads, heads, h / heads, { causal: false }),
      mlp: dense(v.optInt('intermediate_size', 4 * h), false, 'gelu'),
    },
    layer,
  );
}

function combine(
  r: ConfigReader,
  modelType: string,
  text: ModelSpec,
  vg: LayerGroup,
  vt: Tensor[],
  vision: VisionSpec,
): ModelSpec {
  r.done(modelType);
  return {
    ...text,
    modelType,
    groups: [...text.groups, vg],
    globalTensors: [...text.globalTensors, ...vt],
    vision,
    checkpointQuant: checkpointQuant(r) ?? text.checkpointQuant,
    torchDtype: r.str('torch_dtype', r.str('dtype', '')) || text.torchDtype,
  };
}

export function llava(r: ConfigReader, modelType: string): ModelSpec {
  const text = textModel(r, LLAMA_DEFAULTS);
  const v = nested(r, 'vision_config', CLIP_DEFAULTS);
  const h = v.int('hidden_size');
  const img = v.int('image_size');
  const p = v.int('patch_size');
  const patches = (img / p) ** 2;
  const bias = r.bool('multimodal_projector_bias', true);
  const vt: Tensor[] = [
    vector('vision.class_embedding', h, 'vision'),
    { name: 'vision.patch_embedding.weight', shape: [h, 3, p, p], role: 'vision' },
    { name: 'vision.position_embedding.weight', shape: [patches + 1, h], role: 'vision' },
    ...norm('vision.pre_layrnorm', h, true).map((t) => ({ ...t, role: 'vision' as const })),
    ...norm('vision.post_layernorm', h, true).map((t) => ({ ...t, role: 'vision' as const })),
    ...linear('multi_modal_projector.linear_1', text.hiddenSize, h, 'projector', bias),
    ...linear('multi_modal_projector.linear_2', text.hiddenSize, text.hiddenSize, 'projector', bias),
  ];
  // The default feature strategy drops the CLS token: one token per patch.
  const strategy = r.str('vision_feature_select_strategy', 'default');
  const tokens = strategy === 'full' ? patches + 1 : patches;
  return combine(r, modelType, text, visionGroup(v, vitLayer(h, v.int('intermediate_size'))), vt, {
    tokensPerImage: tokens,
    imageSize: img,
    patchSize: p,
    hiddenSize: h,
  });
}

export function gemma3(r: ConfigReader, modelType: string): ModelSpec {
  const text = textModel(r, GEMMA3_TEXT_DEFAULTS);
  const v = nested(r, 'vision_config', {
    ...SIGLIP_DEFAULTS,
    hidden_size: 1152,
    intermediate_size: 4304,
    num_hidden_layers: 27,
    num_attention_heads: 16,
    image_size: 896,
    patch_size: 14,
  });
  const h = v.int('hidden_size');
  const img = v.int('image_size');
  const p = v.int('patch_size');
  const vt: Tensor[] = [
    ...linear('vision.patch_embedding', h, 3 * p * p, 'vision', true).map((t) =>
      t.name.endsWith('weight') ? { ...t, shape: [h, 3, p, p] } : t,
    ),
    { name: 'vision.position_embedding.weight', shape: [(img / p) ** 2, h], role: 'vision' },
    ...norm('vision.post_layernorm', h, true).map((t) => ({ ...t, role: 'vision' as const })),
    {
      name: 'multi_modal_projector.mm_input_projection_weight',
      shape: [h, text.hiddenSize],
      role: 'projector',
    },
    { name: 'multi_modal_projector.mm_soft_emb_norm.weight', shape: [h], role: 'projector' },
  ];
  return combine(r, modelType, text, visionGroup(v, vitLayer(h, v.int('intermediate_size'))), vt, {
    tokensPerImage: r.optInt('mm_tokens_per_image', 256),
    imageSize: img,
    patchSize: p,
    hiddenSize: h,
  });
}

export function qwen2vl(r: ConfigReader, modelType: string): ModelSpec {
  // Older configs keep the text keys at the top level; newer ones nest them in text_config.
  const text = r.has('text_config')
    ? textModel(r, { model_type: 'qwen2' })
    : readLlamaLike(r, 'qwen2', LLAMA_FAMILIES['qwen2']!, []);
  const v = nested(r, 'vision_config', {
    depth: 32,
    embed_dim: 1280,
    mlp_ratio: 4,
    num_heads: 16,
    patch_size: 14,
    spatial_merge_size: 2,
    temporal_patch_size: 2,
    in_chans: 3,
  });
  const e = v.int('embed_dim');
  const p = v.int('patch_size');
  const tp = v.optInt('temporal_patch_size', 2);
  const merge = v.optInt('spatial_merge_size', 2);
  const inter = Math.floor(e * v.optNum('mlp_ratio', 4));
  const outH = v.optInt('hidden_size', text.hiddenSize);
  const layer = [
    ...norm('norm1', e, true),
    ...norm('norm2', e, true),
    ...linear('attn.qkv', 3 * e, e, 'vision', true),
    ...linear('attn.proj', e, e, 'vision', true),
    ...linear('mlp.fc1', inter, e, 'vision', true),
    ...linear('mlp.fc2', e, inter, 'vision', true),
  ].map((t) => ({ ...t, role: 'vision' as const }));
  const m = e * merge * merge;
  const vt: Tensor[] = [
    { name: 'visual.patch_embed.proj.weight', shape: [e, v.optInt('in_chans', 3), tp, p, p], role: 'vision' },
    ...norm('visual.merger.ln_q', e, true).map((t) => ({ ...t, role: 'projector' as const })),
    ...linear('visual.merger.mlp.0', m, m, 'projector', true),
    ...linear('visual.merger.mlp.2', outH, m, 'projector', true),
  ];
  const heads = v.int('num_heads');
  const vg = group(
    'vision',
    'vision',
    range(v.int('depth')),
    { attention: mha(heads, heads, e / heads, { causal: false }), mlp: dense(inter, false, 'quick_gelu') },
    layer,
  );
  // Dynamic resolution: a 448x448 image is taken as the reference (32x32 patches merged 2x2 -> 256 tokens).
  const ref = 448;
  return combine(r, modelType, text, vg, vt, {
    tokensPerImage: (ref / p / merge) ** 2,
    imageSize: ref,
    patchSize: p,
    hiddenSize: e,
  });
}

/** Llama-4 text: MoE every interleave_moe_layer_step-th layer with a shared expert; chunked attention on RoPE layers. */
function llama4Text(t: ConfigReader, modelType: string): ModelSpec {
  const dims = readDims(t);
  dims.intermediate = t.optInt('intermediate_size_mlp', dims.intermediate);
  const vocab = t.int('vocab_size');
  const expertInter = t.int('intermediate_size');
  const step = Math.max(t.optInt('interleave_moe_layer_step', 1), 1);
  const moeLayers =
    (t.array('moe_layers') as number[] | null) ?? range(dims.numLayers).filter((i) => (i + 1) % step === 0);
  // As transformers' Llama4TextConfig: an absent or empty no_rope_layers (the published Scout and Maverick configs
  // carry []) means a NoPE layer every no_rope_layer_interval-th layer, and attention_chunk_size defaults to 8192.
  const listed = t.array('no_rope_layers') as number[] | null;
  const interval = Math.max(t.optInt('no_rope_layer_interval', 4), 1);
  const noRope =
    listed && listed.length > 0
      ? listed
      : range(dims.numLayers).map((i) => ((i + 1) % interval !== 0 ? 1 : 0));
  // An explicit null turns chunking off.
  const chunk = t.raw['attention_chunk_size'] === null ? null : t.optInt('attention_chunk_size', 8192);
  const plans: LayerPlan[] = range(dims.numLayers).map((i) => ({
    window: null,
    // no_rope_layers[i] == 1 means the layer uses RoPE, and RoPE layers attend within chunks.
    chunk: noRope[i] ? chunk : null,
    moe: moeLayers.includes(i),
  }));
  const moe: MoeMlpSpec = {
    kind: 'moe',
    numExperts: t.int('num_local_experts'),
    topK: t.optInt('num_experts_per_tok', 1),
    gated: true,
    activation: t.str('hidden_act', 'silu'),
    expertIntermediateSize: expertInter,
    sharedIntermediateSize: expertInter,
  };
  const tied = t.bool('tie_word_embeddings', false);
  const b = t.bool('attention_bias', false);
  return {
    modelType,
    hiddenSize: dims.hidden,
    vocabSize: vocab,
    numLayers: dims.numLayers,
    maxPositionEmbeddings: t.optInt('max_position_embeddings', null),
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups: buildDecoderGroups({
      dims,
      plans,
      moe,
      traits: {
        attention: { qkvBias: b, oBias: b, qkNorm: null, sinks: false },
        mlpBias: false,
        normBias: false,
        layerNorms: PRE_NORMS,
        gated: true,
        activation: t.str('hidden_act', 'silu'),
        moe: { routerBias: false, expertBias: false, sharedExpertGate: false, routerCorrectionBias: false },
      },
    }),
    globalTensors: decoderGlobals(dims.hidden, vocab, tied, { normBias: false }),
    vision: null,
    checkpointQuant: checkpointQuant(t),
    torchDtype: t.str('torch_dtype', '') || null,
    warnings: [],
  };
}

export function llama4(r: ConfigReader, modelType: string): ModelSpec {
  if (modelType === 'llama4_text' || !r.has('text_config')) {
    const spec = llama4Text(r, modelType);
    r.done(modelType);
    return spec;
  }
  const t = nested(r, 'text_config', {});
  const text = llama4Text(t, 'llama4_text');
  if (!r.has('vision_config')) {
    r.done(modelType);
    return { ...text, modelType };
  }
  const v = nested(r, 'vision_config', {});
  const h = v.int('hidden_size');
  const img = v.int('image_size');
  const p = v.int('patch_size');
  const inter = v.int('intermediate_size');
  const projIn = v.int('projector_input_dim');
  const projOut = v.int('projector_output_dim');
  const ratio = v.optNum('pixel_shuffle_ratio', 0.5);
  const layer = vitLayer(h, inter, ['input_layernorm', 'post_attention_layernorm']);
  const vt: Tensor[] = [
    ...linear('vision.patch_embedding.linear', h, 3 * p * p, 'vision', false),
    vector('vision.class_embedding', h, 'vision'),
    { name: 'vision.positional_embedding_vlm', shape: [(img / p) ** 2 + 1, h], role: 'vision' },
    ...norm('vision.layernorm_pre', h, true).map((x) => ({ ...x, role: 'vision' as const })),
    ...norm('vision.layernorm_post', h, true).map((x) => ({ ...x, role: 'vision' as const })),
    ...linear('vision.vision_adapter.mlp.fc1', projIn, inter, 'vision', false),
    // transformers Llama4VisionMLP2: fc1 intermediate_size -> projector_input_dim, fc2 -> projector_output_dim.
    ...linear('vision.vision_adapter.mlp.fc2', projOut, projIn, 'vision', false),
    ...linear(
      'multi_modal_projector.linear_1',
      text.hiddenSize,
      v.optInt('vision_output_dim', projOut),
      'projector',
      false,
    ),
  ];
  // Pixel shuffle folds ratio^-2 patches into one token.
  return combine(r, modelType, text, visionGroup(v, layer), vt, {
    tokensPerImage: Math.round((img / p) ** 2 * ratio * ratio),
    imageSize: img,
    patchSize: p,
    hiddenSize: h,
  });
}
