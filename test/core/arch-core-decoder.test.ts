/**
 * The shared decoder: dimensions under their several config names (defaults as transformers defines them), grouping
 * of identical layers, the global tensors, layer_types; and countParameters on a spec whose counts are worked out by
 * hand in the comments.
 */
import { describe, expect, it } from 'vitest';
import {
  attentionSpec,
  buildDecoderGroups,
  decoderGlobals,
  plansFromLayerTypes,
  PRE_NORMS,
  readDims,
  type DecoderDims,
  type DecoderTraits,
} from '../../src/core/arch/decoder.js';
import { countParameters, emptyBreakdown } from '../../src/core/arch/params.js';
import { ConfigReader } from '../../src/core/arch/reader.js';
import type { LayerGroup, ModelSpec, MoeMlpSpec, Tensor } from '../../src/core/arch/spec.js';

const shapes = (t: readonly Tensor[]) => t.map((x) => [x.name, x.shape, x.role]);

describe('readDims: sizes under their several names', () => {
  it('llama names; no KV heads means MHA; no head_dim means hidden / heads; no intermediate means 4 · hidden', () => {
    const r = new ConfigReader({ hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4 });
    expect(readDims(r)).toEqual({
      hidden: 64,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 4,
      headDim: 16,
      vHeadDim: 16,
      intermediate: 256,
    });
    expect(r.missing).toEqual([]);
    expect(r.invalid).toEqual([]);
  });
  it('GPT-2 names (n_embd, n_layer, n_head, n_inner)', () => {
    const r = new ConfigReader({ n_embd: 48, n_layer: 3, n_head: 6, n_inner: 100 });
    expect(readDims(r)).toMatchObject({
      hidden: 48,
      numLayers: 3,
      numHeads: 6,
      headDim: 8,
      intermediate: 100,
    });
    expect(r.missing).toEqual([]);
  });
  it('T5/MPT-style names (d_model, num_layers, num_heads, num_kv_heads, ffn_hidden_size)', () => {
    const r = new ConfigReader({
      d_model: 32,
      num_layers: 5,
      num_heads: 4,
      num_kv_heads: 2,
      ffn_hidden_size: 70,
    });
    expect(readDims(r)).toMatchObject({
      hidden: 32,
      numLayers: 5,
      numHeads: 4,
      numKvHeads: 2,
      intermediate: 70,
    });
  });
  it('an explicit head_dim wins over hidden / heads (Gemma-7B: 3072 / 16 = 192, head_dim 256)', () => {
    const r = new ConfigReader({
      hidden_size: 3072,
      num_hidden_layers: 1,
      num_attention_heads: 16,
      head_dim: 256,
    });
    expect(readDims(r)).toMatchObject({ headDim: 256, vHeadDim: 256 });
    expect(r.invalid).toEqual([]);
  });
  it('intermediate_size wins over n_inner, and is required positive when present', () => {
    const r = new ConfigReader({
      hidden_size: 8,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      intermediate_size: 20,
      n_inner: 30,
    });
    expect(readDims(r).intermediate).toBe(20);
    const bad = new ConfigReader({
      hidden_size: 8,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      intermediate_size: 0,
    });
    readDims(bad);
    expect(bad.invalid).toEqual(['intermediate_size must be a positive integer (got 0)']);
  });
  it('hidden not divisible by heads without head_dim, or heads not a multiple of KV heads: named errors', () => {
    const r = new ConfigReader({
      hidden_size: 66,
      num_hidden_layers: 1,
      num_attention_heads: 4,
      num_key_value_heads: 3,
    });
    expect(readDims(r).headDim).toBe(16);
    expect(r.invalid).toEqual([
      'head_dim is absent and hidden_size is not divisible by heads',
      'num_attention_heads must be a multiple of num_key_value_heads',
    ]);
    // With head_dim given, hidden need not divide (Gemma-2-9b: 3584 / 16 = 224, head_dim 256).
    const ok = new ConfigReader({
      hidden_size: 66,
      num_hidden_layers: 1,
      num_attention_heads: 4,
      head_dim: 16,
    });
    readDims(ok);
    expect(ok.invalid).toEqual([]);
  });
  it('missing sizes are listed under every name they may have', () => {
    const r = new ConfigReader({});
    readDims(r);
    expect(r.missing).toEqual([
      'hidden_size | n_embd | d_model',
      'num_hidden_layers | n_layer | num_layers',
      'num_attention_heads | n_head | num_heads',
    ]);
  });
});

// hidden 8, 2 query heads and 1 KV head of 4, MLP 12 wide.
const dims: DecoderDims = {
  hidden: 8,
  numLayers: 4,
  numHeads: 2,
  numKvHeads: 1,
  headDim: 4,
  vHeadDim: 4,
  intermediate: 12,
};
const NO_MOE = { routerBias: false, expertBias: false, sharedExpertGate: false, routerCorrectionBias: false };
const traits: DecoderTraits = {
  attention: { qkvBias: false, oBias: false, qkNorm: null, sinks: false },
  mlpBias: false,
  normBias: true,
  layerNorms: PRE_NORMS,
  gated: false,
  activation: 'gelu',
  moe: NO_MOE,
};
const moe: MoeMlpSpec = {
  kind: 'moe',
  numExperts: 4,
  topK: 2,
  gated: true,
  activation: 'silu',
  expertIntermediateSize: 6,
  sharedIntermediateSize: 0,
};
const P = (window: number | null, chunk: number | null, isMoe: boolean) => ({ window, chunk, moe: isMoe });

