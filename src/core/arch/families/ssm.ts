/** State-space families: mamba (Mamba-1), mamba2, and jamba (attention every 8th layer, MoE every other). */
import type { ConfigReader } from '../reader.js';
import type { LayerGroup, ModelSpec, MoeMlpSpec, SsmSpec, Tensor } from '../spec.js';
import { attentionTensors, linear, mlpTensors, moeTensors, norm, vector } from '../tensors.js';
import { dense, finish, group, mha, range } from './layer.js';

function dtRank(r: ConfigReader, key: string, hidden: number): number {
  const v = r.raw[key];
  // "auto" (or absent) is ceil(hidden / 16), as transformers resolves it.
  return typeof v === 'number' ? r.int(key) : Math.ceil(hidden / 16);
}

function mamba1Mixer(h: number, ssm: SsmSpec, rank: number, bias: boolean, convBias: boolean): Tensor[] {
  const I = ssm.dInner;
  return [
    ...linear('mixer.in_proj', 2 * I, h, 'ssm', bias),
    { name: 'mixer.conv1d.weight', shape: [I, 1, ssm.dConv], role: 'ssm' },
    ...(convBias ? [vector('mixer.conv1d.bias', I, 'ssm')] : []),
    ...linear('mixer.x_proj', rank + 2 * ssm.dState, I, 'ssm', false),
    ...linear('mixer.dt_proj', I, rank, 'ssm', true),
    { name: 'mixer.A_log', shape: [I, ssm.dState], role: 'ssm' },
    vector('mixer.D', I, 'ssm'),
    ...linear('mixer.out_proj', h, I, 'ssm', bias),
  ];
}

function mamba1Spec(dInner: number, dState: number, dConv: number): SsmSpec {
  return { kind: 'mamba1', dInner, dState, dConv, convDim: dInner, numHeads: 0, headDim: 0, nGroups: 1 };
}

export function mamba(r: ConfigReader, modelType: string): ModelSpec {
  const h = r.int('hidden_size', 'd_model');
  const n = r.int('num_hidden_layers', 'n_layer');
  const vocab = r.int('vocab_size');
  const N = r.optInt('state_size', 16);
  const K = r.optInt('conv_kernel', 4);
  const I = r.optInt('intermediate_size', r.optInt('expand', 2) * h);
  const ssm = mamba1Spec(I, N, K);
  const layer = [
    ...norm('norm', h, false),
    ...mamba1Mixer(
      h,
      ssm,
      dtRank(r, 'time_step_rank', h),
      r.bool('use_bias', false),
      r.bool('use_conv_bias', true),
    ),
  ];
  const tied = r.bool('tie_word_embeddings', true);
  return finish(r, modelType, {
    hiddenSize: h,
    vocabSize: vocab,
    numLayers: n,
    maxPositionEmbeddings: null,
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups: [group('decoder.ssm', 'decoder', range(n), { ssm }, layer)],
    globalTensors: [
      { name: 'embeddings.weight', shape: [vocab, h], role: 'embedding' },
      ...norm('norm_f', h, false),
      ...(tied ? [] : linear('lm_head', vocab, h, 'lm_head', false)),
    ],
  });
}

export function mamba2(r: ConfigReader, modelType: string): ModelSpec {
  const h = r.int('hidden_size');
  const n = r.int('num_hidden_layers');
  const vocab = r.int('vocab_size');
  const heads = r.int('num_heads');
  const headDim = r.optInt('head_dim', 64);
  const N = r.optInt('state_size', 128);
  const groups = r.optInt('n_groups', 1);
  const K = r.optInt('conv_kernel', 4);
  const I = Math.floor(r.optNum('expand', 2) * h);
  const convDim = I + 2 * groups * N;
  const bias = r.bool('use_bias', false);
  const ssm: SsmSpec = {
    kind: 'mamba2',
    dInner: I,
    dState: N,
    dConv: K,
    convDim,
    numHeads: heads,
    headDim,
    nGroups: groups,
  };
  const layer: Tensor[] = [
    ...norm('norm', h, false),
    ...linear('mixer.in_proj', I + convDim + heads, h, 'ssm', bias),
    { name: 'mixer.conv1d.weight', shape: [convDim, 1, K], role: 'ssm' },
    ...(r.bool('use_conv_bias', true) ? [vector('mixer.conv1d.bias', convDim, 'ssm')] : []),
    vector('mixer.dt_bias', heads, 'ssm'),
    vector('mixer.A_log', heads, 'ssm'),
    vector('mixer.D', heads, 'ssm'),
    ...norm('mixer.norm', I, false),
    ...linear('mixer.out_proj', h, I, 'ssm', bias),
  ];
  const tied = r.bool('tie_word_embeddings', false);
  return finish(r, modelType, {
    hiddenSize: h,
    vocabSize: vocab,
    numLayers: n,
    maxPositionEmbeddings: null,
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups: [group('decoder.ssm', 'decoder', range(n), { ssm }, layer)],
    globalTensors: [
      { name: 'embeddings.weight', shape: [vocab, h], role: 'embedding' },
      ...norm('norm_f', h, false),
      ...(tied ? [] : linear('lm_head', vocab, h, 'lm_head', false)),
    ],
  });
}

