/**
 * Llama-4 config reading as transformers' Llama4TextConfig does it: an absent or empty no_rope_layers means a NoPE
 * (global) layer every no_rope_layer_interval-th layer (default 4) and chunked attention on the others,
 * attention_chunk_size defaults to 8192, MoE layers come from moe_layers or interleave_moe_layer_step. Expectations
 * are worked out by hand from the small configs below or from the published Scout config.
 */
import { describe, expect, it } from 'vitest';
import { countParameters, specFromConfig, type ModelSpec } from '../../src/core/arch/index.js';
import { findModel } from '../../src/catalog/index.js';
import { kvCache } from '../../src/core/memory/kv.js';
import { without } from './fixtures-arch.js';

/** Decoder layer indices whose attention is chunked, and the chunk length(s) used. */
function chunked(s: ModelSpec): { layers: number[]; sizes: number[] } {
  const layers: number[] = [];
  const sizes = new Set<number>();
  for (const g of s.groups) {
    if (g.stack !== 'decoder' || g.attention?.chunk == null) continue;
    layers.push(...g.layers);
    sizes.add(g.attention.chunk);
  }
  return { layers: layers.sort((a, b) => a - b), sizes: [...sizes] };
}

/** The published config read afresh (the catalog's modelSpec caches specs across a mutation-testing run). */
const published = (e: { config: unknown }) => specFromConfig(e.config);

function moeLayers(s: ModelSpec): number[] {
  return s.groups
    .filter((g) => g.stack === 'decoder' && g.mlp?.kind === 'moe')
    .flatMap((g) => g.layers)
    .sort((a, b) => a - b);
}

// hidden 64, 4 heads of 16, 2 KV heads; experts of 32, dense MLP of 48 (intermediate_size_mlp); 4 experts, top-1.
const TEXT = {
  model_type: 'llama4_text',
  hidden_size: 64,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  num_hidden_layers: 4,
  vocab_size: 100,
  intermediate_size: 32,
  intermediate_size_mlp: 48,
  num_local_experts: 4,
  interleave_moe_layer_step: 2,
};

describe('Llama-4 text: chunked (RoPE) and global (NoPE) layers', () => {
  it('published Scout (no_rope_layers []): every 4th layer global, the other 36 chunked at 8192', () => {
    const s = published(findModel('meta-llama/Llama-4-Scout-17B-16E'));
    const want = Array.from({ length: 48 }, (_, i) => i).filter((i) => (i + 1) % 4 !== 0);
    expect(chunked(s)).toEqual({ layers: want, sizes: [8192] });
    // KV at 32K, bf16: 8 KV heads x (128 + 128) x 2 bytes = 4,096 bytes per token per layer;
    // 12 global layers keep 32,768 tokens, 36 chunked layers 8,192: 4096 x (12 x 32768 + 36 x 8192).
    const kv = kvCache(s, {
      batch: 1,
      seq: 32768,
      kvBytes: 2,
      tp: 1,
      blockSize: null,
      layerFilter: null,
      stateBytes: 2,
    });
    expect(kv.kvCacheBytes).toBe(4096 * (12 * 32768 + 36 * 8192));
    expect(kv.kvBytesPerToken).toBe(4096 * 48);
  });

  it('absent and empty no_rope_layers both give the default pattern (layer 3 of 4 is NoPE)', () => {
    for (const extra of [{}, { no_rope_layers: [] }]) {
      const s = specFromConfig({ ...TEXT, ...extra });
      expect(chunked(s)).toEqual({ layers: [0, 1, 2], sizes: [8192] });
    }
  });

  it('no_rope_layer_interval sets the default pattern', () => {
    const s = specFromConfig({ ...TEXT, no_rope_layer_interval: 2 });
    expect(chunked(s).layers).toEqual([0, 2]);
  });

  it('a listed no_rope_layers wins (1 = RoPE, chunked; 0 = NoPE)', () => {
    const s = specFromConfig({ ...TEXT, no_rope_layers: [0, 1, 1, 0] });
    expect(chunked(s).layers).toEqual([1, 2]);
  });

  it('attention_chunk_size is read; null turns chunking off', () => {
    expect(chunked(specFromConfig({ ...TEXT, attention_chunk_size: 256 })).sizes).toEqual([256]);
    expect(chunked(specFromConfig({ ...TEXT, attention_chunk_size: null })).layers).toEqual([]);
  });

  it('MoE layers: every interleave_moe_layer_step-th, all when absent, or moe_layers as listed', () => {
    expect(moeLayers(specFromConfig(TEXT))).toEqual([1, 3]);
    expect(moeLayers(specFromConfig({ ...TEXT, interleave_moe_layer_step: undefined }))).toEqual([
      0, 1, 2, 3,
    ]);
    expect(moeLayers(specFromConfig({ ...TEXT, interleave_moe_layer_step: 0 }))).toEqual([0, 1, 2, 3]);
    expect(moeLayers(specFromConfig({ ...TEXT, moe_layers: [0, 2] }))).toEqual([0, 2]);
    // Step 3 of 4 layers: layer 2 only.
    expect(moeLayers(specFromConfig({ ...TEXT, interleave_moe_layer_step: 3 }))).toEqual([2]);
  });

  it('published Maverick: MoE on odd layers (interleave_moe_layer_step 2)', () => {
    const s = published(findModel('meta-llama/Llama-4-Maverick-17B-128E'));
    expect(moeLayers(s)).toEqual(Array.from({ length: 24 }, (_, i) => 2 * i + 1));
  });
});

