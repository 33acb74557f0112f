/**
 * Gemma 3n from small configs: the text layers (q/k norms, AltUp, LAuReL, per-layer inputs), sliding and
 * KV-shared layers, the Conformer audio tower and its sub-sampling front end, and the modality embedders, each
 * counted by hand in the comments from transformers' modeling_gemma3n module layout.
 */
import { describe, expect, it } from 'vitest';
import { countParameters, specFromConfig, type ModelSpec } from '../../src/core/arch/index.js';
import { kvCache } from '../../src/core/memory/kv.js';
import { total, without } from './fixtures-arch.js';

const layersOf = (s: ModelSpec) =>
  Object.fromEntries(s.groups.filter((g) => g.stack === 'decoder').map((g) => [g.name, g.layers]));

// h 8, 5 layers, 2 heads of 4, 1 KV head, MLP 16, vocab 10, per-layer inputs of 2 from a 6-token table,
// 2 AltUp streams, LAuReL rank 2, window 4, the last 2 layers KV-shared.
const TEXT = {
  model_type: 'gemma3n_text',
  hidden_size: 8,
  num_hidden_layers: 5,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  head_dim: 4,
  intermediate_size: 16,
  vocab_size: 10,
  vocab_size_per_layer_input: 6,
  hidden_size_per_layer_input: 2,
  altup_num_inputs: 2,
  laurel_rank: 2,
  sliding_window: 4,
  num_kv_shared_layers: 2,
};
// Layer: q 64 + k 32 + v 32 + o 64 = 192; q/k norms 8; MLP 3 x 16 x 8 = 384; four norms 32;
// AltUp: correct_output_scale 8 + correction_coefs 2x2 = 4 + prediction_coefs 4x2 = 8 + modality_router 2x8 = 16
// + router_norm 8 = 44; LAuReL: 2x8 + 8x2 + norm 8 = 40; per-layer input: gate 2x8 + projection 8x2 + norm 8 = 40.
const LAYER = 192 + 8 + 384 + 32 + 44 + 40 + 40; // 740
// Outside: embed_tokens 80 + per-layer table 6 x (5 x 2) = 60 + per_layer_model_projection 10x8 = 80
// + per_layer_projection_norm 2 + one AltUp projection pair 2 x 64 = 128 + final norm 8 (LM head tied).
const OUT = 80 + 60 + 80 + 2 + 128 + 8;
const T = 5 * LAYER + OUT;

