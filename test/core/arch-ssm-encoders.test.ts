/**
 * mamba, mamba2, jamba, bert and t5 read from small configs: counts worked out by hand in the comments from the
 * transformers module layouts, with the transformers defaults for absent keys, and variants whose change is also
 * worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import { countParameters, specFromConfig } from '../../src/core/arch/index.js';
import { tinyConfig, total, without } from './fixtures-arch.js';

describe('mamba', () => {
  // h 8, 2 layers, vocab 10. Defaults: state 16, conv 4, d_inner 2 x 8 = 16, dt rank ceil(8/16) = 1,
  // no projection bias, conv bias.
  const C = { model_type: 'mamba', hidden_size: 8, num_hidden_layers: 2, vocab_size: 10 };
  // Layer: norm 8 + in_proj 32x8 = 256 + conv 16x4 = 64 + conv bias 16 + x_proj (1 + 32) x 16 = 528
  // + dt_proj 16x1 + 16 = 32 + A_log 16x16 = 256 + D 16 + out_proj 8x16 = 128 = 1,304.
  // Outside: embeddings 80 + norm_f 8 (tied by default).
  const T = 2 * 1304 + 88;

  it('counts and reads', () => {
    const s = specFromConfig(C);
    expect(countParameters(s).total).toBe(T);
    expect(s.tiedEmbeddings).toBe(true);
    expect(s.groups[0]!.ssm).toEqual({
      kind: 'mamba1',
      dInner: 16,
      dState: 16,
      dConv: 4,
      convDim: 16,
      numHeads: 0,
      headDim: 0,
      nGroups: 1,
    });
    expect(s.groups[0]!.attention).toBeNull();
    expect(s.maxPositionEmbeddings).toBeNull();
  });

  it('variants', () => {
    expect(total({ model_type: 'mamba', d_model: 8, n_layer: 2, vocab_size: 10 })).toBe(T);
    // dt rank 2: x_proj +16, dt_proj +16.
    expect(total({ ...C, time_step_rank: 2 })).toBe(T + 2 * 32);
    expect(total({ ...C, time_step_rank: 'auto' })).toBe(T);
    // Projection biases: in_proj 32 + out_proj 8.
    expect(total({ ...C, use_bias: true })).toBe(T + 2 * 40);
    expect(total({ ...C, use_conv_bias: false })).toBe(T - 2 * 16);
    // state 4: x_proj (1 + 8) x 16 = 144 (-384), A_log 64 (-192).
    expect(total({ ...C, state_size: 4 })).toBe(T - 2 * 576);
    expect(total({ ...C, conv_kernel: 2 })).toBe(T - 2 * 32);
    // d_inner 8: 8 + 128 + 32 + 8 + 33x8 = 264 + 16 + 128 + 8 + 64 = 656.
    expect(total({ ...C, intermediate_size: 8 })).toBe(2 * 656 + 88);
    expect(total({ ...C, expand: 1 })).toBe(2 * 656 + 88);
    expect(total({ ...C, tie_word_embeddings: false })).toBe(T + 80);
  });
});

describe('mamba2', () => {
  // h 8, 2 layers, 2 heads, state 4; defaults: head_dim 64, 1 group, conv 4, expand 2 -> d_inner 16,
  // conv channels 16 + 2 x 1 x 4 = 24, untied.
  const C = {
    model_type: 'mamba2',
    hidden_size: 8,
    num_hidden_layers: 2,
    vocab_size: 10,
    num_heads: 2,
    state_size: 4,
  };
  // Layer: norm 8 + in_proj (16 + 24 + 2) x 8 = 336 + conv 24x4 = 96 + conv bias 24 + dt_bias, A_log, D 3 x 2
  // + gated norm 16 + out_proj 8x16 = 128 = 614. Outside: embeddings 80 + norm_f 8 + lm_head 80.
  const T = 2 * 614 + 168;

  it('counts and reads', () => {
    const s = specFromConfig(C);
    expect(countParameters(s).total).toBe(T);
    expect(s.tiedEmbeddings).toBe(false);
    expect(s.groups[0]!.ssm).toEqual({
      kind: 'mamba2',
      dInner: 16,
      dState: 4,
      dConv: 4,
      convDim: 24,
      numHeads: 2,
      headDim: 64,
      nGroups: 1,
    });
  });

  it('variants', () => {
    // 2 groups: conv channels 32: in_proj +64, conv +32, conv bias +8.
    expect(total({ ...C, n_groups: 2 })).toBe(T + 2 * 104);
    expect(specFromConfig({ ...C, n_groups: 2 }).groups[0]!.ssm!.nGroups).toBe(2);
    expect(total({ ...C, use_bias: true })).toBe(T + 2 * (42 + 8));
    expect(total({ ...C, use_conv_bias: false })).toBe(T - 2 * 24);
    // expand 1: d_inner 8, conv 16: 8 + 26x8 = 208 + 64 + 16 + 6 + 8 + 64 = 374.
    expect(total({ ...C, expand: 1 })).toBe(2 * 374 + 168);
    expect(total({ ...C, conv_kernel: 2 })).toBe(T - 2 * 48);
    // Default state 128: conv 16 + 256 = 272: 8 + 290x8 = 2,320 + 1,088 + 272 + 6 + 16 + 128 = 3,838.
    expect(total(without(C, 'state_size'))).toBe(2 * 3838 + 168);
    expect(specFromConfig({ ...C, head_dim: 4 }).groups[0]!.ssm!.headDim).toBe(4);
    expect(total({ ...C, tie_word_embeddings: true })).toBe(T - 80);
  });
});

describe('jamba', () => {
  // h 8, 4 layers, 2 heads of 4 with 1 KV head, MLP 16, 4 experts (top-2 by default), mamba d_state 4;
  // attention on layer 2 (period 4, offset 2); experts on odd layers (defaults period 2, offset 1);
  // mamba expand 2 -> 16, conv 4, dt rank ceil(8/16) = 1.
  const C = {
    model_type: 'jamba',
    hidden_size: 8,
    num_hidden_layers: 4,
    vocab_size: 10,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    intermediate_size: 16,
    num_experts: 4,
    mamba_d_state: 4,
    attn_layer_period: 4,
    attn_layer_offset: 2,
  };
  // Two RMSNorms 16 per layer. Mamba mixer: in_proj 256 + conv 64 + conv bias 16 + x_proj 9x16 = 144
  // + dt_proj 32 + A_log 64 + D 16 + out_proj 128 = 720, dt/b/c norms 1 + 4 + 4 -> 729.
  // Attention: q 64 + k 32 + v 32 + o 64 = 192. Gated MLP 3 x 16 x 8 = 384. MoE: router 32 + 4 x 384 = 1,568.
  const SSM_DENSE = 16 + 729 + 384; // 1,129
  const SSM_MOE = 16 + 729 + 1568; // 2,313
  const ATT_DENSE = 16 + 192 + 384; // 592
  const OUT = 80 + 8 + 80; // embed_tokens, final_layernorm, lm_head (untied)
  const T = SSM_DENSE + SSM_MOE + ATT_DENSE + SSM_MOE + OUT;

  it('counts, layer kinds and active parameters', () => {
    const s = specFromConfig(C);
    const p = countParameters(s);
    expect(p.total).toBe(T);
    // Top-2 of 4: half the experts idle in the two MoE layers.
    expect(p.active).toBe(T - 2 * 768);
    const kinds = Object.fromEntries(s.groups.map((g) => [g.name, g.layers]));
    expect(kinds).toEqual({
      'decoder.ssm.dense': [0],
      'decoder.ssm.moe': [1, 3],
      'decoder.attention.dense': [2],
    });
    const att = s.groups.find((g) => g.attention)!;
    expect(att.attention).toMatchObject({ numHeads: 2, numKvHeads: 1, headDim: 4 });
    expect(att.ssm).toBeNull();
    expect(s.groups.find((g) => g.name === 'decoder.ssm.moe')!.mlp).toMatchObject({ numExperts: 4, topK: 2 });
    expect(s.groups[0]!.ssm).toMatchObject({ kind: 'mamba1', dInner: 16, dState: 4, dConv: 4 });
    expect(s.groups[0]!.mlp).toMatchObject({
      kind: 'dense',
      gated: true,
      activation: 'silu',
      intermediateSize: 16,
    });
  });

  it('variants', () => {
    expect(total({ ...C, num_experts: 1 })).toBe(3 * SSM_DENSE + ATT_DENSE + OUT);
    expect(countParameters(specFromConfig({ ...C, num_experts_per_tok: 1 })).active).toBe(T - 2 * 1152);
    // Experts every 4th layer from 1: only layer 1.
    expect(total({ ...C, expert_layer_period: 4 })).toBe(2 * SSM_DENSE + SSM_MOE + ATT_DENSE + OUT);
    // Experts from layer 0: layers 0 and 2 (attention there: 16 + 192 + 1,568).
    const off0 = specFromConfig({ ...C, expert_layer_offset: 0 });
    expect(Object.fromEntries(off0.groups.map((g) => [g.name, g.layers]))).toEqual({
      'decoder.ssm.moe': [0],
      'decoder.ssm.dense': [1, 3],
      'decoder.attention.moe': [2],
    });
    // Three mamba layers: projection biases 32 + 8, conv bias 16, dt rank 2 (+16 +16 +1), conv 2 (-32).
    expect(total({ ...C, mamba_proj_bias: true })).toBe(T + 3 * 40);
    expect(total({ ...C, mamba_conv_bias: false })).toBe(T - 3 * 16);
    expect(total({ ...C, mamba_dt_rank: 2 })).toBe(T + 3 * 33);
    expect(total({ ...C, mamba_d_conv: 2 })).toBe(T - 3 * 32);
    // mamba expand 1: d_inner 8: 128 + 32 + 8 + 72 + 16 + 32 + 8 + 64 = 360, +9 norms = 369 (-360).
    expect(total({ ...C, mamba_expand: 1 })).toBe(T - 3 * 360);
    // Default period 8, offset 4: no attention layer among 4.
    expect(total(without(without(C, 'attn_layer_period'), 'attn_layer_offset'))).toBe(
      T - ATT_DENSE + SSM_DENSE,
    );
    // Two KV heads: k and v 8x8 each (+64).
    expect(total({ ...C, num_key_value_heads: undefined })).toBe(T + 64);
    expect(total({ ...C, tie_word_embeddings: true })).toBe(T - 80);
    const s = specFromConfig({ ...C, hidden_act: 'gelu', max_position_embeddings: 4096 });
    expect(s.maxPositionEmbeddings).toBe(4096);
    expect(s.groups[0]!.mlp!.activation).toBe('gelu');
  });
});

describe('bert', () => {
  const C = tinyConfig('bert', { intermediate_size: 32, max_position_embeddings: 16 });
  // Layer: q/k/v/o 4 x 72 = 288 + LayerNorm 16 + intermediate 32x8+32 = 288 + output 8x32+8 = 264 + LayerNorm 16
  // = 872. Outside: words 80 + positions 128 + 2 token types x 8 = 16 + LayerNorm 16 + pooler 72 = 312.
  const T = 2 * 872 + 312;

  it('counts and reads', () => {
    for (const model_type of ['bert', 'roberta']) {
      const s = specFromConfig({ ...C, model_type });
      expect(countParameters(s).total).toBe(T);
      expect(s.structure).toBe('encoder');
      expect(s.tiedEmbeddings).toBe(true);
      expect(s.groups.map((g) => [g.name, g.stack, g.count])).toEqual([['encoder', 'encoder', 2]]);
      expect(s.groups[0]!.mlp).toEqual({
        kind: 'dense',
        gated: false,
        activation: 'gelu',
        intermediateSize: 32,
      });
      expect(s.maxPositionEmbeddings).toBe(16);
      expect(s.groups[0]!.attention).toMatchObject({ causal: false, headDim: 4 });
      expect(s.groups[0]!.mlp!.activation).toBe('gelu');
    }
    expect(total({ ...C, type_vocab_size: 1 })).toBe(T - 8);
    expect(specFromConfig({ ...C, hidden_act: 'relu' }).groups[0]!.mlp!.activation).toBe('relu');
  });
});

describe('t5', () => {
  const C = { model_type: 't5', d_model: 8, d_kv: 4, d_ff: 32, num_layers: 2, num_heads: 2, vocab_size: 10 };
  // Encoder layer: q/k/v/o 4 x 8x8 = 256 + LN 8 + wi 256 + wo 256 + LN 8 = 784.
  // Decoder layer: self 256 + LN 8 + cross 256 + LN 8 + wi/wo 512 + LN 8 = 1,048.
  // Outside: shared 80 + two relative biases 32 x 2 = 128 + two final norms 16 (tied by default).
  const T = 2 * 784 + 2 * 1048 + 224;

  it('counts and reads', () => {
    const s = specFromConfig(C);
    expect(countParameters(s).total).toBe(T);
    expect(s.structure).toBe('encoder-decoder');
    expect(s.groups.map((g) => [g.name, g.stack, g.count])).toEqual([
      ['encoder', 'encoder', 2],
      ['decoder', 'decoder', 2],
    ]);
    expect(s.numLayers).toBe(2);
    const dec = s.groups.find((g) => g.stack === 'decoder')!;
    expect(dec.crossAttention).toMatchObject({ cross: true, causal: false, headDim: 4 });
    expect(dec.attention).toMatchObject({ causal: true });
    expect(dec.mlp).toEqual({ kind: 'dense', gated: false, activation: 'relu', intermediateSize: 32 });
    expect(s.groups.find((g) => g.stack === 'encoder')!.attention!.causal).toBe(false);
  });

  it('variants', () => {
    const one = specFromConfig({ ...C, num_decoder_layers: 1 });
    expect(countParameters(one).total).toBe(T - 1048);
    expect(one.numLayers).toBe(1);
    // gated-gelu: wi_0 and wi_1 (+256 per layer of 4).
    const g = specFromConfig({ ...C, feed_forward_proj: 'gated-gelu' });
    expect(countParameters(g).total).toBe(T + 4 * 256);
    expect(g.groups[0]!.mlp).toMatchObject({ gated: true, activation: 'gelu' });
    expect(total({ ...C, relative_attention_num_buckets: 16 })).toBe(T - 64);
    expect(total({ ...C, tie_word_embeddings: false })).toBe(T + 80);
    // d_kv 2: attention 4 x 8x4 = 128 per block (-128 encoder, -256 decoder layers).
    expect(total({ ...C, d_kv: 2 })).toBe(T - 2 * 128 - 2 * 256);
  });
});
