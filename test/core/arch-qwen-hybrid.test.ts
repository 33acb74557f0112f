/**
 * Qwen3-Next and Qwen3.5 hybrid decoders (Gated DeltaNet linear attention + gated full attention) from small
 * configs: counts worked out by hand in the comments from transformers' modeling_qwen3_next / modeling_qwen3_5,
 * which layers are full attention (full_attention_interval or layer_types), MoE layer rules, the vision tower and
 * the wrapper-versus-text_config precedence of tie_word_embeddings and dtype.
 */
import { describe, expect, it } from 'vitest';
import { countParameters, specFromConfig, type ModelSpec } from '../../src/core/arch/index.js';
import { total, without } from './fixtures-arch.js';

const layersOf = (s: ModelSpec) => Object.fromEntries(s.groups.map((g) => [g.name, g.layers]));

// h 16, 4 layers, vocab 10; full attention 2 heads of 8, 1 KV head; DeltaNet 2 key heads of 4, 4 value heads of 2;
// 4 experts of 8 (top-2) and a shared expert of 8.
const NEXT = {
  model_type: 'qwen3_next',
  hidden_size: 16,
  num_hidden_layers: 4,
  vocab_size: 10,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  head_dim: 8,
  linear_num_key_heads: 2,
  linear_num_value_heads: 4,
  linear_key_head_dim: 4,
  linear_value_head_dim: 2,
  num_experts: 4,
  num_experts_per_tok: 2,
  moe_intermediate_size: 8,
  shared_expert_intermediate_size: 8,
  intermediate_size: 32,
};
// DeltaNet: key dim 8, value dim 8, conv channels 2 x 8 + 8 = 24: in_proj_qkv 24x16 = 384 + z 8x16 = 128
// + b 4x16 = 64 + a 64 + conv 24 x 4 = 96 + dt_bias 4 + A_log 4 + gated norm 2 + out_proj 16x8 = 128 = 874.
const GDN = 874;
// Gated attention: q (2 x 8 x 2) x 16 = 512 + k 128 + v 128 + o 256 + q/k norms 16 = 1,040.
const ATT = 1040;
// MoE: router 64 + experts 4 x 3 x 8 x 16 = 1,536 + shared 3 x 8 x 16 = 384 + shared gate 16 = 2,000.
const MOE = 2000;
const DENSE = 3 * 32 * 16; // 1,536
const NORMS = 32;
const OUT = 160 + 16 + 160;
const T = 3 * (GDN + MOE + NORMS) + (ATT + MOE + NORMS) + OUT;