describe('attentionSpec and buildDecoderGroups', () => {
  it('attentionSpec: kind from the head counts, window/chunk from the plan, causal self-attention', () => {
    expect(attentionSpec(dims, P(5, 7, false))).toEqual({
      kind: 'mqa',
      numHeads: 2,
      numKvHeads: 1,
      headDim: 4,
      vHeadDim: 4,
      window: 5,
      chunk: 7,
      mla: null,
      cross: false,
      causal: true,
    });
  });
  it('alternating sliding/global layers form two groups, each with the layers it holds', () => {
    const g = buildDecoderGroups({
      dims,
      traits,
      plans: [P(null, null, false), P(5, null, false), P(null, null, false), P(5, null, false)],
      moe: null,
    });
    expect(g.map((x) => [x.name, x.stack, x.count, x.layers, x.attention!.window])).toEqual([
      ['decoder', 'decoder', 2, [0, 2], null],
      ['decoder.sliding', 'decoder', 2, [1, 3], 5],
    ]);
    expect(g[0]!.crossAttention).toBeNull();
    expect(g[0]!.ssm).toBeNull();
    expect(g[0]!.mlp).toEqual({ kind: 'dense', gated: false, activation: 'gelu', intermediateSize: 12 });
    // q [8, 8], k/v [4, 8], o [8, 8]; plain MLP up [12, 8], down [8, 12]; two LayerNorms with bias.
    expect(shapes(g[0]!.tensors)).toEqual([
      ['self_attn.q_proj.weight', [8, 8], 'attention'],
      ['self_attn.k_proj.weight', [4, 8], 'attention'],
      ['self_attn.v_proj.weight', [4, 8], 'attention'],
      ['self_attn.o_proj.weight', [8, 8], 'attention'],
      ['mlp.up_proj.weight', [12, 8], 'mlp'],
      ['mlp.down_proj.weight', [8, 12], 'mlp'],
      ['input_layernorm.weight', [8], 'norm'],
      ['input_layernorm.bias', [8], 'norm'],
      ['post_attention_layernorm.weight', [8], 'norm'],
      ['post_attention_layernorm.bias', [8], 'norm'],
    ]);
  });
  it('chunked, MoE and sliding MoE layers are named for what they are; MoE layers carry the MoE block', () => {
    const g = buildDecoderGroups({
      dims,
      traits,
      plans: [P(null, 16, false), P(null, null, true), P(3, 16, true), P(null, 16, false)],
      moe,
    });
    expect(g.map((x) => [x.name, x.layers, x.mlp!.kind])).toEqual([
      ['decoder.chunked', [0, 3], 'dense'],
      ['decoder.moe', [1], 'moe'],
      ['decoder.sliding.moe', [2], 'moe'],
    ]);
    expect(g[1]!.mlp).toBe(moe);
    // Router [4, 8] and stacked experts, gated: gate/up [4, 6, 8], down [4, 8, 6].
    expect(shapes(g[1]!.tensors.slice(4, 8))).toEqual([
      ['mlp.gate.weight', [4, 8], 'router'],
      ['mlp.experts.#.gate_proj.weight', [4, 6, 8], 'expert'],
      ['mlp.experts.#.up_proj.weight', [4, 6, 8], 'expert'],
      ['mlp.experts.#.down_proj.weight', [4, 8, 6], 'expert'],
    ]);
  });
  it('a plan that asks for MoE in a dense model stays dense', () => {
    const g = buildDecoderGroups({ dims, traits, plans: [P(null, null, true)], moe: null });
    expect(g.map((x) => [x.name, x.mlp!.kind])).toEqual([['decoder', 'dense']]);
  });
  it('another stack and an attention override (MLA families) are used as given', () => {
    const custom = { ...attentionSpec(dims, P(null, null, false)), numHeads: 4, kind: 'gqa' as const };
    const g = buildDecoderGroups({
      dims,
      traits,
      plans: [P(null, null, false), P(null, null, false)],
      moe: null,
      stack: 'encoder',
      attention: () => custom,
    });
    expect(g.map((x) => [x.name, x.stack, x.count])).toEqual([['encoder', 'encoder', 2]]);
    expect(g[0]!.attention).toBe(custom);
    // q from the override's 4 heads: [16, 8].
    expect(g[0]!.tensors[0]!.shape).toEqual([16, 8]);
  });
});

