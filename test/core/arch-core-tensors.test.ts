/**
 * Tensor generators against the module names and shapes of the transformers modelling code (nn.Linear weight is
 * [out, in]; DeepSeek MLA as DeepseekV3Attention; stacked experts [E, out, in]), on small dimensions worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import type { AttentionSpec, MoeMlpSpec, Tensor } from '../../src/core/arch/spec.js';
import {
  attentionKind,
  attentionTensors,
  linear,
  mlpTensors,
  moeTensors,
  norm,
  numel,
  vector,
} from '../../src/core/arch/tensors.js';

const shapes = (t: readonly Tensor[]) => t.map((x) => [x.name, x.shape, x.role]);
const NO_OPTS = { qkvBias: false, oBias: false, qkNorm: null, sinks: false } as const;

function attn(over: Partial<AttentionSpec> = {}): AttentionSpec {
  // 4 query heads, 2 KV heads of 16: q/o 64 wide, k/v 32 wide.
  return {
    kind: 'gqa',
    numHeads: 4,
    numKvHeads: 2,
    headDim: 16,
    vHeadDim: 16,
    window: null,
    chunk: null,
    mla: null,
    cross: false,
    causal: true,
    ...over,
  };
}

describe('linear, norm, vector, numel', () => {
  it('linear: weight [out, in], bias [out] only when asked', () => {
    expect(shapes(linear('fc', 3, 5, 'mlp', false))).toEqual([['fc.weight', [3, 5], 'mlp']]);
    expect(shapes(linear('fc', 3, 5, 'router', true))).toEqual([
      ['fc.weight', [3, 5], 'router'],
      ['fc.bias', [3], 'router'],
    ]);
  });
  it('norm: RMSNorm weight only, LayerNorm weight and bias, role norm', () => {
    expect(shapes(norm('ln', 7, false))).toEqual([['ln.weight', [7], 'norm']]);
    expect(shapes(norm('ln', 7, true))).toEqual([
      ['ln.weight', [7], 'norm'],
      ['ln.bias', [7], 'norm'],
    ]);
    expect(vector('sinks', 4, 'attention')).toEqual({ name: 'sinks', shape: [4], role: 'attention' });
  });
  it('numel: product of the dimensions, 1 for a scalar', () => {
    expect(numel([2, 3, 4])).toBe(24);
    expect(numel([7])).toBe(7);
    expect(numel([])).toBe(1);
  });
  it('attentionKind: equal heads MHA, one KV head MQA, else GQA', () => {
    expect(attentionKind(8, 8)).toBe('mha');
    expect(attentionKind(8, 1)).toBe('mqa');
    expect(attentionKind(8, 2)).toBe('gqa');
    expect(attentionKind(1, 1)).toBe('mha');
  });
});

describe('attentionTensors', () => {
  it('GQA without biases: q/o [64, 32] and [32, 64], k/v [32, 32]', () => {
    expect(shapes(attentionTensors(attn(), 32, NO_OPTS))).toEqual([
      ['self_attn.q_proj.weight', [64, 32], 'attention'],
      ['self_attn.k_proj.weight', [32, 32], 'attention'],
      ['self_attn.v_proj.weight', [32, 32], 'attention'],
      ['self_attn.o_proj.weight', [32, 64], 'attention'],
    ]);
  });
  it('q/k/v biases apart from the o bias (Qwen2: qkv only); value head dim sets v and o widths', () => {
    const t = attentionTensors(attn({ vHeadDim: 8 }), 32, { ...NO_OPTS, qkvBias: true });
    expect(shapes(t)).toEqual([
      ['self_attn.q_proj.weight', [64, 32], 'attention'],
      ['self_attn.q_proj.bias', [64], 'attention'],
      ['self_attn.k_proj.weight', [32, 32], 'attention'],
      ['self_attn.k_proj.bias', [32], 'attention'],
      ['self_attn.v_proj.weight', [16, 32], 'attention'],
      ['self_attn.v_proj.bias', [16], 'attention'],
      ['self_attn.o_proj.weight', [32, 32], 'attention'],
    ]);
    const o = attentionTensors(attn(), 32, { ...NO_OPTS, oBias: true });
    expect(o.map((x) => x.name)).toEqual([
      'self_attn.q_proj.weight',
      'self_attn.k_proj.weight',
      'self_attn.v_proj.weight',
      'self_attn.o_proj.weight',
      'self_attn.o_proj.bias',
    ]);
  });
  it('q/k norms per head (Qwen3: [head_dim]) or over all heads (OLMo-2: [heads · head_dim])', () => {
    const head = attentionTensors(attn(), 32, { ...NO_OPTS, qkNorm: 'head' }).slice(4);
    expect(shapes(head)).toEqual([
      ['self_attn.q_norm.weight', [16], 'norm'],
      ['self_attn.k_norm.weight', [16], 'norm'],
    ]);
    const full = attentionTensors(attn(), 32, { ...NO_OPTS, qkNorm: 'full' }).slice(4);
    expect(shapes(full)).toEqual([
      ['self_attn.q_norm.weight', [64], 'norm'],
      ['self_attn.k_norm.weight', [32], 'norm'],
    ]);
  });
  it('gpt-oss sinks: one learned scalar per query head; cross-attention modules are cross_attn', () => {
    const s = attentionTensors(attn(), 32, { ...NO_OPTS, sinks: true });
    expect(shapes(s.slice(4))).toEqual([['self_attn.sinks', [4], 'attention']]);
    const c = attentionTensors(attn({ cross: true }), 32, NO_OPTS);
    expect(c.map((x) => x.name)).toEqual([
      'cross_attn.q_proj.weight',
      'cross_attn.k_proj.weight',
      'cross_attn.v_proj.weight',
      'cross_attn.o_proj.weight',
    ]);
  });
  it('MLA with a query LoRA (DeepSeek-V3 shape) on hidden 32, 2 heads, kv rank 8, nope 4, rope 2, v 3, q rank 6', () => {
    const mla = { qLoraRank: 6, kvLoraRank: 8, qkNopeHeadDim: 4, qkRopeHeadDim: 2, vHeadDim: 3 };
    const a = attn({ kind: 'mla', numHeads: 2, numKvHeads: 2, headDim: 6, vHeadDim: 3, mla });
    // q_b: heads · (nope + rope) = 12; kv_a: rank + rope = 10; kv_b: heads · (nope + v) = 14; o: [32, heads · v = 6]
    expect(shapes(attentionTensors(a, 32, NO_OPTS))).toEqual([
      ['self_attn.q_a_proj.weight', [6, 32], 'attention'],
      ['self_attn.q_a_layernorm.weight', [6], 'norm'],
      ['self_attn.q_b_proj.weight', [12, 6], 'attention'],
      ['self_attn.kv_a_proj_with_mqa.weight', [10, 32], 'attention'],
      ['self_attn.kv_a_layernorm.weight', [8], 'norm'],
      ['self_attn.kv_b_proj.weight', [14, 8], 'attention'],
      ['self_attn.o_proj.weight', [32, 6], 'attention'],
    ]);
  });
  it('MLA without a query LoRA (DeepSeek-V2-Lite shape): one q_proj [heads · 6, hidden]', () => {
    const mla = { qLoraRank: null, kvLoraRank: 8, qkNopeHeadDim: 4, qkRopeHeadDim: 2, vHeadDim: 3 };
    const a = attn({ kind: 'mla', numHeads: 2, numKvHeads: 2, headDim: 6, vHeadDim: 3, mla });
    expect(shapes(attentionTensors(a, 32, NO_OPTS)).slice(0, 2)).toEqual([
      ['self_attn.q_proj.weight', [12, 32], 'attention'],
      ['self_attn.kv_a_proj_with_mqa.weight', [10, 32], 'attention'],
    ]);
  });
});

describe('mlpTensors', () => {
  const m = { kind: 'dense', gated: true, activation: 'silu', intermediateSize: 10 } as const;
  it('gated: gate, up [10, 4] and down [4, 10]; plain: up and down; bias on each when asked', () => {
    expect(shapes(mlpTensors(m, 4, false))).toEqual([
      ['mlp.gate_proj.weight', [10, 4], 'mlp'],
      ['mlp.up_proj.weight', [10, 4], 'mlp'],
      ['mlp.down_proj.weight', [4, 10], 'mlp'],
    ]);
    expect(shapes(mlpTensors({ ...m, gated: false }, 4, true, 'shared_expert', 'ffn'))).toEqual([
      ['ffn.up_proj.weight', [10, 4], 'shared_expert'],
      ['ffn.up_proj.bias', [10], 'shared_expert'],
      ['ffn.down_proj.weight', [4, 10], 'shared_expert'],
      ['ffn.down_proj.bias', [4], 'shared_expert'],
    ]);
  });
});

describe('moeTensors', () => {
  const moe: MoeMlpSpec = {
    kind: 'moe',
    numExperts: 3,
    topK: 1,
    gated: true,
    activation: 'silu',
    expertIntermediateSize: 5,
    sharedIntermediateSize: 0,
  };
  const none = { routerBias: false, expertBias: false, sharedExpertGate: false, routerCorrectionBias: false };
  it('Mixtral shape: router [E, hidden], experts stacked [E, out, in], no shared expert', () => {
    expect(shapes(moeTensors(moe, 4, none))).toEqual([
      ['mlp.gate.weight', [3, 4], 'router'],
      ['mlp.experts.#.gate_proj.weight', [3, 5, 4], 'expert'],
      ['mlp.experts.#.up_proj.weight', [3, 5, 4], 'expert'],
      ['mlp.experts.#.down_proj.weight', [3, 4, 5], 'expert'],
    ]);
  });
  it('gpt-oss shape: router and expert biases (expert biases stacked [E, out])', () => {
    const t = moeTensors({ ...moe, gated: false }, 4, { ...none, routerBias: true, expertBias: true });
    expect(shapes(t)).toEqual([
      ['mlp.gate.weight', [3, 4], 'router'],
      ['mlp.gate.bias', [3], 'router'],
      ['mlp.experts.#.up_proj.weight', [3, 5, 4], 'expert'],
      ['mlp.experts.#.up_proj.bias', [3, 5], 'expert'],
      ['mlp.experts.#.down_proj.weight', [3, 4, 5], 'expert'],
      ['mlp.experts.#.down_proj.bias', [3, 4], 'expert'],
    ]);
  });
  it('DeepSeek-V3 shape: correction bias [E]; shared expert of width 6 with no bias; Qwen2-MoE gate [1, hidden]', () => {
    const ds = moeTensors({ ...moe, sharedIntermediateSize: 6 }, 4, {
      ...none,
      routerCorrectionBias: true,
      expertBias: true,
    });
    expect(shapes([ds[1]!, ...ds.slice(-3)])).toEqual([
      ['mlp.gate.e_score_correction_bias', [3], 'router'],
      ['mlp.shared_expert.gate_proj.weight', [6, 4], 'shared_expert'],
      ['mlp.shared_expert.up_proj.weight', [6, 4], 'shared_expert'],
      ['mlp.shared_expert.down_proj.weight', [4, 6], 'shared_expert'],
    ]);
    const qw = moeTensors({ ...moe, sharedIntermediateSize: 6 }, 4, { ...none, sharedExpertGate: true });
    expect(shapes(qw.slice(-1))).toEqual([['mlp.shared_expert_gate.weight', [1, 4], 'router']]);
    // No shared expert: no gate for it either.
    expect(moeTensors(moe, 4, { ...none, sharedExpertGate: true }).map((x) => x.name)).not.toContain(
      'mlp.shared_expert_gate.weight',
    );
  });
});