export function jamba(r: ConfigReader, modelType: string): ModelSpec {
  const h = r.int('hidden_size');
  const n = r.int('num_hidden_layers');
  const vocab = r.int('vocab_size');
  const heads = r.int('num_attention_heads');
  const kv = r.optInt('num_key_value_heads', heads);
  const inter = r.int('intermediate_size');
  const attnPeriod = r.optInt('attn_layer_period', 8);
  const attnOffset = r.optInt('attn_layer_offset', 4);
  const expPeriod = r.optInt('expert_layer_period', 2);
  const expOffset = r.optInt('expert_layer_offset', 1);
  const E = r.optInt('num_experts', 16);
  const ssm = mamba1Spec(
    r.optInt('mamba_expand', 2) * h,
    r.optInt('mamba_d_state', 16),
    r.optInt('mamba_d_conv', 4),
  );
  const rank = dtRank(r, 'mamba_dt_rank', h);
  const act = r.str('hidden_act', 'silu');
  const moe: MoeMlpSpec = {
    kind: 'moe',
    numExperts: E,
    topK: r.optInt('num_experts_per_tok', 2),
    gated: true,
    activation: act,
    expertIntermediateSize: inter,
    sharedIntermediateSize: 0,
  };
  const attention = mha(heads, kv, h / heads);
  const noMoeBias = {
    routerBias: false,
    expertBias: false,
    sharedExpertGate: false,
    routerCorrectionBias: false,
  };
  const kinds = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const key = `${i % attnPeriod === attnOffset ? 'attention' : 'ssm'}.${E > 1 && i % expPeriod === expOffset ? 'moe' : 'dense'}`;
    kinds.set(key, [...(kinds.get(key) ?? []), i]);
  }
  const groups: LayerGroup[] = [...kinds.entries()].map(([key, layers]) => {
    const [mixer, ff] = key.split('.');
    const mlp = ff === 'moe' ? moe : dense(inter, true, act);
    const t: Tensor[] = [...norm('input_layernorm', h, false), ...norm('pre_ff_layernorm', h, false)];
    if (mixer === 'attention')
      t.push(...attentionTensors(attention, h, { qkvBias: false, oBias: false, qkNorm: null, sinks: false }));
    else
      t.push(
        ...mamba1Mixer(h, ssm, rank, r.bool('mamba_proj_bias', false), r.bool('mamba_conv_bias', true)),
        ...norm('mixer.dt_layernorm', rank, false),
        ...norm('mixer.b_layernorm', ssm.dState, false),
        ...norm('mixer.c_layernorm', ssm.dState, false),
      );
    t.push(...(mlp.kind === 'moe' ? moeTensors(mlp, h, noMoeBias) : mlpTensors(mlp, h, false)));
    return group(
      `decoder.${key}`,
      'decoder',
      layers,
      mixer === 'attention' ? { attention, mlp } : { ssm, mlp },
      t,
    );
  });
  const tied = r.bool('tie_word_embeddings', false);
  return finish(r, modelType, {
    hiddenSize: h,
    vocabSize: vocab,
    numLayers: n,
    maxPositionEmbeddings: r.optInt('max_position_embeddings', null),
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups,
    globalTensors: [
      { name: 'embed_tokens.weight', shape: [vocab, h], role: 'embedding' },
      ...norm('final_layernorm', h, false),
      ...(tied ? [] : linear('lm_head', vocab, h, 'lm_head', false)),
    ],
  });
}
