/**
 * Qwen3-Next and Qwen3.5 (dense and MoE): hybrid decoders where three of every four layers are Gated DeltaNet
 * linear attention (a constant recurrent state, no KV cache) and every full_attention_interval-th layer is gated
 * full attention (q_proj doubled for the output gate, per-head q/k norms). Qwen3.5 checkpoints wrap the text
 * model with a Qwen3-VL style vision tower. Tensors follow transformers' modeling_qwen3_next / modeling_qwen3_5(_moe).
 * The multi-token-prediction block (mtp_num_hidden_layers) is stored in the checkpoints but not instantiated by
 * transformers (`_keys_to_ignore_on_load_unexpected = [r"^mtp.*"]`), so it is not counted.
 */
import { ConfigReader, type RawConfig } from '../reader.js';
import type { AttentionSpec, LayerGroup, ModelSpec, MoeMlpSpec, SsmSpec, Tensor } from '../spec.js';
import { decoderGlobals } from '../decoder.js';
import { linear, mlpTensors, moeTensors, norm, vector } from '../tensors.js';
import { dense, finish, group, mha, range } from './layer.js';

/** A nested config whose errors go to the parent's lists. */
function nested(parent: ConfigReader, key: string): ConfigReader {
  const raw = (parent.sub(key)?.raw ?? {}) as RawConfig;
  const r = new ConfigReader(raw, `${key}.`);
  r.missing.push = (...items: string[]) => parent.missing.push(...items);
  r.invalid.push = (...items: string[]) => parent.invalid.push(...items);
  return r;
}

function gatedDeltaNet(t: ConfigReader, hidden: number): { ssm: SsmSpec; tensors: Tensor[] } {
  const nk = t.int('linear_num_key_heads');
  const nv = t.int('linear_num_value_heads');
  const dk = t.int('linear_key_head_dim');
  const dv = t.int('linear_value_head_dim');
  const kernel = t.optInt('linear_conv_kernel_dim', 4);
  const keyDim = nk * dk;
  const valueDim = nv * dv;
  const convDim = 2 * keyDim + valueDim;
  const ssm: SsmSpec = {
    kind: 'gated_deltanet',
    dInner: valueDim,
    dState: dk,
    dConv: kernel,
    convDim,
    numHeads: nv,
    headDim: dv,
    nGroups: nk,
  };
  // Qwen3.5 splits the input projection into qkv / z / b / a; Qwen3-Next fuses them as qkvz / ba: same elements.
  const tensors: Tensor[] = [
    ...linear('linear_attn.in_proj_qkv', convDim, hidden, 'ssm', false),
    ...linear('linear_attn.in_proj_z', valueDim, hidden, 'ssm', false),
    ...linear('linear_attn.in_proj_b', nv, hidden, 'ssm', false),
    ...linear('linear_attn.in_proj_a', nv, hidden, 'ssm', false),
    { name: 'linear_attn.conv1d.weight', shape: [convDim, 1, kernel], role: 'ssm' },
    vector('linear_attn.dt_bias', nv, 'ssm'),
    vector('linear_attn.A_log', nv, 'ssm'),
    // RMSNormGated over one value head, shared by all heads.
    ...norm('linear_attn.norm', dv, false),
    ...linear('linear_attn.out_proj', hidden, valueDim, 'ssm', false),
  ];
  return { ssm, tensors };
}

function gatedAttention(t: ConfigReader, hidden: number): { attention: AttentionSpec; tensors: Tensor[] } {
  const heads = t.int('num_attention_heads');
  const kv = t.optInt('num_key_value_heads', heads);
  const hd = t.optInt('head_dim', Math.floor(hidden / heads));
  const bias = t.bool('attention_bias', false);
  const gate = t.bool('attn_output_gate', true);
  const attention = mha(heads, kv, hd);
  return {
    attention,
    tensors: [
      // The output gate doubles q_proj: query and gate per head.
      ...linear('self_attn.q_proj', heads * hd * (gate ? 2 : 1), hidden, 'attention', bias),
      ...linear('self_attn.k_proj', kv * hd, hidden, 'attention', bias),
      ...linear('self_attn.v_proj', kv * hd, hidden, 'attention', bias),
      ...linear('self_attn.o_proj', hidden, heads * hd, 'attention', bias),
      ...norm('self_attn.q_norm', hd, false),
      ...norm('self_attn.k_norm', hd, false),
    ],
  };
}