describe('qwen3_next', () => {
  it('counts, layer kinds and DeltaNet state', () => {
    const s = specFromConfig(NEXT);
    const p = countParameters(s);
    expect(p.total).toBe(T);
    // Top-2 of 4 experts: half of 1,536 idle in each of the 4 layers.
    expect(p.active).toBe(T - 4 * 768);
    expect(layersOf(s)).toEqual({ 'decoder.linear_attention.moe': [0, 1, 2], 'decoder.attention.moe': [3] });
    const lin = s.groups[0]!;
    expect(lin.ssm).toEqual({
      kind: 'gated_deltanet',
      dInner: 8,
      dState: 4,
      dConv: 4,
      convDim: 24,
      numHeads: 4,
      headDim: 2,
      nGroups: 2,
    });
    expect(lin.attention).toBeNull();
    const att = s.groups[1]!;
    expect(att.attention).toMatchObject({ numHeads: 2, numKvHeads: 1, headDim: 8 });
    expect(att.ssm).toBeNull();
    expect(att.mlp).toEqual({
      kind: 'moe',
      numExperts: 4,
      topK: 2,
      gated: true,
      activation: 'silu',
      expertIntermediateSize: 8,
      sharedIntermediateSize: 8,
    });
    expect(s.warnings).toEqual([]);
    expect(s.tiedEmbeddings).toBe(false);
  });

  it('which layers attend: full_attention_interval or layer_types', () => {
    expect(layersOf(specFromConfig({ ...NEXT, full_attention_interval: 2 }))).toEqual({
      'decoder.linear_attention.moe': [0, 2],
      'decoder.attention.moe': [1, 3],
    });
    expect(total({ ...NEXT, full_attention_interval: 2 })).toBe(T + ATT - GDN);
    const types = ['linear_attention', 'full_attention', 'linear_attention', 'linear_attention'];
    expect(layersOf(specFromConfig({ ...NEXT, layer_types: types }))).toEqual({
      'decoder.linear_attention.moe': [0, 2, 3],
      'decoder.attention.moe': [1],
    });
    expect(() => specFromConfig({ ...NEXT, layer_types: types.slice(0, 2) })).toThrow(
      /layer_types has 2 entries but num_hidden_layers is 4/,
    );
  });

  it('MoE variants', () => {
    // No experts: a dense model with the 32-wide MLP everywhere.
    const dense = specFromConfig(without(NEXT, 'num_experts'));
    expect(countParameters(dense).total).toBe(3 * (GDN + DENSE + NORMS) + (ATT + DENSE + NORMS) + OUT);
    expect(layersOf(dense)).toEqual({ 'decoder.linear_attention': [0, 1, 2], 'decoder.attention': [3] });
    expect(total({ ...NEXT, mlp_only_layers: [0] })).toBe(T - MOE + DENSE);
    expect(total({ ...NEXT, decoder_sparse_step: 2 })).toBe(T - 2 * (MOE - DENSE));
    // No shared expert: its MLP 384 and its gate 16 go.
    expect(total(without(NEXT, 'shared_expert_intermediate_size'))).toBe(T - 4 * 400);
    expect(() => specFromConfig(without(NEXT, 'moe_intermediate_size'))).toThrow(/moe_intermediate_size/);
  });

  it('attention and DeltaNet variants', () => {
    // Without the output gate q_proj is 16 x 16 = 256.
    expect(total({ ...NEXT, attn_output_gate: false })).toBe(T - 256);
    // Biases on q (32), k (8), v (8), o (16).
    expect(total({ ...NEXT, attention_bias: true })).toBe(T + 64);
    // Two KV heads: k and v 16 x 16 each (+256).
    expect(total(without(NEXT, 'num_key_value_heads'))).toBe(T + 256);
    // head_dim absent: 16 / 2 = 8, as given.
    expect(total(without(NEXT, 'head_dim'))).toBe(T);
    expect(total({ ...NEXT, linear_conv_kernel_dim: 2 })).toBe(T - 3 * 48);
    expect(total({ ...NEXT, tie_word_embeddings: true })).toBe(T - 160);
    expect(specFromConfig({ ...NEXT, mtp_num_hidden_layers: 1 }).warnings).toHaveLength(1);
    expect(specFromConfig({ ...NEXT, num_nextn_predict_layers: 1 }).warnings).toHaveLength(1);
    expect(specFromConfig({ ...NEXT, max_position_embeddings: 4096 }).maxPositionEmbeddings).toBe(4096);
    expect(() => specFromConfig(without(NEXT, 'linear_value_head_dim'))).toThrow(/linear_value_head_dim/);
  });
});

