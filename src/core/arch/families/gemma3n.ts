/**
 * Gemma 3n (model_type gemma3n / gemma3n_text), as transformers' modeling_gemma3n instantiates it.
 * Text: Gemma-3 style attention (q/k norms, sliding window on 4 of 5 layers) plus AltUp (4 streams: router,
 * prediction/correction coefficients, 3 extra projections in and out), LAuReL low-rank residuals, and per-layer
 * embeddings (a [vocab_per_layer, layers x 256] table projected into each layer). The last num_kv_shared_layers
 * layers read the KV cache of earlier layers and store none (their k/v projections still exist).
 * Audio: the USM Conformer encoder (sub-sampling convs, conformer blocks of two half-FFNs, relative-position
 * attention and a light depthwise conv). Vision: timm's MobileNetV5-300M encoder, whose ~84 blocks are not
 * enumerated here: it is one lumped tensor of the 294,284,096 parameters keras-hub publishes for it
 * (keras_hub mobilenetv5 preset "mobilenetv5_300m_enc_gemma3n"), stored at the model dtype.
 */
import { ConfigReader, type RawConfig } from '../reader.js';
import type { AttentionSpec, LayerGroup, ModelSpec, Tensor } from '../spec.js';
import { linear, norm, vector } from '../tensors.js';
import { dense, finish, group, mha, range } from './layer.js';

/** timm mobilenetv5_300m_enc, the only vision architecture Gemma 3n ships (keras-hub's published count). */
const MOBILENETV5_300M_PARAMS = 294_284_096;

/** transformers' Gemma3nTextConfig / Gemma3nAudioConfig defaults (the E4B text model). */
const TEXT_DEFAULTS: RawConfig = {
  vocab_size: 262400,
  vocab_size_per_layer_input: 262144,
  hidden_size: 2048,
  hidden_size_per_layer_input: 256,
  intermediate_size: 16384,
  num_hidden_layers: 35,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  head_dim: 256,
  sliding_window: 512,
  altup_num_inputs: 4,
  laurel_rank: 64,
  num_kv_shared_layers: 15,
  max_position_embeddings: 32768,
};
const AUDIO_DEFAULTS: RawConfig = {
  hidden_size: 1536,
  input_feat_size: 128,
  conf_num_attention_heads: 8,
  conf_num_hidden_layers: 12,
  conf_conv_kernel_size: 5,
  sscp_conv_channel_size: [128, 32],
  sscp_conv_kernel_size: [
    [3, 3],
    [3, 3],
  ],
  sscp_conv_stride_size: [
    [2, 2],
    [2, 2],
  ],
  vocab_size: 128,
};

function nested(parent: ConfigReader, key: string, defaults: RawConfig): ConfigReader {
  const raw = (parent.sub(key)?.raw ?? {}) as RawConfig;
  const r = new ConfigReader({ ...defaults, ...raw }, `${key}.`);
  r.missing.push = (...items: string[]) => parent.missing.push(...items);
  r.invalid.push = (...items: string[]) => parent.invalid.push(...items);
  return r;
}

/** intermediate_size is one number or one per layer. */
function intermediates(t: ConfigReader, n: number): number[] {
  const list = t.array('intermediate_size');
  if (list) {
    if (list.length !== n || !list.every((x) => typeof x === 'number' && Number.isInteger(x) && x > 0))
      t.invalid.push(`${t.prefix}intermediate_size must be a positive integer or one per layer`);
    return range(n).map((i) => (typeof list[i] === 'number' ? (list[i] as number) : 1));
  }
  const one = t.int('intermediate_size');
  return range(n).map(() => one);
}

