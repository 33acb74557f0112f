/**
 * The llama-shaped families (llama, granite, mistral, mixtral, qwen v1/2/3 and their MoE, olmo2, cohere, starcoder2,
 * phi3, phimoe, gemma 1/2/3, gpt_oss) read from one small config with each family's own keys: the count of each is
 * the base below plus the family's differences, worked out by hand from the transformers modules.
 */
import { describe, expect, it } from 'vitest';
import { countParameters, specFromConfig, type ModelSpec } from '../../src/core/arch/index.js';
import { total, without } from './fixtures-arch.js';

const windows = (s: ModelSpec) =>
  s.groups
    .flatMap((g) => g.layers.map((i) => [i, g.attention!.window] as const))
    .sort((a, b) => a[0] - b[0])
    .map(([, w]) => w);

// h 16, 2 layers, 2 heads of 8, 1 KV head, MLP 32, vocab 10.
const B = {
  model_type: 'llama',
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  intermediate_size: 32,
  vocab_size: 10,
};
// Layer: q 256 + k 128 + v 128 + o 256 = 768; gated MLP 3 x 32 x 16 = 1,536; two RMSNorms 32 -> 2,336.
// Outside: embedding 160 + norm 16 + LM head 160 (untied).
const ATT = 768;
const MLP = 1536;
const T = 2 * (ATT + MLP + 32) + 336; // 5,008
const QKV_BIAS = 16 + 8 + 8;
const O_BIAS = 16;

describe('llama and the reader of decoder dims', () => {
  it('llama', () => {
    const s = specFromConfig(B);
    expect(countParameters(s).total).toBe(T);
    expect(s.tiedEmbeddings).toBe(false);
    expect(s.groups[0]!.attention).toMatchObject({
      kind: 'mqa',
      numHeads: 2,
      numKvHeads: 1,
      headDim: 8,
      window: null,
    });
    expect(s.groups[0]!.mlp).toEqual({
      kind: 'dense',
      gated: true,
      activation: 'silu',
      intermediateSize: 32,
    });
    expect(s.warnings).toEqual([]);
    expect(total({ ...B, attention_bias: true })).toBe(T + 2 * (QKV_BIAS + O_BIAS));
    // MLP biases: gate 32 + up 32 + down 16.
    expect(total({ ...B, mlp_bias: true })).toBe(T + 2 * 80);
    expect(total({ ...B, tie_word_embeddings: true })).toBe(T - 160);
    expect(specFromConfig({ ...B, hidden_act: 'gelu' }).groups[0]!.mlp!.activation).toBe('gelu');
    const m = specFromConfig({ ...B, max_position_embeddings: 4096, torch_dtype: 'bfloat16' });
    expect([m.maxPositionEmbeddings, m.torchDtype]).toEqual([4096, 'bfloat16']);
    expect(specFromConfig({ ...B, dtype: 'float16' }).torchDtype).toBe('float16');
    expect([specFromConfig(B).maxPositionEmbeddings, specFromConfig(B).torchDtype]).toEqual([null, null]);
  });

  it('alternative key names and defaults', () => {
    const alt = {
      model_type: 'llama',
      n_embd: 16,
      n_layer: 2,
      n_head: 2,
      num_kv_heads: 1,
      n_inner: 32,
      vocab_size: 10,
    };
    expect(total(alt)).toBe(T);
    const alt2 = {
      ...without(B, 'hidden_size', 'num_hidden_layers', 'num_attention_heads'),
      d_model: 16,
      num_layers: 2,
      num_heads: 2,
    };
    expect(total(alt2)).toBe(T);
    expect(total({ ...without(B, 'intermediate_size'), ffn_hidden_size: 32 })).toBe(T);
    // No MLP width at all: 4 x 16 = 64 (+1,536 a layer).
    expect(total(without(B, 'intermediate_size'))).toBe(T + 2 * MLP);
    // No KV-head count: one per head (k, v +128 each).
    expect(total(without(B, 'num_key_value_heads'))).toBe(T + 2 * 256);
    expect(specFromConfig(without(B, 'num_key_value_heads')).groups[0]!.attention!.kind).toBe('mha');
    expect(specFromConfig({ ...B, num_attention_heads: 1 }).groups[0]!.attention!.kind).toBe('mha');
    expect(
      specFromConfig({ ...B, num_attention_heads: 4, num_key_value_heads: 2 }).groups[0]!.attention!.kind,
    ).toBe('gqa');
    expect(
      specFromConfig({ ...B, num_key_value_heads: 1, num_attention_heads: 4 }).groups[0]!.attention!
        .numKvHeads,
    ).toBe(1);
    // head_dim 4 given: q 8x16, k/v 4x16, o 16x8.
    expect(total({ ...B, head_dim: 4 })).toBe(T - 2 * (ATT - 384));
  });

  it('errors name the fields', () => {
    expect(() => specFromConfig({ ...B, num_attention_heads: 3 })).toThrow(
      /head_dim is absent and hidden_size is not divisible/,
    );
    expect(() =>
      specFromConfig({ ...B, num_attention_heads: 2, num_key_value_heads: 3, head_dim: 8 }),
    ).toThrow(/multiple of num_key_value_heads/);
    expect(() => specFromConfig(without(B, 'vocab_size'))).toThrow(/missing vocab_size/);
    expect(() => specFromConfig(without(B, 'hidden_size'))).toThrow(/hidden_size \| n_embd \| d_model/);
  });

  it('unknown or absent model_type: read as llama, with a warning', () => {
    const u = specFromConfig({ ...B, model_type: 'brand_new' });
    expect(countParameters(u).total).toBe(T);
    expect(u.warnings[0]).toContain("model_type 'brand_new' is not known");
    const none = specFromConfig(without(B, 'model_type'));
    expect(none.modelType).toBe('unknown');
    expect(none.warnings[0]).toContain('no model_type');
    expect(() => specFromConfig([B])).toThrow(/must be a JSON object/);
  });

  it('layer_types sets windows; a wrong length is an error', () => {
    const s = specFromConfig({
      ...B,
      sliding_window: 4,
      layer_types: ['sliding_attention', 'full_attention'],
    });
    expect(windows(s)).toEqual([4, null]);
    expect(() => specFromConfig({ ...B, layer_types: ['full_attention'] })).toThrow(
      /layer_types has 1 entries/,
    );
    // Unknown entries fall back to the family's own rule (mistral: every layer).
    const m = specFromConfig({
      ...B,
      model_type: 'mistral',
      sliding_window: 4,
      layer_types: ['x', 'full_attention'],
    });
    expect(windows(m)).toEqual([4, null]);
  });
});