describe('Llama-4 parameters, by hand', () => {
  // Attention per layer: q 64x64 + k 32x64 + v 32x64 + o 64x64 = 12,288; two RMSNorms 128.
  // Dense layer MLP (48): 3 x 48 x 64 = 9,216 -> layer 21,632.
  // MoE layer: router 4x64 = 256, experts 4 x 3 x 32 x 64 = 24,576, shared expert 3 x 32 x 64 = 6,144 -> 43,392.
  // Embedding 6,400 + final norm 64 + LM head 6,400 = 12,864.
  const TOTAL = 2 * 21632 + 2 * 43392 + 12864; // 142,912
  // Top-1 of 4: three quarters of the experts idle in each of the 2 MoE layers.
  const ACTIVE = TOTAL - (2 * (24576 * 3)) / 4;

  it('text model', () => {
    const p = countParameters(specFromConfig(TEXT));
    expect(p.total).toBe(TOTAL);
    expect(p.active).toBe(ACTIVE);
    expect(p.breakdown.shared_expert).toBe(2 * 6144);
    expect(p.breakdown.router).toBe(2 * 256);
  });

  it('variants: tied embeddings, attention bias, top-2, no intermediate_size_mlp', () => {
    expect(countParameters(specFromConfig({ ...TEXT, tie_word_embeddings: true })).total).toBe(TOTAL - 6400);
    // q/k/v/o biases: 64 + 32 + 32 + 64 per layer.
    expect(countParameters(specFromConfig({ ...TEXT, attention_bias: true })).total).toBe(TOTAL + 4 * 192);
    const top2 = countParameters(specFromConfig({ ...TEXT, num_experts_per_tok: 2 }));
    expect(top2.active).toBe(TOTAL - (2 * (24576 * 2)) / 4);
    // Dense MLP falls back to intermediate_size 32: 3 x 32 x 64 = 6,144 instead of 9,216.
    const noMlp = { ...TEXT, intermediate_size_mlp: undefined };
    expect(countParameters(specFromConfig(noMlp)).total).toBe(TOTAL - 2 * (9216 - 6144));
  });

  it('reads the scalar fields', () => {
    const s = specFromConfig({
      ...TEXT,
      hidden_act: 'gelu',
      max_position_embeddings: 4096,
      torch_dtype: 'bfloat16',
    });
    expect(s.modelType).toBe('llama4_text');
    expect(s.maxPositionEmbeddings).toBe(4096);
    expect(s.torchDtype).toBe('bfloat16');
    expect(s.tiedEmbeddings).toBe(false);
    expect(s.structure).toBe('decoder');
    expect(s.numLayers).toBe(4);
    for (const g of s.groups) {
      expect(g.mlp!.activation).toBe('gelu');
      expect(g.attention!.numKvHeads).toBe(2);
    }
    const moe = s.groups.find((g) => g.mlp?.kind === 'moe')!.mlp!;
    expect(moe).toMatchObject({
      numExperts: 4,
      topK: 1,
      expertIntermediateSize: 32,
      sharedIntermediateSize: 32,
    });
    const bare = specFromConfig({ ...TEXT });
    expect(bare.maxPositionEmbeddings).toBeNull();
    expect(bare.torchDtype).toBeNull();
    expect(bare.groups[0]!.mlp!.activation).toBe('silu');
    expect(bare.groups.find((g) => g.mlp?.kind === 'moe')!.mlp!.activation).toBe('silu');
    expect(bare.warnings).toEqual([]);
  });

  it('a missing required field is named', () => {
    expect(() => specFromConfig(without(TEXT, 'num_local_experts'))).toThrow(/num_local_experts/);
  });
});