function textLayers(t: ConfigReader) {
  const h = t.int('hidden_size');
  const n = t.int('num_hidden_layers');
  const heads = t.int('num_attention_heads');
  const kvHeads = t.optInt('num_key_value_heads', heads);
  const hd = t.optInt('head_dim', Math.floor(h / heads));
  const hpl = t.int('hidden_size_per_layer_input');
  const alt = t.optInt('altup_num_inputs', 4);
  const rank = t.optInt('laurel_rank', 64);
  const window = t.optInt('sliding_window', null);
  const shared = t.optInt('num_kv_shared_layers', 0);
  const inter = intermediates(t, n);
  const types = t.array('layer_types');
  // transformers' default: every 5th layer global, the others sliding.
  const sliding = range(n).map((i) =>
    types && types.length === n ? types[i] === 'sliding_attention' : (i + 1) % 5 !== 0,
  );
  const byKey = new Map<string, number[]>();
  range(n).forEach((i) => {
    const key = `${sliding[i]}|${i >= n - shared}|${inter[i]}`;
    byKey.set(key, [...(byKey.get(key) ?? []), i]);
  });
  const groups: LayerGroup[] = [...byKey.entries()].map(([key, layers]) => {
    const [slides, kvShared, width] = key.split('|');
    const I = Number(width);
    const attention: AttentionSpec = {
      ...mha(heads, kvHeads, hd, { window: slides === 'true' ? window : null }),
      kvShared: kvShared === 'true',
    };
    const tensors: Tensor[] = [
      ...linear('self_attn.q_proj', heads * hd, h, 'attention', false),
      ...linear('self_attn.k_proj', kvHeads * hd, h, 'attention', false),
      ...linear('self_attn.v_proj', kvHeads * hd, h, 'attention', false),
      ...linear('self_attn.o_proj', h, heads * hd, 'attention', false),
      // v_norm has no scale: no parameter.
      ...norm('self_attn.q_norm', hd, false),
      ...norm('self_attn.k_norm', hd, false),
      ...linear('mlp.gate_proj', I, h, 'mlp', false),
      ...linear('mlp.up_proj', I, h, 'mlp', false),
      ...linear('mlp.down_proj', h, I, 'mlp', false),
      ...[
        'input_layernorm',
        'post_attention_layernorm',
        'pre_feedforward_layernorm',
        'post_feedforward_layernorm',
      ].flatMap((x) => norm(x, h, false)),
      vector('altup.correct_output_scale', h, 'norm'),
      ...linear('altup.correction_coefs', alt, alt, 'router', false),
      ...linear('altup.prediction_coefs', alt * alt, alt, 'router', false),
      ...linear('altup.modality_router', alt, h, 'router', false),
      ...norm('altup.router_norm', h, false),
      ...linear('laurel.linear_left', rank, h, 'mlp', false),
      ...linear('laurel.linear_right', h, rank, 'mlp', false),
      ...norm('laurel.post_laurel_norm', h, false),
      ...linear('per_layer_input_gate', hpl, h, 'mlp', false),
      ...linear('per_layer_projection', h, hpl, 'mlp', false),
      ...norm('post_per_layer_input_norm', h, false),
    ];
    const name = `decoder${slides === 'true' ? '.sliding' : ''}${kvShared === 'true' ? '.kv_shared' : ''}`;
    return group(name, 'decoder', layers, { attention, mlp: dense(I, true, 'gelu_pytorch_tanh') }, tensors);
  });
  const vocab = t.int('vocab_size');
  const globals: Tensor[] = [
    { name: 'embed_tokens.weight', shape: [vocab, h], role: 'embedding' },
    {
      name: 'embed_tokens_per_layer.weight',
      shape: [t.int('vocab_size_per_layer_input'), n * hpl],
      role: 'embedding',
    },
    ...linear('per_layer_model_projection', n * hpl, h, 'mlp', false),
    ...norm('per_layer_projection_norm', hpl, false),
    ...range(alt - 1).flatMap((i) => [
      ...linear(`altup_projections.${i}`, h, h, 'mlp', false),
      ...linear(`altup_unembed_projections.${i}`, h, h, 'mlp', false),
    ]),
    ...norm('norm', h, false),
  ];
  return { h, n, vocab, groups, globals };
}