describe('families', () => {
  it('granite, mistral, phi3: tie default, windows', () => {
    expect(total({ ...B, model_type: 'granite' })).toBe(T - 160);
    expect(windows(specFromConfig({ ...B, model_type: 'mistral', sliding_window: 4 }))).toEqual([4, 4]);
    expect(windows(specFromConfig({ ...B, model_type: 'mistral' }))).toEqual([null, null]);
    expect(windows(specFromConfig({ ...B, model_type: 'phi3', sliding_window: 4 }))).toEqual([4, 4]);
    expect(total({ ...B, model_type: 'phi3' })).toBe(T);
  });

  it('mixtral: every layer MoE', () => {
    // Router 2 x 16 = 32 + experts 2 x 1,536.
    const c = { ...B, model_type: 'mixtral', num_local_experts: 2, num_experts_per_tok: 1 };
    const s = specFromConfig(c);
    expect(countParameters(s).total).toBe(T + 2 * (32 + MLP));
    expect(countParameters(s).active).toBe(T + 2 * 32);
    expect(s.groups[0]!.mlp).toMatchObject({
      kind: 'moe',
      numExperts: 2,
      topK: 1,
      expertIntermediateSize: 32,
    });
    expect(total({ ...without(c, 'num_local_experts'), num_experts: 2 })).toBe(T + 2 * (32 + MLP));
    expect(
      specFromConfig({ ...without(c, 'num_experts_per_tok'), experts_per_token: 2 }).groups[0]!.mlp,
    ).toMatchObject({
      topK: 2,
    });
    expect(
      specFromConfig({ ...without(c, 'num_experts_per_tok'), moe_topk: 2 }).groups[0]!.mlp,
    ).toMatchObject({ topK: 2 });
  });

  it('qwen (v1): kv_channels, halved MLP width, biases', () => {
    // 2 heads of kv_channels 8 (MHA): q/k/v 3 x (256 + 16) + c_proj 256 = 1,072; intermediate 64 -> 32 per projection.
    const c = {
      model_type: 'qwen',
      hidden_size: 16,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      kv_channels: 8,
      intermediate_size: 64,
      vocab_size: 10,
    };
    expect(total(c)).toBe(2 * (1072 + MLP + 32) + 336);
    // no_bias false: c_proj bias 16 and MLP biases 80.
    expect(total({ ...c, no_bias: false })).toBe(2 * (1072 + MLP + 32 + 96) + 336);
    expect(() => specFromConfig({ ...c, intermediate_size: 63 })).toThrow(/must be even/);
    expect(specFromConfig({ ...c, kv_channels: 4 }).groups[0]!.attention!.headDim).toBe(4);
  });

  it('qwen2 / qwen3: biases, q/k norms, windows from max_window_layers', () => {
    expect(total({ ...B, model_type: 'qwen2' })).toBe(T + 2 * QKV_BIAS);
    expect(total({ ...B, model_type: 'qwen3' })).toBe(T + 2 * 16);
    expect(total({ ...B, model_type: 'qwen3', attention_bias: true })).toBe(T + 2 * (16 + QKV_BIAS + O_BIAS));
    const w = {
      ...B,
      model_type: 'qwen2',
      sliding_window: 4,
      use_sliding_window: true,
      max_window_layers: 1,
    };
    expect(windows(specFromConfig(w))).toEqual([null, 4]);
    expect(windows(specFromConfig(without(w, 'max_window_layers')))).toEqual([4, 4]);
    expect(windows(specFromConfig({ ...w, use_sliding_window: false }))).toEqual([null, null]);
    expect(windows(specFromConfig({ ...w, model_type: 'qwen3' }))).toEqual([null, 4]);
  });

  it('qwen2_moe / qwen3_moe: experts, shared expert and its gate, MoE layer rules', () => {
    // Router 32 + experts 2 x 3 x 8 x 16 = 768 + shared 3 x 8 x 16 = 384 + shared gate 16 = 1,200.
    const c = {
      ...B,
      model_type: 'qwen2_moe',
      num_experts: 2,
      num_experts_per_tok: 1,
      moe_intermediate_size: 8,
      shared_expert_intermediate_size: 8,
    };
    const L = ATT + QKV_BIAS + 32;
    expect(total(c)).toBe(2 * (L + 1200) + 336);
    expect(total({ ...c, qkv_bias: false })).toBe(2 * (L + 1200) + 336 - 2 * QKV_BIAS);
    expect(total({ ...c, mlp_only_layers: [0] })).toBe(L + MLP + L + 1200 + 336);
    expect(total({ ...c, decoder_sparse_step: 2 })).toBe(L + MLP + L + 1200 + 336);
    expect(total(without(c, 'shared_expert_intermediate_size'))).toBe(2 * (L + 800) + 336);
    // qwen3_moe: q/k norms 16, no biases, no shared-expert gate.
    const q3 = { ...without(c, 'shared_expert_intermediate_size'), model_type: 'qwen3_moe' };
    expect(total(q3)).toBe(2 * (ATT + 16 + 32 + 800) + 336);
    expect(total({ ...q3, shared_expert_intermediate_size: 8 })).toBe(2 * (ATT + 16 + 32 + 800 + 384) + 336);
    expect(total({ ...q3, mlp_only_layers: [1] })).toBe(ATT + 16 + 32 + 800 + ATT + 16 + 32 + MLP + 336);
  });

  it('olmo2, cohere', () => {
    // OLMo-2: q/k norms over all heads (16 + 8); norms after attention and MLP.
    const o = specFromConfig({ ...B, model_type: 'olmo2' });
    expect(countParameters(o).total).toBe(T + 2 * 24);
    expect(o.groups[0]!.tensors.map((t) => t.name)).toContain('post_feedforward_layernorm.weight');
    expect(total({ ...B, model_type: 'olmo2', attention_bias: true })).toBe(T + 2 * (24 + QKV_BIAS + O_BIAS));
    // Cohere: one norm per layer, tied head.
    expect(total({ ...B, model_type: 'cohere' })).toBe(T - 2 * 16 - 160);
    expect(total({ ...B, model_type: 'cohere', use_qk_norm: true })).toBe(T - 2 * 16 - 160 + 2 * 24);
    expect(total({ ...B, model_type: 'cohere', attention_bias: true })).toBe(
      T - 2 * 16 - 160 + 2 * (QKV_BIAS + O_BIAS),
    );
  });

  it('starcoder2: biases, LayerNorms, plain MLP', () => {
    // Layer: attention 768 + biases 48; MLP up 32x16+32 = 544 + down 16x32+16 = 528; two LayerNorms 64.
    // Outside: embedding 160 + final LayerNorm 32 (tied).
    const c = { ...B, model_type: 'starcoder2' };
    const s = specFromConfig(c);
    expect(countParameters(s).total).toBe(2 * (ATT + 48 + 1072 + 64) + 192);
    expect(s.groups[0]!.mlp).toEqual({
      kind: 'dense',
      gated: false,
      activation: 'gelu_pytorch_tanh',
      intermediateSize: 32,
    });
    expect(total({ ...c, use_bias: false })).toBe(2 * (ATT + 1024 + 64) + 192);
    expect(windows(specFromConfig({ ...c, sliding_window: 4 }))).toEqual([4, 4]);
  });

  it('phimoe', () => {
    // Attention biases 48, LayerNorms 64, MoE router 32 + experts 3,072; outside 160 + 32 + 160.
    const c = { ...B, model_type: 'phimoe', num_local_experts: 2, num_experts_per_tok: 1 };
    const L = ATT + 48 + 32 + 2 * MLP + 64;
    expect(total(c)).toBe(2 * L + 352);
    expect(total({ ...c, lm_head_bias: true })).toBe(2 * L + 352 + 10);
    expect(total({ ...c, attention_bias: false })).toBe(2 * (L - 48) + 352);
  });

  it('gemma, gemma2, gemma3_text', () => {
    const g = specFromConfig({ ...B, model_type: 'gemma' });
    expect(countParameters(g).total).toBe(T - 160);
    expect(g.groups[0]!.mlp!.activation).toBe('gelu_pytorch_tanh');
    expect(specFromConfig({ ...B, model_type: 'gemma', hidden_act: 'gelu' }).groups[0]!.mlp!.activation).toBe(
      'gelu',
    );
    const act = specFromConfig({ ...B, model_type: 'gemma', hidden_act: 'gelu', hidden_activation: 'relu' });
    expect(act.groups[0]!.mlp!.activation).toBe('relu');
    // Gemma-2: four norms per layer (+32); the even layers slide.
    const g2 = { ...B, model_type: 'gemma2', num_hidden_layers: 3, sliding_window: 4 };
    expect(total(g2)).toBe(3 * (ATT + MLP + 64) + 176);
    expect(windows(specFromConfig(g2))).toEqual([4, null, 4]);
    expect(specFromConfig(g2).groups[0]!.mlp!.activation).toBe('gelu_pytorch_tanh');
    // Gemma-3: per-head q/k norms (+16); every 6th layer global by default.
    const g3 = { ...B, model_type: 'gemma3_text', num_hidden_layers: 6, sliding_window: 4 };
    expect(total(g3)).toBe(6 * (ATT + MLP + 64 + 16) + 176);
    expect(windows(specFromConfig(g3))).toEqual([4, 4, 4, 4, 4, null]);
    expect(windows(specFromConfig({ ...g3, sliding_window_pattern: 2 }))).toEqual([
      4,
      null,
      4,
      null,
      4,
      null,
    ]);
    expect(total({ ...g3, attention_bias: true })).toBe(6 * (ATT + MLP + 64 + 16 + 48) + 176);
    expect(specFromConfig(g3).groups[0]!.mlp!.activation).toBe('gelu_pytorch_tanh');
  });

  it('gpt_oss', () => {
    // Attention biases 48 + sinks 2; router 32 + bias 2; experts with biases 2 x (544 + 544 + 528) = 3,232.
    const c = {
      ...B,
      model_type: 'gpt_oss',
      num_local_experts: 2,
      num_experts_per_tok: 1,
      sliding_window: 4,
      num_hidden_layers: 3,
    };
    const s = specFromConfig(c);
    expect(countParameters(s).total).toBe(3 * (ATT + 48 + 2 + 34 + 3232 + 32) + 336);
    expect(windows(s)).toEqual([4, null, 4]);
    expect(s.groups[0]!.mlp).toMatchObject({ kind: 'moe', activation: 'swiglu_oai' });
  });
});