describe('gemma3n text', () => {
  it('counts, sliding and KV-shared layers, KV bytes', () => {
    const s = specFromConfig(TEXT);
    expect(countParameters(s).total).toBe(T);
    expect(s.tiedEmbeddings).toBe(true);
    // Every 5th layer global; the last two KV-shared.
    expect(layersOf(s)).toEqual({
      'decoder.sliding': [0, 1, 2],
      'decoder.sliding.kv_shared': [3],
      'decoder.kv_shared': [4],
    });
    expect(s.groups[0]!.attention).toMatchObject({ window: 4, kvShared: false, numKvHeads: 1, headDim: 4 });
    expect(s.groups[2]!.attention).toMatchObject({ window: null, kvShared: true });
    expect(s.groups[0]!.mlp).toEqual({
      kind: 'dense',
      gated: true,
      activation: 'gelu_pytorch_tanh',
      intermediateSize: 16,
    });
    // KV at 8 tokens, 2 bytes: 1 KV head x (4 + 4) x 2 = 16 bytes per token; layers 0-2 keep their 4-token window,
    // the shared layers store nothing.
    const kv = kvCache(s, {
      batch: 1,
      seq: 8,
      kvBytes: 2,
      tp: 1,
      blockSize: null,
      layerFilter: null,
      stateBytes: 2,
    });
    expect(kv.kvCacheBytes).toBe(3 * 16 * 4);
    expect(s.vision).toBeNull();
    expect(s.warnings).toEqual([]);
  });

  it('variants', () => {
    // Per-layer widths: layer 4 at 32 (+384) and its own group.
    const wide = specFromConfig({ ...TEXT, intermediate_size: [16, 16, 16, 16, 32] });
    expect(countParameters(wide).total).toBe(T + 384);
    expect(wide.groups.find((g) => g.layers.includes(4))!.mlp).toMatchObject({ intermediateSize: 32 });
    expect(() => specFromConfig({ ...TEXT, intermediate_size: [16, 16] })).toThrow(
      /intermediate_size must be a positive integer or one per layer/,
    );
    expect(() => specFromConfig({ ...TEXT, intermediate_size: [16, 16, 16, 16, 0] })).toThrow(
      /one per layer/,
    );
    expect(() => specFromConfig({ ...TEXT, intermediate_size: [16, 16, 16, 16, '16'] })).toThrow(
      /one per layer/,
    );
    expect(() => specFromConfig({ ...TEXT, intermediate_size: [16, 16, 16, 16, 16.5] })).toThrow(
      /one per layer/,
    );
    // layer_types of the wrong length: the default pattern.
    expect(layersOf(specFromConfig({ ...TEXT, layer_types: ['full_attention'] }))).toEqual(
      layersOf(specFromConfig(TEXT)),
    );
    const types = [
      'full_attention',
      'sliding_attention',
      'sliding_attention',
      'sliding_attention',
      'full_attention',
    ];
    expect(layersOf(specFromConfig({ ...TEXT, layer_types: types }))).toEqual({
      decoder: [0],
      'decoder.sliding': [1, 2],
      'decoder.sliding.kv_shared': [3],
      'decoder.kv_shared': [4],
    });
    expect(layersOf(specFromConfig(without(TEXT, 'num_kv_shared_layers')))).toEqual({
      'decoder.sliding': [0, 1, 2, 3],
      decoder: [4],
    });
    // 4 AltUp streams: correction 16, prediction 64, router 32 (+84 a layer); three projection pairs (+256).
    expect(total(without(TEXT, 'altup_num_inputs'))).toBe(T + 5 * 84 + 256);
    // LAuReL rank 64: 64x8 + 8x64 = 1,024 instead of 32.
    expect(total(without(TEXT, 'laurel_rank'))).toBe(T + 5 * 992);
    // Two KV heads: k and v 8x8 each (+64).
    expect(total(without(TEXT, 'num_key_value_heads'))).toBe(T + 5 * 64);
    expect(total(without(TEXT, 'head_dim'))).toBe(T);
    expect(specFromConfig(without(TEXT, 'sliding_window')).groups[0]!.attention!.window).toBeNull();
    expect(specFromConfig({ ...TEXT, max_position_embeddings: 4096 }).maxPositionEmbeddings).toBe(4096);
    expect(() => specFromConfig(without(TEXT, 'hidden_size_per_layer_input'))).toThrow(
      /hidden_size_per_layer_input/,
    );
  });
});