describe('Llama-4 with its vision tower, by hand', () => {
  // Vision: hidden 32, 2 heads, 2 layers, MLP 64, 56x56 images of 14x14 patches (16 patches), pixel shuffle 0.5.
  const VISION = {
    hidden_size: 32,
    num_attention_heads: 2,
    num_hidden_layers: 2,
    intermediate_size: 64,
    image_size: 56,
    patch_size: 14,
    projector_input_dim: 16,
    projector_output_dim: 20,
    vision_output_dim: 24,
  };
  const CONFIG = { model_type: 'llama4', text_config: TEXT, vision_config: VISION, torch_dtype: 'bfloat16' };
  // Text as above: 142,912.
  // Vision layer: q/k/v/o 4 x (32x32 + 32) = 4,224; two LayerNorms 2 x 64 = 128; fc1 64x32 + 64 = 2,112;
  // fc2 32x64 + 32 = 2,080 -> 8,544; two layers 17,088.
  // Outside the layers: patch embedding 32 x (3 x 14 x 14) = 18,816 (no bias); class embedding 32; positions
  // (16 + 1) x 32 = 544; pre and post LayerNorms 2 x 64 = 128; adapter fc1 64 -> 16 = 1,024, fc2 16 -> 20 = 320.
  const VISION_TOTAL = 17088 + 18816 + 32 + 544 + 128 + 1024 + 320;
  // Projector: vision_output_dim 24 -> text hidden 64, no bias = 1,536.
  const PROJECTOR = 24 * 64;

  it('counts the tower and projector and the image tokens', () => {
    const s = specFromConfig(CONFIG);
    const p = countParameters(s);
    expect(p.breakdown.vision).toBe(VISION_TOTAL);
    expect(p.breakdown.projector).toBe(PROJECTOR);
    expect(p.total).toBe(142912 + VISION_TOTAL + PROJECTOR);
    // 16 patches, pixel shuffle 0.5 folds 4 patches into one token.
    expect(s.vision).toEqual({ tokensPerImage: 4, imageSize: 56, patchSize: 14, hiddenSize: 32 });
    expect(s.modelType).toBe('llama4');
    expect(s.torchDtype).toBe('bfloat16');
    const v = s.groups.find((g) => g.stack === 'vision')!;
    expect(v.count).toBe(2);
    expect(v.attention).toMatchObject({ numHeads: 2, headDim: 16, causal: false });
    expect(v.mlp).toMatchObject({ kind: 'dense', intermediateSize: 64 });
  });

  it('pixel_shuffle_ratio and vision_output_dim are read; the projector input falls back to projector_output_dim', () => {
    const s = specFromConfig({ ...CONFIG, vision_config: { ...VISION, pixel_shuffle_ratio: 0.25 } });
    expect(s.vision!.tokensPerImage).toBe(1);
    const p = countParameters(
      specFromConfig({ ...CONFIG, vision_config: without(VISION, 'vision_output_dim') }),
    );
    expect(p.breakdown.projector).toBe(20 * 64);
  });

  it('without vision_config: the text model under the wrapper type', () => {
    const s = specFromConfig({ model_type: 'llama4', text_config: TEXT });
    expect(s.modelType).toBe('llama4');
    expect(s.vision).toBeNull();
    expect(countParameters(s).total).toBe(142912);
  });

  it('a missing vision field is named with its prefix', () => {
    const bad = without(VISION, 'projector_input_dim');
    expect(() => specFromConfig({ ...CONFIG, vision_config: bad })).toThrow(
      /vision_config\.projector_input_dim/,
    );
  });

  it('published Scout: 144 tokens per 336 x 336 tile', () => {
    // (336 / 14)^2 = 576 patches, pixel shuffle 0.5 -> 144.
    expect(published(findModel('meta-llama/Llama-4-Scout-17B-16E')).vision!.tokensPerImage).toBe(144);
  });
});
