/**
 * The early decoder families (gpt2, gpt_neox, gptj, opt, bloom, falcon, phi) read from small configs: each
 * parameter count is worked out by hand in the comment beside it from the transformers module layout, and each
 * variant (key absent, alternative key name, flag flipped) changes it by an amount also worked out by hand.
 * Tensor names are those of the transformers checkpoints (they match quantisation exclusions by name).
 */
import { describe, expect, it } from 'vitest';
import { countParameters, specFromConfig, type ModelSpec } from '../../src/core/arch/index.js';
import { tinyConfig, total, wb } from './fixtures-arch.js';

/** Tensor names of the one decoder group, then of the tensors outside the layers. */
function names(s: ModelSpec): { layer: string[]; global: string[] } {
  expect(s.groups).toHaveLength(1);
  return { layer: s.groups[0]!.tensors.map((t) => t.name), global: s.globalTensors.map((t) => t.name) };
}

/** Reads a config, checking a plain two-matrix MLP, head_dim 8 / 2 = 4 and `t` parameters in all. */
function readPlain(c: Record<string, unknown>, t: number): ModelSpec {
  const s = specFromConfig(c);
  expect(s.groups[0]!.mlp!.gated).toBe(false);
  expect(s.groups[0]!.attention!.headDim).toBe(4);
  expect(countParameters(s).total).toBe(t);
  return s;
}

describe('gpt2', () => {
  // h 8, 2 layers, 2 heads, vocab 10, 16 positions, n_inner absent -> 4h = 32.
  const C = { model_type: 'gpt2', n_embd: 8, n_layer: 2, n_head: 2, vocab_size: 10, n_positions: 16 };
  // Layer: ln_1 16 + c_attn 8x24+24 = 216 + c_proj 64+8 = 72 + ln_2 16 + c_fc 8x32+32 = 288 + c_proj 32x8+8 = 264
  // = 872. Outside: wte 80 + wpe 16x8 = 128 + ln_f 16 = 224 (LM head tied by default).
  const T = 2 * 872 + 224;

  it('counts and reads', () => {
    const s = specFromConfig(C);
    expect(countParameters(s).total).toBe(T);
    expect(countParameters(s).breakdown.position).toBe(128);
    expect(s.maxPositionEmbeddings).toBe(16);
    expect(s.tiedEmbeddings).toBe(true);
    expect(s.groups[0]!.attention).toMatchObject({ numHeads: 2, numKvHeads: 2, headDim: 4, causal: true });
    expect(s.groups[0]!.mlp).toEqual({
      kind: 'dense',
      gated: false,
      activation: 'gelu_new',
      intermediateSize: 32,
    });
    expect(names(s)).toEqual({
      layer: wb('ln_1', 'attn.c_attn', 'attn.c_proj', 'ln_2', 'mlp.c_fc', 'mlp.c_proj'),
      global: ['wte.weight', 'wpe.weight', ...wb('ln_f')],
    });
  });

  it('variants', () => {
    const alt = tinyConfig('gpt2');
    expect(total({ ...alt, max_position_embeddings: 16 })).toBe(T);
    // n_inner 16: c_fc 8x16+16 = 144, c_proj 16x8+8 = 136 instead of 288 + 264.
    expect(total({ ...C, n_inner: 16 })).toBe(T - 2 * (288 + 264 - 144 - 136));
    // Untied: an LM head of 10 x 8 without bias.
    expect(total({ ...C, tie_word_embeddings: false })).toBe(T + 80);
    expect(specFromConfig({ ...C, activation_function: 'relu' }).groups[0]!.mlp!.activation).toBe('relu');
    expect(() => specFromConfig({ ...C, n_positions: undefined })).toThrow(
      /n_positions \| max_position_embeddings/,
    );
  });
});