/** The USM Conformer audio encoder and its sub-sampling front end. */
function audioTower(a: ConfigReader): { group: LayerGroup; tensors: Tensor[] } {
  const h = a.int('hidden_size');
  const heads = a.int('conf_num_attention_heads');
  const kernel = a.int('conf_conv_kernel_size');
  const channels = (a.array('sscp_conv_channel_size') as number[] | null) ?? [128, 32];
  const kernels = (a.array('sscp_conv_kernel_size') as number[][] | null) ?? [
    [3, 3],
    [3, 3],
  ];
  const strides = (a.array('sscp_conv_stride_size') as number[][] | null) ?? [
    [2, 2],
    [2, 2],
  ];
  const v = (ts: Tensor[]) => ts.map((x) => ({ ...x, role: 'vision' as const }));
  const p = 'audio_tower.subsample_conv_projection';
  const tensors: Tensor[] = [];
  let freq = a.int('input_feat_size');
  let inCh = 1;
  channels.forEach((out, i) => {
    const [kh, kw] = kernels[i] ?? [3, 3];
    const sw = strides[i]?.[1] ?? 2;
    tensors.push({ name: `${p}.conv_${i}.conv.weight`, shape: [out, inCh, kh!, kw!], role: 'vision' });
    tensors.push(vector(`${p}.conv_${i}.norm.weight`, out, 'vision'));
    // The frequency axis is padded by (k - 1) / 2 on each side, then strided.
    freq = Math.floor((freq + 2 * Math.floor((kw! - 1) / 2) - kw!) / sw) + 1;
    inCh = out;
  });
  tensors.push(...v(linear(`${p}.input_proj_linear`, h, inCh * freq, 'vision', false)));
  const ffw = (x: string) => [
    ...norm(`${x}.pre_layer_norm`, h, false),
    ...linear(`${x}.ffw_layer_1`, 4 * h, h, 'vision', false),
    ...linear(`${x}.ffw_layer_2`, h, 4 * h, 'vision', false),
    ...norm(`${x}.post_layer_norm`, h, false),
  ];
  const hd = h / heads;
  const layer = v([
    ...ffw('ffw_layer_start'),
    ...norm('attention.pre_attn_norm', h, false),
    ...linear('attention.attn.relative_position_embedding.pos_proj', heads * hd, h, 'vision', false),
    vector('attention.attn.per_dim_scale', hd, 'vision'),
    ...linear('attention.attn.q_proj', heads * hd, h, 'vision', false),
    ...linear('attention.attn.k_proj', heads * hd, h, 'vision', false),
    ...linear('attention.attn.v_proj', heads * hd, h, 'vision', false),
    ...linear('attention.post', h, h, 'vision', false),
    ...norm('attention.post_norm', h, false),
    ...norm('lconv1d.pre_layer_norm', h, false),
    ...linear('lconv1d.linear_start', 2 * h, h, 'vision', false),
    { name: 'lconv1d.depthwise_conv1d.weight', shape: [h, 1, kernel], role: 'vision' },
    ...norm('lconv1d.conv_norm', h, false),
    ...linear('lconv1d.linear_end', h, h, 'vision', false),
    ...ffw('ffw_layer_end'),
    ...norm('norm', h, false),
  ]);
  return {
    group: group(
      'audio',
      'vision',
      range(a.int('conf_num_hidden_layers')),
      { attention: mha(heads, heads, hd, { causal: false }), mlp: dense(4 * h, false, 'silu') },
      layer,
    ),
    tensors,
  };
}

/** Gemma3nMultimodalEmbedder: soft/hard token embedding of one modality into the text width. */
function embedder(prefix: string, width: number, vocab: number, text: number): Tensor[] {
  return [
    { name: `${prefix}.embedding.weight`, shape: [vocab, width], role: 'projector' },
    ...norm(`${prefix}.hard_embedding_norm`, width, false).map((x) => ({ ...x, role: 'projector' as const })),
    ...norm(`${prefix}.soft_embedding_norm`, width, false).map((x) => ({ ...x, role: 'projector' as const })),
    ...linear(`${prefix}.embedding_projection`, text, width, 'projector', false),
  ];
}

export function gemma3n(r: ConfigReader, modelType: string): ModelSpec {
  const wrapped = modelType === 'gemma3n' || r.has('text_config');
  const t = wrapped ? nested(r, 'text_config', TEXT_DEFAULTS) : r;
  const x = textLayers(t);
  const groups = [...x.groups];
  const globals = [...x.globals];
  let vision: ModelSpec['vision'] = null;
  if (wrapped) {
    const a = nested(r, 'audio_config', AUDIO_DEFAULTS);
    const audio = audioTower(a);
    groups.push(audio.group);
    const vc = nested(r, 'vision_config', { hidden_size: 2048, vocab_size: 128 });
    const arch = vc.str('architecture', 'mobilenetv5_300m_enc');
    if (arch !== 'mobilenetv5_300m_enc') vc.invalid.push(`vision_config.architecture '${arch}' is not known`);
    const vw = vc.int('hidden_size');
    globals.push(
      { name: 'vision_tower.timm_model', shape: [MOBILENETV5_300M_PARAMS], role: 'vision' },
      ...audio.tensors,
      ...embedder('embed_vision', vw, vc.int('vocab_size'), x.h),
      ...embedder('embed_audio', a.int('hidden_size'), a.int('vocab_size'), x.h),
    );
    vision = {
      tokensPerImage: r.optInt('vision_soft_tokens_per_image', 256),
      imageSize: 768,
      patchSize: 16,
      hiddenSize: vw,
    };
  }
  const spec = finish(r, modelType, {
    hiddenSize: x.h,
    vocabSize: x.vocab,
    numLayers: x.n,
    maxPositionEmbeddings: t.optInt('max_position_embeddings', null),
    // The head is tied to embed_tokens.
    tiedEmbeddings: true,
    structure: 'decoder',
    groups,
    globalTensors: globals,
    vision,
    warnings: wrapped
      ? [
          'vision tower (MobileNetV5-300M) counted as one block of 294,284,096 parameters (keras-hub), not tensor by tensor',
        ]
      : [],
  });
  if (!spec.torchDtype && wrapped)
    return { ...spec, torchDtype: t.str('torch_dtype', t.str('dtype', '')) || null };
  return spec;
}
