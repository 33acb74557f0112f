/**
 * DeepSeek sparse attention (deepseek_v32, glm_moe_dsa) and Kimi-K2.5 (kimi_k25) from small configs: the indexer
 * and vision-tower tensors are counted by hand in the comments from the module layouts their adapters cite, and
 * which layers carry an indexer follows GlmMoeDsaConfig's rules (indexer_types, index_topk_pattern, freq/offset).
 */
import { describe, expect, it } from 'vitest';
import { countParameters, specFromConfig, type ModelSpec } from '../../src/core/arch/index.js';
import { deepseekMla, total, without } from './fixtures-arch.js';

// DeepSeek-V3-shaped text model: h 16, 3 layers (first dense), 2 heads, MLA q_lora 8, kv_lora 4, nope 4, rope 2,
// v 4, 4 experts of 8 (top-2), one shared expert, noaux_tc. Layer sizes (by hand in arch-moe.test.ts):
// dense layer 2,092, MoE layer 2,544, outside 336 -> 7,516.
const DS = deepseekMla('deepseek_v32');
const BASE = 2092 + 2 * 2544 + 336;
const IX = { index_n_heads: 2, index_head_dim: 4, index_topk: 16 };
// Indexer: wq_b (2 x 4) x 8 = 64 + wk 4 x 16 = 64 + k_norm LayerNorm 4 + 4 + weights_proj 2 x 16 = 32 = 168.
const INDEXER = 168;

function indexed(s: ModelSpec): number[] {
  return s.groups
    .filter((g) => g.attention?.indexer)
    .flatMap((g) => g.layers)
    .sort((a, b) => a - b);
}

describe('DSA indexer', () => {
  it('deepseek_v32: an indexer on every layer', () => {
    const s = specFromConfig({ ...DS, ...IX });
    expect(countParameters(s).total).toBe(BASE + 3 * INDEXER);
    expect(indexed(s)).toEqual([0, 1, 2]);
    expect(s.groups[0]!.attention!.indexer).toEqual({ numHeads: 2, headDim: 4, topK: 16 });
    expect(s.groups.map((g) => g.name)).toEqual(['decoder', 'decoder.moe']);
  });

  it('defaults: 64 heads of 128 for deepseek_v32, 32 for glm_moe_dsa, top-2048', () => {
    // wq_b 64 x 128 x 8 = 65,536 + wk 128 x 16 = 2,048 + k_norm 256 + weights_proj 64 x 16 = 1,024.
    const v32 = specFromConfig(DS);
    expect(countParameters(v32).total).toBe(BASE + 3 * 68864);
    expect(v32.groups[0]!.attention!.indexer).toEqual({ numHeads: 64, headDim: 128, topK: 2048 });
    // 32 heads: 32,768 + 2,048 + 256 + 512.
    expect(total({ ...DS, model_type: 'glm_moe_dsa' })).toBe(BASE + 3 * 35584);
  });

  it('without q LoRA the indexer query reads the hidden state', () => {
    // q_proj 12 x 16 = 192 instead of 232; wq_b 8 x 16 = 128 instead of 64.
    expect(total({ ...without(DS, 'q_lora_rank'), ...IX })).toBe(BASE - 3 * 40 + 3 * (INDEXER + 64));
  });

  it('shared top-k layers: indexer_types, index_topk_pattern, index_topk_freq / offset', () => {
    const types = specFromConfig({ ...DS, ...IX, indexer_types: ['full', 'shared', 'full'] });
    expect(indexed(types)).toEqual([0, 2]);
    expect(countParameters(types).total).toBe(BASE + 2 * INDEXER);
    expect(types.groups.map((g) => [g.name, g.layers])).toEqual([
      ['decoder', [0]],
      ['decoder.moe.indexer', [2]],
      ['decoder.moe.shared_topk', [1]],
    ]);
    // Every layer shared: no indexer group at all.
    const none = specFromConfig({ ...DS, ...IX, indexer_types: ['shared', 'shared', 'shared'] });
    expect(none.groups.map((g) => [g.name, g.layers])).toEqual([
      ['decoder.shared_topk', [0]],
      ['decoder.moe.shared_topk', [1, 2]],
    ]);
    expect(countParameters(none).total).toBe(BASE);
    // A list of the wrong length is ignored.
    expect(indexed(specFromConfig({ ...DS, ...IX, indexer_types: ['shared'] }))).toEqual([0, 1, 2]);
    expect(indexed(specFromConfig({ ...DS, ...IX, index_topk_pattern: 'FSS' }))).toEqual([0]);
    expect(indexed(specFromConfig({ ...DS, ...IX, index_topk_pattern: 'FS' }))).toEqual([0, 1, 2]);
    // freq 2, offset 2 (default): layer i has one when max(i - 1, 0) is even -> 0, 1.
    expect(indexed(specFromConfig({ ...DS, ...IX, index_topk_freq: 2 }))).toEqual([0, 1]);
    // freq 2, offset 1: i even -> 0, 2.
    expect(indexed(specFromConfig({ ...DS, ...IX, index_topk_freq: 2, index_skip_topk_offset: 1 }))).toEqual([
      0, 2,
    ]);
  });
});