describe('gpt_neox', () => {
  const C = tinyConfig('gpt_neox', { intermediate_size: 32 });
  // Layer: two LayerNorms 32 + query_key_value 24x8+24 = 216 + dense 64+8 = 72 + h_to_4h 32x8+32 = 288
  // + 4h_to_h 8x32+8 = 264 = 872. Outside: embed_in 80 + final_layer_norm 16 + embed_out 80 (untied by default).
  const T = 2 * 872 + 176;

  it('counts and reads', () => {
    const s = readPlain(C, T);
    expect(s.tiedEmbeddings).toBe(false);
    expect(s.maxPositionEmbeddings).toBeNull();
    expect(s.groups[0]!.mlp!.activation).toBe('gelu');
    expect(s.groups[0]!.attention!.headDim).toBe(4);
    expect(names(s)).toEqual({
      layer: [
        ...wb('input_layernorm', 'post_attention_layernorm', 'attention.query_key_value', 'attention.dense'),
        ...wb('mlp.dense_h_to_4h', 'mlp.dense_4h_to_h'),
      ],
      global: ['embed_in.weight', ...wb('final_layer_norm'), 'embed_out.weight'],
    });
  });

  it('variants', () => {
    // attention_bias false drops the qkv (24) and dense (8) biases.
    expect(total({ ...C, attention_bias: false })).toBe(T - 2 * 32);
    expect(total({ ...C, tie_word_embeddings: true })).toBe(T - 80);
    const s = specFromConfig({ ...C, hidden_act: 'gelu_fast', max_position_embeddings: 2048 });
    expect(s.groups[0]!.mlp!.activation).toBe('gelu_fast');
    expect(s.maxPositionEmbeddings).toBe(2048);
  });
});

describe('gptj', () => {
  const C = { model_type: 'gptj', n_embd: 8, n_layer: 2, n_head: 2, vocab_size: 10 };
  // Layer: ln_1 16 + q/k/v/out 4 x 64 (no bias) = 256 + fc_in 32x8+32 = 288 + fc_out 8x32+8 = 264 = 824.
  // Outside: wte 80 + ln_f 16 + lm_head 80 + bias 10 = 186.
  const T = 2 * 824 + 186;

  it('counts and reads', () => {
    const s = readPlain(C, T);
    expect(s.maxPositionEmbeddings).toBeNull();
    expect(s.tiedEmbeddings).toBe(false);
    expect(s.groups[0]!.mlp).toEqual({
      kind: 'dense',
      gated: false,
      activation: 'gelu_new',
      intermediateSize: 32,
    });
    expect(names(s)).toEqual({
      layer: [
        ...wb('ln_1'),
        ...['q_proj', 'k_proj', 'v_proj', 'out_proj'].map((p) => `attn.${p}.weight`),
        ...wb('mlp.fc_in', 'mlp.fc_out'),
      ],
      global: ['wte.weight', ...wb('ln_f', 'lm_head')],
    });
  });

  it('variants', () => {
    const alt = tinyConfig('gptj');
    expect(total(alt)).toBe(T);
    // Tied: only the LM head bias (10) stays.
    expect(total({ ...C, tie_word_embeddings: true })).toBe(T - 80);
    // n_inner 16: fc_in 16x8+16 = 144, fc_out 8x16+8 = 136.
    expect(total({ ...C, n_inner: 16 })).toBe(T - 2 * (288 + 264 - 144 - 136));
    const s = specFromConfig({ ...C, n_positions: 2048, activation_function: 'gelu' });
    expect(s.maxPositionEmbeddings).toBe(2048);
    expect(s.groups[0]!.mlp!.activation).toBe('gelu');
  });
});