/** The text decoder; `t` holds the text keys (top level for qwen3_next, text_config for qwen3_5). */
function hybridText(t: ConfigReader, moeModel: boolean) {
  const hidden = t.int('hidden_size');
  const n = t.int('num_hidden_layers');
  const vocab = t.int('vocab_size');
  const interval = Math.max(t.optInt('full_attention_interval', 4), 1);
  const types = t.array('layer_types');
  if (types && types.length !== n)
    t.invalid.push(`${t.prefix}layer_types has ${types.length} entries but num_hidden_layers is ${n}`);
  const full = range(n).map((i) =>
    types && types.length === n ? types[i] === 'full_attention' : (i + 1) % interval === 0,
  );
  const only = (t.array('mlp_only_layers') ?? []) as unknown[];
  const step = Math.max(t.optInt('decoder_sparse_step', 1), 1);
  const moeLayer = (i: number) => moeModel && !only.includes(i) && (i + 1) % step === 0;
  const moe: MoeMlpSpec | null = moeModel
    ? {
        kind: 'moe',
        numExperts: t.int('num_experts'),
        topK: t.int('num_experts_per_tok'),
        gated: true,
        activation: t.str('hidden_act', 'silu'),
        expertIntermediateSize: t.int('moe_intermediate_size'),
        sharedIntermediateSize: t.optInt('shared_expert_intermediate_size', 0),
      }
    : null;
  const mlpDense = dense(
    moeModel ? t.optInt('intermediate_size', 0) : t.int('intermediate_size'),
    true,
    'silu',
  );
  const gdn = gatedDeltaNet(t, hidden);
  const att = gatedAttention(t, hidden);
  const layerNorms = [
    ...norm('input_layernorm', hidden, false),
    ...norm('post_attention_layernorm', hidden, false),
  ];
  const moeOpts = {
    routerBias: false,
    expertBias: false,
    sharedExpertGate: true,
    routerCorrectionBias: false,
  };
  const byKey = new Map<string, number[]>();
  range(n).forEach((i) => {
    const key = `${full[i] ? 'attn' : 'linear'}|${moeLayer(i) ? 'moe' : 'dense'}`;
    byKey.set(key, [...(byKey.get(key) ?? []), i]);
  });
  const groups: LayerGroup[] = [...byKey.entries()].map(([key, layers]) => {
    const [mixer, mlpKind] = key.split('|');
    const mlp = mlpKind === 'moe' ? moe! : mlpDense;
    const mlpT = mlp.kind === 'moe' ? moeTensors(mlp, hidden, moeOpts) : mlpTensors(mlp, hidden, false);
    const name = `decoder.${mixer === 'attn' ? 'attention' : 'linear_attention'}${mlpKind === 'moe' ? '.moe' : ''}`;
    return mixer === 'attn'
      ? group(name, 'decoder', layers, { attention: att.attention, mlp }, [
          ...att.tensors,
          ...mlpT,
          ...layerNorms,
        ])
      : group(name, 'decoder', layers, { ssm: gdn.ssm, mlp }, [...gdn.tensors, ...mlpT, ...layerNorms]);
  });
  const mtp = t.optInt('mtp_num_hidden_layers', t.optInt('num_nextn_predict_layers', 0));
  return { hidden, n, vocab, groups, mtp };
}