describe('kimi_k25', () => {
  const TEXT = { ...DS, model_type: 'kimi_k2' };
  // MoonViT: width 8, MLP 16, 2 heads, 2 blocks, 4 x 4 position table, patches of 14, 2x2 merge.
  const VISION = {
    vt_hidden_size: 8,
    vt_intermediate_size: 16,
    vt_num_attention_heads: 2,
    vt_num_hidden_layers: 2,
    patch_size: 14,
    init_pos_emb_height: 4,
    init_pos_emb_width: 4,
  };
  const C = { model_type: 'kimi_k25', text_config: TEXT, vision_config: VISION };
  // Block: norm0 16 + norm1 16 + wqkv 24x8+24 = 216 + wo 72 + fc0 16x8+16 = 144 + fc1 8x16+8 = 136 = 600.
  // Outside: patch conv 8 x 3 x 14 x 14 = 4,704 + bias 8 + positions 4 x 4 x 8 = 128 + final LayerNorm 16.
  const VIS = 2 * 600 + 4704 + 8 + 128 + 16;
  // Projector: pre_norm 16 + linear_1 32x32+32 = 1,056 + linear_2 (32 -> text 16) 512+16 = 528.
  const PROJ = 16 + 1056 + 528;

  it('counts the tower and projector; 256 tokens for a 448 image', () => {
    const s = specFromConfig(C);
    const p = countParameters(s);
    expect(p.breakdown.vision).toBe(VIS);
    expect(p.breakdown.projector).toBe(PROJ);
    expect(p.total).toBe(BASE + VIS + PROJ);
    expect(s.modelType).toBe('kimi_k25');
    expect(s.vision).toEqual({ tokensPerImage: 256, imageSize: 448, patchSize: 14, hiddenSize: 8 });
    const v = s.groups.find((g) => g.stack === 'vision')!;
    expect(v.count).toBe(2);
    expect(v.attention).toMatchObject({ numHeads: 2, headDim: 4, causal: false });
    expect(v.mlp).toEqual({
      kind: 'dense',
      gated: false,
      intermediateSize: 16,
      activation: 'gelu_pytorch_tanh',
    });
  });

  it('variants', () => {
    const alt = {
      hidden_size: 8,
      intermediate_size: 16,
      num_attention_heads: 2,
      num_hidden_layers: 2,
      init_pos_emb_height: 4,
      init_pos_emb_width: 4,
    };
    expect(total({ ...C, vision_config: alt })).toBe(BASE + VIS + PROJ);
    expect(total({ ...C, vision_config: { ...VISION, attn_bias: false } })).toBe(BASE + VIS + PROJ - 2 * 32);
    expect(total({ ...C, vision_config: { ...VISION, linear_bias: false } })).toBe(
      BASE + VIS + PROJ - 2 * 24,
    );
    expect(total({ ...C, vision_config: { ...VISION, patch_embed_proj_bias: false } })).toBe(
      BASE + VIS + PROJ - 8,
    );
    // No merge: width 8; linear_1 64+8 = 72, linear_2 128+16 = 144; 32 x 32 tokens.
    const m1 = specFromConfig({ ...C, vision_config: { ...VISION, merge_kernel_size: [1, 1] } });
    expect(countParameters(m1).breakdown.projector).toBe(16 + 72 + 144);
    expect(m1.vision!.tokensPerImage).toBe(1024);
    // Patches of 16: conv 8 x 3 x 256 = 6,144; floor(448 / 16 / 2) = 14 -> 196 tokens.
    const p16 = specFromConfig({ ...C, vision_config: { ...VISION, patch_size: 16 } });
    expect(countParameters(p16).breakdown.vision).toBe(VIS - 4704 + 6144);
    expect(p16.vision!.tokensPerImage).toBe(196);
    // Default 64 x 64 position table: 32,768 instead of 128.
    const noPos = without(VISION, 'init_pos_emb_height', 'init_pos_emb_width');
    expect(countParameters(specFromConfig({ ...C, vision_config: noPos })).breakdown.vision).toBe(
      VIS - 128 + 32768,
    );
    // Projector output to a 32-wide text: linear_2 32x32+32 = 1,056.
    const th = specFromConfig({ ...C, vision_config: { ...VISION, text_hidden_size: 32 } });
    expect(countParameters(th).breakdown.projector).toBe(PROJ + 528);
  });

  it('quantization and dtype: the wrapper first, then the text model (whose quantisation leaves the tower)', () => {
    const q = { quant_method: 'compressed-tensors', format: 'pack-quantized' };
    const textQ = specFromConfig({ ...C, text_config: { ...TEXT, quantization_config: q } }).checkpointQuant!;
    expect(textQ.format).toBe('compressed-tensors-pack-quantized');
    expect(textQ.excludedRoles).toEqual([
      'embedding',
      'position',
      'lm_head',
      'norm',
      'router',
      'vision',
      'projector',
    ]);
    expect(
      specFromConfig({ ...C, quantization_config: { quant_method: 'fp8' } }).checkpointQuant!.format,
    ).toBe('fp8');
    expect(specFromConfig(C).checkpointQuant).toBeNull();
    const bare = { model_type: 'kimi_k25', text_config: TEXT };
    expect(
      specFromConfig({ ...bare, quantization_config: { quant_method: 'fp8' } }).checkpointQuant!.format,
    ).toBe('fp8');
    expect(
      specFromConfig({ ...bare, text_config: { ...TEXT, quantization_config: q } }).checkpointQuant!.format,
    ).toBe('compressed-tensors-pack-quantized');
    expect(specFromConfig({ ...C, text_config: { ...TEXT, torch_dtype: 'bfloat16' } }).torchDtype).toBe(
      'bfloat16',
    );
    expect(specFromConfig({ ...C, dtype: 'float16' }).torchDtype).toBe('float16');
    expect(specFromConfig({ ...C, torch_dtype: 'float32' }).torchDtype).toBe('float32');
    expect(specFromConfig(C).torchDtype).toBeNull();
  });

  it('without vision_config or text_config', () => {
    const textOnly = specFromConfig({ model_type: 'kimi_k25', text_config: TEXT });
    expect(textOnly.modelType).toBe('kimi_k25');
    expect(textOnly.vision).toBeNull();
    expect(countParameters(textOnly).total).toBe(BASE);
    expect(total({ ...TEXT, model_type: 'kimi_k25' })).toBe(BASE);
    // Errors of the nested configs are raised by the wrapper.
    expect(() =>
      specFromConfig({ model_type: 'kimi_k25', text_config: without(TEXT, 'vocab_size') }),
    ).toThrow(/text_config\.vocab_size/);
    expect(() => specFromConfig({ ...C, vision_config: { ...VISION, attn_bias: 'yes' } })).toThrow(
      /vision_config\.attn_bias must be true or false/,
    );
    expect(() => specFromConfig({ ...C, vision_config: without(VISION, 'vt_hidden_size') })).toThrow(
      /vision_config\.vt_hidden_size \| hidden_size/,
    );
  });
});