describe('opt', () => {
  const C = tinyConfig('opt', { ffn_dim: 32, max_position_embeddings: 16 });
  // Layer: q/k/v/out 4 x (64+8) = 288 + self_attn_layer_norm 16 + fc1 32x8+32 = 288 + fc2 8x32+8 = 264
  // + final_layer_norm 16 = 872. Outside: embed_tokens 80 + positions (16+2) x 8 = 144 + final_layer_norm 16 = 240.
  const T = 2 * 872 + 240;

  it('counts and reads', () => {
    const s = readPlain(C, T);
    expect(countParameters(s).breakdown.position).toBe(144);
    expect(s.tiedEmbeddings).toBe(true);
    expect(s.maxPositionEmbeddings).toBe(16);
    expect(s.groups[0]!.mlp!.activation).toBe('relu');
    expect(names(s)).toEqual({
      layer: wb(
        ...['q_proj', 'k_proj', 'v_proj', 'out_proj'].map((p) => `self_attn.${p}`),
        'self_attn_layer_norm',
        'fc1',
        'fc2',
        'final_layer_norm',
      ),
      global: ['embed_tokens.weight', 'embed_positions.weight', ...wb('final_layer_norm')],
    });
  });

  it('variants', () => {
    // enable_bias false: 4 x 8 attention + 32 + 8 MLP biases per layer.
    expect(total({ ...C, enable_bias: false })).toBe(T - 2 * 72);
    // No affine LayerNorms: 2 x 16 per layer and the final 16.
    expect(total({ ...C, layer_norm_elementwise_affine: false })).toBe(T - 2 * 32 - 16);
    expect(total({ ...C, do_layer_norm_before: false })).toBe(T - 16);
    expect(total({ ...C, _remove_final_layer_norm: true })).toBe(T - 16);
    // word_embed_proj_dim 4: embed_tokens 10x4 = 40 (not 80), project_in 4->8 = 32, project_out 8->4 = 32.
    expect(total({ ...C, word_embed_proj_dim: 4 })).toBe(T - 40 + 64);
    // Untied with projection: lm_head 10 x 4 = 40.
    expect(total({ ...C, word_embed_proj_dim: 4, tie_word_embeddings: false })).toBe(T - 40 + 64 + 40);
    expect(total({ ...C, tie_word_embeddings: false })).toBe(T + 80);
    expect(specFromConfig({ ...C, activation_function: 'gelu' }).groups[0]!.mlp!.activation).toBe('gelu');
  });
});

describe('bloom', () => {
  const C = { model_type: 'bloom', hidden_size: 8, n_layer: 2, n_head: 2, vocab_size: 10 };
  // Layer: input_layernorm 16 + qkv 24x8+24 = 216 + dense 72 + post_attention_layernorm 16 + h_to_4h 288
  // + 4h_to_h 264 = 872. Outside: word_embeddings 80 + its LayerNorm 16 + ln_f 16 = 112 (tied).
  const T = 2 * 872 + 112;

  it('counts and reads', () => {
    const s = readPlain(C, T);
    expect(s.maxPositionEmbeddings).toBeNull();
    expect(s.groups[0]!.mlp).toEqual({
      kind: 'dense',
      gated: false,
      activation: 'gelu',
      intermediateSize: 32,
    });
    expect(names(s)).toEqual({
      layer: wb(
        'input_layernorm',
        'self_attention.query_key_value',
        'self_attention.dense',
        'post_attention_layernorm',
        'mlp.dense_h_to_4h',
        'mlp.dense_4h_to_h',
      ),
      global: ['word_embeddings.weight', ...wb('word_embeddings_layernorm', 'ln_f')],
    });
  });

  it('variants', () => {
    const alt = {
      model_type: 'bloom',
      n_embed: 8,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      vocab_size: 10,
    };
    expect(total(alt)).toBe(T);
    expect(total({ ...C, tie_word_embeddings: false })).toBe(T + 80);
  });
});