/** Qwen3-VL style vision tower of Qwen3.5: ViT blocks, learned position table, 2x2 merger to the text width. */
function qwen35Vision(v: ConfigReader, textHidden: number): { group: LayerGroup; tensors: Tensor[] } {
  const h = v.int('hidden_size');
  const depth = v.int('depth');
  const heads = v.int('num_heads');
  const inter = v.int('intermediate_size');
  const p = v.int('patch_size');
  const tp = v.optInt('temporal_patch_size', 2);
  const merge = v.optInt('spatial_merge_size', 2);
  const inCh = v.optInt('in_channels', 3);
  const out = v.optInt('out_hidden_size', textHidden);
  const posTable = v.optInt('num_position_embeddings', 2304);
  const vision = (ts: Tensor[]) => ts.map((x) => ({ ...x, role: 'vision' as const }));
  const layer = vision([
    ...norm('norm1', h, true),
    ...norm('norm2', h, true),
    ...linear('attn.qkv', 3 * h, h, 'vision', true),
    ...linear('attn.proj', h, h, 'vision', true),
    ...linear('mlp.linear_fc1', inter, h, 'vision', true),
    ...linear('mlp.linear_fc2', h, inter, 'vision', true),
  ]);
  const m = h * merge * merge;
  const deepstack = (v.array('deepstack_visual_indexes') ?? []).length;
  const merger = (prefix: string, normDim: number): Tensor[] => [
    ...norm(`${prefix}.norm`, normDim, true).map((x) => ({ ...x, role: 'projector' as const })),
    ...linear(`${prefix}.linear_fc1`, m, m, 'projector', true),
    ...linear(`${prefix}.linear_fc2`, out, m, 'projector', true),
  ];
  const tensors: Tensor[] = [
    { name: 'visual.patch_embed.proj.weight', shape: [h, inCh, tp, p, p], role: 'vision' },
    vector('visual.patch_embed.proj.bias', h, 'vision'),
    { name: 'visual.pos_embed.weight', shape: [posTable, h], role: 'vision' },
    ...merger('visual.merger', h),
    // Deepstack mergers (Qwen3-VL) normalise after the shuffle; Qwen3.5 lists none.
    ...range(deepstack).flatMap((i) => merger(`visual.deepstack_merger_list.${i}`, m)),
  ];
  return {
    group: group(
      'vision',
      'vision',
      range(depth),
      {
        attention: mha(heads, heads, h / heads, { causal: false }),
        mlp: dense(inter, false, v.str('hidden_act', 'gelu_pytorch_tanh')),
      },
      layer,
    ),
    tensors,
  };
}

function mtpWarning(mtp: number): string[] {
  return mtp > 0
    ? [
        `mtp_num_hidden_layers=${mtp}: the multi-token-prediction block is stored in the checkpoint but not instantiated by the model; it is not counted`,
      ]
    : [];
}

/** qwen3_next: text keys at the top level, MoE, no vision. */
export function qwen3Next(r: ConfigReader, modelType: string): ModelSpec {
  const x = hybridText(r, r.optInt('num_experts', 0) > 0);
  const tied = r.bool('tie_word_embeddings', false);
  return finish(r, modelType, {
    hiddenSize: x.hidden,
    vocabSize: x.vocab,
    numLayers: x.n,
    maxPositionEmbeddings: r.optInt('max_position_embeddings', null),
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups: x.groups,
    globalTensors: decoderGlobals(x.hidden, x.vocab, tied, { normBias: false }),
    warnings: mtpWarning(x.mtp),
  });
}

/** qwen3_5 / qwen3_5_moe (text_config + vision_config) and their *_text configs. */
export function qwen35(r: ConfigReader, modelType: string): ModelSpec {
  const wrapped = r.has('text_config');
  const t = wrapped ? nested(r, 'text_config') : r;
  const x = hybridText(t, modelType.startsWith('qwen3_5_moe'));
  // The wrapper's tie_word_embeddings decides (transformers reads it from the top-level config).
  const tied = r.bool('tie_word_embeddings', t.bool('tie_word_embeddings', false));
  const globals = decoderGlobals(x.hidden, x.vocab, tied, { normBias: false });
  const groups = [...x.groups];
  let vision: ModelSpec['vision'] = null;
  if (wrapped && r.has('vision_config')) {
    const v = nested(r, 'vision_config');
    const vt = qwen35Vision(v, x.hidden);
    groups.push(vt.group);
    globals.push(...vt.tensors);
    const p = v.optInt('patch_size', 16);
    const merge = v.optInt('spatial_merge_size', 2);
    // Dynamic resolution: a 448x448 image is the reference (28x28 patches of 16 merged 2x2 -> 196 tokens).
    vision = {
      tokensPerImage: Math.floor(448 / p / merge) ** 2,
      imageSize: 448,
      patchSize: p,
      hiddenSize: v.optInt('hidden_size', 0),
    };
  }
  const spec = finish(r, modelType, {
    hiddenSize: x.hidden,
    vocabSize: x.vocab,
    numLayers: x.n,
    maxPositionEmbeddings: t.optInt('max_position_embeddings', null),
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups,
    globalTensors: globals,
    vision,
    warnings: mtpWarning(x.mtp),
  });
  if (!spec.torchDtype && wrapped)
    return { ...spec, torchDtype: t.str('dtype', t.str('torch_dtype', '')) || null };
  return spec;
}