describe('gemma3n with audio and vision', () => {
  it('a bare gemma3n config takes the E4B text, USM audio and MobileNet vision defaults', () => {
    const s = specFromConfig({ model_type: 'gemma3n' });
    expect([s.hiddenSize, s.numLayers, s.vocabSize]).toEqual([2048, 35, 262400]);
    expect(s.vision!.hiddenSize).toBe(2048);
    expect(s.groups.find((g) => g.name === 'audio')!.count).toBe(12);
  });

  // Conformer: width 8, 2 heads of 4, 1 block, depthwise kernel 3, 16 mel features, sub-sampling convs of 4 then 2
  // channels (3x3, stride 2), 4 audio tokens; vision embedder width 4 over 3 tokens.
  const AUDIO = {
    hidden_size: 8,
    input_feat_size: 16,
    conf_num_attention_heads: 2,
    conf_num_hidden_layers: 1,
    conf_conv_kernel_size: 3,
    sscp_conv_channel_size: [4, 2],
    sscp_conv_kernel_size: [
      [3, 3],
      [3, 3],
    ],
    sscp_conv_stride_size: [
      [2, 2],
      [2, 2],
    ],
    vocab_size: 4,
  };
  const C = {
    model_type: 'gemma3n',
    text_config: TEXT,
    audio_config: AUDIO,
    vision_config: { hidden_size: 4, vocab_size: 3 },
  };
  // Sub-sampling: conv_0 4x1x3x3 = 36 + norm 4; frequency 16 -> floor((16 + 2 - 3) / 2) + 1 = 8;
  // conv_1 2x4x3x3 = 72 + norm 2; frequency 8 -> 4; input_proj 8 x (2 x 4) = 64. -> 178.
  // Block: two half-FFNs 2 x (8 + 32x8 + 8x32 + 8) = 1,056; attention pre-norm 8 + pos_proj 64 + per_dim_scale 4
  // + q/k/v 192 + post 64 + post_norm 8 = 340; light conv: norm 8 + linear_start 16x8 = 128 + depthwise 8x3 = 24
  // + conv_norm 8 + linear_end 64 = 232; final norm 8. -> 1,636.
  const AUDIO_T = 178 + 1636;
  // Embedders: vision 3x4 + 2 norms of 4 + projection 4 -> 8: 32 = 52; audio 4x8 + 16 + 8x8 = 112.
  const EMBED = 52 + 112;
  const MOBILENET = 294284096;

  it('counts the towers and embedders', () => {
    const s = specFromConfig(C);
    const p = countParameters(s);
    expect(p.breakdown.projector).toBe(EMBED);
    expect(p.breakdown.vision).toBe(MOBILENET + AUDIO_T);
    expect(p.total).toBe(T + MOBILENET + AUDIO_T + EMBED);
    expect(s.vision).toEqual({ tokensPerImage: 256, imageSize: 768, patchSize: 16, hiddenSize: 4 });
    expect(s.warnings).toHaveLength(1);
    const audio = s.groups.find((g) => g.name === 'audio')!;
    expect(audio.count).toBe(1);
    expect(audio.mlp).toEqual({ kind: 'dense', gated: false, activation: 'silu', intermediateSize: 32 });
    expect(audio.attention).toMatchObject({ numHeads: 2, headDim: 4, causal: false });
    // The wrapper's text model falls back to Gemma3nTextConfig's max_position_embeddings.
    expect(s.maxPositionEmbeddings).toBe(32768);
  });

  it('variants', () => {
    expect(specFromConfig({ ...C, vision_soft_tokens_per_image: 64 }).vision!.tokensPerImage).toBe(64);
    // A 5 x 5 second conv: 2 x 4 x 25 = 200 (+128); padding 2 keeps the frequency at floor((8 + 4 - 5) / 2) + 1 = 4.
    const k5 = {
      ...AUDIO,
      sscp_conv_kernel_size: [
        [3, 3],
        [5, 5],
      ],
    };
    expect(total({ ...C, audio_config: k5 })).toBe(T + MOBILENET + AUDIO_T + EMBED + 128);
    expect(() => specFromConfig({ ...C, audio_config: { ...AUDIO, hidden_size: 0 } })).toThrow(
      /audio_config\.hidden_size/,
    );
    expect(specFromConfig(C).torchDtype).toBeNull();
    expect(specFromConfig(C).warnings[0]).toContain('MobileNetV5-300M');
    // Stride 1 on the second conv: frequency 8 -> 8, input_proj 8 x 16 = 128 (+64).
    const s1 = {
      ...AUDIO,
      sscp_conv_stride_size: [
        [2, 2],
        [1, 1],
      ],
    };
    expect(total({ ...C, audio_config: s1 })).toBe(T + MOBILENET + AUDIO_T + EMBED + 64);
    // Depthwise kernel 5: 8x5 = 40 (+16).
    expect(total({ ...C, audio_config: { ...AUDIO, conf_conv_kernel_size: 5 } })).toBe(
      T + MOBILENET + AUDIO_T + EMBED + 16,
    );
    expect(() => specFromConfig({ ...C, vision_config: { architecture: 'vit_huge' } })).toThrow(
      /vision_config\.architecture 'vit_huge' is not known/,
    );
    expect(specFromConfig({ ...C, text_config: { ...TEXT, torch_dtype: 'bfloat16' } }).torchDtype).toBe(
      'bfloat16',
    );
    expect(specFromConfig({ ...C, text_config: { ...TEXT, dtype: 'float16' } }).torchDtype).toBe('float16');
    expect(specFromConfig({ ...C, torch_dtype: 'float32' }).torchDtype).toBe('float32');
    expect(specFromConfig({ ...TEXT, model_type: 'gemma3n_text', torch_dtype: 'bfloat16' }).torchDtype).toBe(
      'bfloat16',
    );
  });
});