describe('falcon', () => {
  const C = tinyConfig('falcon');
  // Defaults: old architecture, multi_query -> 1 KV head of 4; no biases; ffn 32; parallel attention, one LayerNorm.
  // Layer: input_layernorm 16 + query_key_value (2+2) x 4 = 16 x 8 = 128 + dense 64 + 32x8 + 8x32 = 512 = 720.
  // Outside: word_embeddings 80 + ln_f 16 (tied).
  const T = 2 * 720 + 96;

  it('counts and reads', () => {
    const s = readPlain(C, T);
    expect(s.groups[0]!.attention).toMatchObject({ kind: 'mqa', numHeads: 2, numKvHeads: 1, headDim: 4 });
    expect(s.maxPositionEmbeddings).toBeNull();
    expect(s.groups[0]!.mlp!.activation).toBe('gelu');
    expect(names(s)).toEqual({
      layer: [
        ...wb('input_layernorm'),
        ...[
          'self_attention.query_key_value',
          'self_attention.dense',
          'mlp.dense_h_to_4h',
          'mlp.dense_4h_to_h',
        ].map((m) => `${m}.weight`),
      ],
      global: ['word_embeddings.weight', ...wb('ln_f')],
    });
  });

  it('variants', () => {
    const alt = { model_type: 'falcon', n_embed: 8, n_layer: 2, n_head: 2, vocab_size: 10 };
    expect(total(alt)).toBe(T);
    // multi_query false: 2 KV heads, query_key_value (2+4) x 4 = 24 x 8 = 192 (+64).
    expect(total({ ...C, multi_query: false })).toBe(T + 2 * 64);
    // Sequential attention adds post_attention_layernorm (16).
    expect(total({ ...C, parallel_attn: false })).toBe(T + 2 * 16);
    // Biases: qkv 16 + dense 8 + 32 + 8.
    expect(total({ ...C, bias: true })).toBe(T + 2 * 64);
    expect(total({ ...C, ffn_hidden_size: 16 })).toBe(T - 2 * 256);
    expect(total({ ...C, tie_word_embeddings: false })).toBe(T + 80);
    // New architecture: KV heads from num_kv_heads (or n_head_kv), two LayerNorms ln_attn and ln_mlp.
    const nw = { ...C, new_decoder_architecture: true };
    expect(total({ ...nw, num_kv_heads: 1 })).toBe(T + 2 * 16);
    expect(total({ ...nw, n_head_kv: 1 })).toBe(T + 2 * 16);
    expect(total({ ...nw, num_kv_heads: 1, num_ln_in_parallel_attn: 1 })).toBe(T);
    // Without a KV-head count the new architecture has one per head: +64 per layer as above.
    expect(total(nw)).toBe(T + 2 * (16 + 64));
    expect(names(specFromConfig({ ...nw, num_kv_heads: 1 })).layer.slice(0, 4)).toEqual(
      wb('ln_attn', 'ln_mlp'),
    );
    expect(specFromConfig({ ...C, max_position_embeddings: 2048 }).maxPositionEmbeddings).toBe(2048);
  });
});

describe('phi', () => {
  const C = tinyConfig('phi', { intermediate_size: 32 });
  // Layer: input_layernorm 16 + q/k/v/dense 4 x (64+8) = 288 + fc1 288 + fc2 264 = 856.
  // Outside: embed_tokens 80 + final_layernorm 16 + lm_head 80 + bias 10 = 186.
  const T = 2 * 856 + 186;

  it('counts and reads', () => {
    const s = readPlain(C, T);
    expect(s.tiedEmbeddings).toBe(false);
    expect(s.maxPositionEmbeddings).toBeNull();
    expect(s.groups[0]!.mlp!.activation).toBe('gelu_new');
    expect(names(s)).toEqual({
      layer: wb(
        'input_layernorm',
        'self_attn.q_proj',
        'self_attn.k_proj',
        'self_attn.v_proj',
        'self_attn.dense',
        'mlp.fc1',
        'mlp.fc2',
      ),
      global: ['embed_tokens.weight', ...wb('final_layernorm', 'lm_head')],
    });
  });

  it('variants', () => {
    // One KV head: k and v 4x8+4 = 36 each instead of 72.
    expect(total({ ...C, num_key_value_heads: 1 })).toBe(T - 2 * 72);
    // q/k LayerNorms over head_dim 4: 2 x (4+4).
    expect(total({ ...C, qk_layernorm: true })).toBe(T + 2 * 16);
    expect(total({ ...C, tie_word_embeddings: true })).toBe(T - 80);
    const s = specFromConfig({ ...C, hidden_act: 'gelu', max_position_embeddings: 2048 });
    expect(s.groups[0]!.mlp!.activation).toBe('gelu');
    expect(s.maxPositionEmbeddings).toBe(2048);
  });
});