describe('qwen3_5', () => {
  const TEXT_DENSE = without(NEXT, 'num_experts', 'num_experts_per_tok', 'moe_intermediate_size');
  const DENSE_T = 3 * (GDN + DENSE + NORMS) + (ATT + DENSE + NORMS) + OUT;
  // Vision: width 8, 2 blocks, 2 heads, MLP 16, patches of 14, a 16-entry position table.
  const V = {
    hidden_size: 8,
    depth: 2,
    num_heads: 2,
    intermediate_size: 16,
    patch_size: 14,
    num_position_embeddings: 16,
  };
  // Block: norm1 16 + norm2 16 + qkv 216 + proj 72 + fc1 144 + fc2 136 = 600. Patch conv 8 x 3 x 2 x 14 x 14
  // = 9,408 + bias 8; positions 16 x 8 = 128.
  const VIS = 2 * 600 + 9408 + 8 + 128;
  // Merger: LayerNorm 16 + fc1 (8 x 4 = 32) 1,056 + fc2 32 -> 16: 528.
  const PROJ = 16 + 1056 + 528;
  const C = { model_type: 'qwen3_5', text_config: TEXT_DENSE, vision_config: V };

  it('dense text with its vision tower', () => {
    const s = specFromConfig(C);
    const p = countParameters(s);
    expect(p.breakdown.vision).toBe(VIS);
    expect(p.breakdown.projector).toBe(PROJ);
    expect(p.total).toBe(DENSE_T + VIS + PROJ);
    // 448 / 14 = 32 patches a side, merged 2 x 2 -> 16 x 16.
    expect(s.vision).toEqual({ tokensPerImage: 256, imageSize: 448, patchSize: 14, hiddenSize: 8 });
    const v = s.groups.find((g) => g.stack === 'vision')!;
    expect(v.attention).toMatchObject({ numHeads: 2, headDim: 4, causal: false });
    expect(v.mlp).toEqual({
      kind: 'dense',
      gated: false,
      activation: 'gelu_pytorch_tanh',
      intermediateSize: 16,
    });
  });

  it('vision variants', () => {
    const cnt = (v: Record<string, unknown>) =>
      countParameters(specFromConfig({ ...C, vision_config: v })).breakdown;
    // Two deepstack mergers, their LayerNorm over the merged 32: 64 + 1,056 + 528 each.
    expect(cnt({ ...V, deepstack_visual_indexes: [3, 6] }).projector).toBe(PROJ + 2 * 1648);
    expect(cnt({ ...V, out_hidden_size: 32 }).projector).toBe(PROJ + 528);
    expect(cnt({ ...V, spatial_merge_size: 1 }).projector).toBe(16 + 72 + 144);
    expect(cnt({ ...V, temporal_patch_size: 1 }).vision).toBe(VIS - 4704);
    expect(cnt({ ...V, in_channels: 1 }).vision).toBe(VIS - 6272);
    // Default table of 2,304 positions.
    expect(cnt(without(V, 'num_position_embeddings')).vision).toBe(VIS - 128 + 2304 * 8);
    expect(specFromConfig({ ...C, vision_config: { ...V, patch_size: 16 } }).vision!.tokensPerImage).toBe(
      196,
    );
    const act = specFromConfig({ ...C, vision_config: { ...V, hidden_act: 'gelu' } });
    expect(act.groups.find((g) => g.stack === 'vision')!.mlp!.activation).toBe('gelu');
    // No vision_config: the text model alone.
    const noVis = specFromConfig(without(C, 'vision_config'));
    expect(noVis.vision).toBeNull();
    expect(countParameters(noVis).total).toBe(DENSE_T);
  });

  it('MoE and text-only model types', () => {
    expect(total({ model_type: 'qwen3_5_moe', text_config: NEXT })).toBe(T);
    expect(total({ ...NEXT, model_type: 'qwen3_5_moe_text' })).toBe(T);
    expect(total({ ...TEXT_DENSE, model_type: 'qwen3_5_text' })).toBe(DENSE_T);
    // qwen3_5 (not _moe) reads no experts even when the keys are there.
    expect(total({ ...NEXT, model_type: 'qwen3_5' })).toBe(DENSE_T);
  });

  it('tie_word_embeddings: the wrapper decides, then text_config', () => {
    expect(total({ ...C, tie_word_embeddings: true })).toBe(DENSE_T + VIS + PROJ - 160);
    expect(total({ ...C, text_config: { ...TEXT_DENSE, tie_word_embeddings: true } })).toBe(
      DENSE_T + VIS + PROJ - 160,
    );
    expect(
      total({ ...C, tie_word_embeddings: false, text_config: { ...TEXT_DENSE, tie_word_embeddings: true } }),
    ).toBe(DENSE_T + VIS + PROJ);
  });

  it('dtype and max positions from text_config when the wrapper has none', () => {
    expect(specFromConfig({ ...C, text_config: { ...TEXT_DENSE, dtype: 'bfloat16' } }).torchDtype).toBe(
      'bfloat16',
    );
    expect(specFromConfig({ ...C, text_config: { ...TEXT_DENSE, torch_dtype: 'float16' } }).torchDtype).toBe(
      'float16',
    );
    expect(
      specFromConfig({ ...C, torch_dtype: 'float32', text_config: { ...TEXT_DENSE, dtype: 'bfloat16' } })
        .torchDtype,
    ).toBe('float32');
    expect(specFromConfig(C).torchDtype).toBeNull();
    const m = specFromConfig({ ...C, text_config: { ...TEXT_DENSE, max_position_embeddings: 8192 } });
    expect(m.maxPositionEmbeddings).toBe(8192);
    expect(() => specFromConfig({ ...C, text_config: without(TEXT_DENSE, 'vocab_size') })).toThrow(
      /text_config\.vocab_size/,
    );
  });
});