describe('decoderGlobals', () => {
  it('untied: embedding [vocab, hidden], final RMSNorm "norm", lm_head [vocab, hidden]', () => {
    expect(shapes(decoderGlobals(8, 10, false, { normBias: false }))).toEqual([
      ['embed_tokens.weight', [10, 8], 'embedding'],
      ['norm.weight', [8], 'norm'],
      ['lm_head.weight', [10, 8], 'lm_head'],
    ]);
  });
  it('tied: the head is the embedding, counted once; a head bias (phimoe) stays its own tensor', () => {
    expect(decoderGlobals(8, 10, true, { normBias: false }).map((x) => x.name)).toEqual([
      'embed_tokens.weight',
      'norm.weight',
    ]);
    expect(shapes(decoderGlobals(8, 10, true, { normBias: false, lmHeadBias: true }).slice(2))).toEqual([
      ['lm_head.bias', [10], 'lm_head'],
    ]);
    expect(shapes(decoderGlobals(8, 10, false, { normBias: false, lmHeadBias: true }).slice(2))).toEqual([
      ['lm_head.weight', [10, 8], 'lm_head'],
      ['lm_head.bias', [10], 'lm_head'],
    ]);
  });
  it('a named final LayerNorm with bias, or none at all', () => {
    expect(
      decoderGlobals(8, 10, true, { normBias: true, finalNorm: 'final_layernorm' }).map((x) => x.name),
    ).toEqual(['embed_tokens.weight', 'final_layernorm.weight', 'final_layernorm.bias']);
    expect(decoderGlobals(8, 10, true, { normBias: true, finalNorm: null }).map((x) => x.name)).toEqual([
      'embed_tokens.weight',
    ]);
  });
});

describe('plansFromLayerTypes', () => {
  it('no layer_types: null, nothing reported', () => {
    const r = new ConfigReader({});
    expect(plansFromLayerTypes(r, 2, 4, null)).toBeNull();
    expect(r.invalid).toEqual([]);
  });
  it('each known type gives its plan; an unknown type (linear attention) gives null', () => {
    const r = new ConfigReader({
      layer_types: ['sliding_attention', 'chunked_attention', 'full_attention', 'linear_attention'],
    });
    expect(plansFromLayerTypes(r, 4, 512, 8192)).toEqual([
      P(512, null, false),
      P(null, 8192, false),
      P(null, null, false),
      null,
    ]);
    expect(r.invalid).toEqual([]);
  });
  it('a list of the wrong length is reported and ignored', () => {
    const r = new ConfigReader({ layer_types: ['full_attention'] });
    expect(plansFromLayerTypes(r, 2, 4, null)).toBeNull();
    expect(r.invalid).toEqual(['layer_types has 1 entries but num_hidden_layers is 2']);
  });
});

describe('countParameters on a hand-built spec', () => {
  // Group A, 3 MoE layers: attention [4, 4] = 16, experts [8 experts, 2, 4] = 64 of which 6/8 idle per token.
  // Group B, 2 dense layers whose MLP tensor has the expert role but no MoE block (nothing idle): [5, 2] = 10.
  // Group C, 1 SSM layer without MLP: [3, 3] = 9. Globals: embedding [10, 4] = 40, norm [4] = 4.
  const moe8: MoeMlpSpec = { ...moe, numExperts: 8, topK: 2 };
  const g = (name: string, count: number, mlp: LayerGroup['mlp'], tensors: Tensor[]): LayerGroup => ({
    name,
    stack: 'decoder',
    count,
    layers: [],
    attention: null,
    crossAttention: null,
    mlp,
    ssm: null,
    tensors,
  });
  const spec = {
    groups: [
      g('a', 3, moe8, [
        { name: 'q', shape: [4, 4], role: 'attention' },
        { name: 'e', shape: [8, 2, 4], role: 'expert' },
      ]),
      g('b', 2, { kind: 'dense', gated: false, activation: 'gelu', intermediateSize: 5 }, [
        { name: 'd', shape: [5, 2], role: 'expert' },
      ]),
      g('c', 1, null, [{ name: 's', shape: [3, 3], role: 'ssm' }]),
    ],
    globalTensors: [
      { name: 'emb', shape: [10, 4], role: 'embedding' },
      { name: 'n', shape: [4], role: 'norm' },
    ],
  } as unknown as ModelSpec;
  it('total: 3 · 80 + 2 · 10 + 9 + 44 = 313; active: 313 − 3 · 64 · 6/8 = 169', () => {
    const c = countParameters(spec);
    expect(c.total).toBe(313);
    expect(c.active).toBe(169);
    expect(c.breakdown).toEqual({
      ...emptyBreakdown(),
      attention: 48,
      expert: 212,
      ssm: 9,
      embedding: 40,
      norm: 4,
    });
    // The same spec gives the same (cached) object.
    expect(countParameters(spec)).toBe(c);
  });
  it('emptyBreakdown: every role at zero', () => {
    const b = emptyBreakdown();
    expect(Object.keys(b).sort()).toEqual(
      [
        'attention',
        'embedding',
        'expert',
        'lm_head',
        'mlp',
        'norm',
        'position',
        'projector',
        'router',
        'shared_expert',
        'ssm',
        'vision',
      ].sort(),
    );
    expect(Object.values(b).every((v) => v === 0)).toBe(true);
  });
});
