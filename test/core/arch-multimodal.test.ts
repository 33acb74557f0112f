/**
 * llava, gemma3 and qwen2_vl wrappers read from small configs: vision tower, projector and image tokens counted by
 * hand in the comments from the transformers module layouts (CLIP / SigLIP / Qwen2-VL ViT), nested configs falling
 * back to transformers' class defaults, and the tensor names of the checkpoints.
 */
import { describe, expect, it } from 'vitest';
import { countParameters, specFromConfig, type ModelSpec } from '../../src/core/arch/index.js';
import { wb, without } from './fixtures-arch.js';

const vision = (s: ModelSpec) => s.groups.find((g) => g.stack === 'vision')!;
const sorted = (xs: string[]) => [...xs].sort();

// Text: llama, h 16, 1 layer, 2 heads, MLP 32, vocab 10: attention 4 x 256 = 1,024 + MLP 3 x 32 x 16 = 1,536
// + norms 32 = 2,592; embedding 160 + norm 16 + LM head 160 = 336 -> 2,928.
const LLAMA = {
  model_type: 'llama',
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  vocab_size: 10,
};
const LLAMA_TOTAL = 2928;
// ViT: width 8, MLP 16, 2 heads, 2 layers, 28 x 28 images of 14 x 14 patches (4 patches).
const VIT = {
  hidden_size: 8,
  intermediate_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  image_size: 28,
  patch_size: 14,
};
// ViT layer: q/k/v/out 4 x (64 + 8) = 288 + two LayerNorms 32 + fc1 16x8+16 = 144 + fc2 8x16+8 = 136 = 600.
const VIT_LAYERS = 2 * 600;
const VIT_LAYER_NAMES = wb(
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.out_proj',
  'layer_norm1',
  'mlp.fc1',
  'mlp.fc2',
  'layer_norm2',
);

describe('llava', () => {
  const C = { model_type: 'llava', text_config: LLAMA, vision_config: VIT };
  // Vision outside the layers: class embedding 8 + patch conv 8 x 3 x 14 x 14 = 4,704 + positions (4 + 1) x 8 = 40
  // + pre/post LayerNorms 32. Projector: linear_1 8 -> 16: 128 + 16, linear_2 16 -> 16: 256 + 16 = 416.
  const VIS = VIT_LAYERS + 8 + 4704 + 40 + 32;

  it('counts, names and image tokens', () => {
    const s = specFromConfig(C);
    const p = countParameters(s);
    expect(p.breakdown.vision).toBe(VIS);
    expect(p.breakdown.projector).toBe(416);
    expect(p.total).toBe(LLAMA_TOTAL + VIS + 416);
    // The default strategy drops the CLS token: one token per patch.
    expect(s.vision).toEqual({ tokensPerImage: 4, imageSize: 28, patchSize: 14, hiddenSize: 8 });
    expect(s.modelType).toBe('llava');
    const v = vision(s);
    expect(v.count).toBe(2);
    expect(v.attention).toMatchObject({ numHeads: 2, numKvHeads: 2, headDim: 4, causal: false });
    expect(v.mlp).toEqual({ kind: 'dense', gated: false, activation: 'gelu', intermediateSize: 16 });
    expect(sorted(v.tensors.map((t) => t.name))).toEqual(sorted(VIT_LAYER_NAMES));
    expect(v.tensors.every((t) => t.role === 'vision')).toBe(true);
    expect(
      sorted(s.globalTensors.map((t) => t.name).filter((n) => !/^(embed_tokens|norm|lm_head)\./.test(n))),
    ).toEqual(
      sorted([
        'vision.class_embedding',
        'vision.patch_embedding.weight',
        'vision.position_embedding.weight',
        ...wb('vision.pre_layrnorm', 'vision.post_layernorm'),
        ...wb('multi_modal_projector.linear_1', 'multi_modal_projector.linear_2'),
      ]),
    );
  });

  it('variants', () => {
    expect(specFromConfig({ ...C, vision_feature_select_strategy: 'full' }).vision!.tokensPerImage).toBe(5);
    expect(
      countParameters(specFromConfig({ ...C, multimodal_projector_bias: false })).breakdown.projector,
    ).toBe(384);
    // CLIP defaults when vision_config is absent: 224 / 32 = 7 -> 49 patches, width 768.
    const noVis = specFromConfig(without(C, 'vision_config'));
    expect(noVis.vision).toEqual({ tokensPerImage: 49, imageSize: 224, patchSize: 32, hiddenSize: 768 });
    expect(vision(noVis).count).toBe(12);
    expect(vision(noVis).mlp).toMatchObject({ intermediateSize: 3072 });
    // LlamaConfig defaults when text_config is absent.
    const noText = specFromConfig(without(C, 'text_config'));
    expect([noText.hiddenSize, noText.numLayers, noText.vocabSize]).toEqual([4096, 32, 32000]);
    expect(noText.maxPositionEmbeddings).toBe(2048);
    // A known text model_type is read by its family (qwen2: q/k/v biases 16 + 16 + 16).
    expect(
      countParameters(specFromConfig({ ...C, text_config: { ...LLAMA, model_type: 'qwen2' } })).total,
    ).toBe(LLAMA_TOTAL + VIS + 416 + 48);
    const odd = specFromConfig({ ...C, text_config: { ...LLAMA, model_type: 'not_a_model' } });
    expect(odd.warnings).toEqual(["text_config.model_type 'not_a_model' read as llama-like"]);
    expect(specFromConfig(C).warnings).toEqual([]);
    expect(() => specFromConfig({ ...C, vision_config: { ...VIT, hidden_size: 'wide' } })).toThrow(
      /vision_config\.hidden_size/,
    );
    expect(() => specFromConfig({ ...C, text_config: { ...LLAMA, vocab_size: -1 } })).toThrow(
      /text_config\.vocab_size/,
    );
  });

  it('quantization_config: the wrapper one, else the text model one', () => {
    expect(
      specFromConfig({ ...C, quantization_config: { quant_method: 'fp8' } }).checkpointQuant!.format,
    ).toBe('fp8');
    const textQ = { ...LLAMA, quantization_config: { quant_method: 'awq' } };
    expect(specFromConfig({ ...C, text_config: textQ }).checkpointQuant!.format).toBe('awq-int4-g128');
    expect(specFromConfig(C).checkpointQuant).toBeNull();
  });

  it('dtype: torch_dtype, then dtype, then the text config', () => {
    expect(specFromConfig({ ...C, torch_dtype: 'float16' }).torchDtype).toBe('float16');
    expect(specFromConfig({ ...C, dtype: 'bfloat16' }).torchDtype).toBe('bfloat16');
    expect(specFromConfig({ ...C, text_config: { ...LLAMA, torch_dtype: 'float32' } }).torchDtype).toBe(
      'float32',
    );
    expect(specFromConfig(C).torchDtype).toBeNull();
  });
});

describe('gemma3', () => {
  // gemma3_text: h 16, 6 layers, 2 heads of 8, 1 KV head, MLP 32, vocab 10, window 4.
  const TEXT = {
    model_type: 'gemma3_text',
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 6,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    head_dim: 8,
    vocab_size: 10,
    sliding_window: 4,
  };
  // Layer: q 256 + k 128 + v 128 + o 256 = 768 + q/k norms 8 + 8 + MLP 1,536 + four norms 64 = 2,384.
  // Outside: embedding 160 + norm 16 (tied).
  const TEXT_TOTAL = 6 * 2384 + 176;
  const C = { model_type: 'gemma3', text_config: TEXT, vision_config: VIT };
  // SigLIP outside the layers: patch conv 4,704 + bias 8 + positions 4 x 8 = 32 (no CLS) + post LayerNorm 16.
  // Projector: mm_input_projection_weight 8 x 16 = 128 + mm_soft_emb_norm 8.
  const VIS = VIT_LAYERS + 4704 + 8 + 32 + 16;

  it('counts, image tokens and text layers', () => {
    const s = specFromConfig(C);
    const p = countParameters(s);
    expect(p.breakdown.vision).toBe(VIS);
    expect(p.breakdown.projector).toBe(136);
    expect(p.total).toBe(TEXT_TOTAL + VIS + 136);
    expect(s.vision).toEqual({ tokensPerImage: 256, imageSize: 28, patchSize: 14, hiddenSize: 8 });
    // Every 6th layer global, the others slide over 4 tokens.
    const sliding = s.groups.filter((g) => g.attention?.window === 4).flatMap((g) => g.layers);
    expect(sliding.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(sorted(vision(s).tensors.map((t) => t.name))).toEqual(sorted(VIT_LAYER_NAMES));
    const names = s.globalTensors.map((t) => t.name);
    expect(names).toContain('multi_modal_projector.mm_input_projection_weight');
    expect(names).toContain('multi_modal_projector.mm_soft_emb_norm.weight');
    expect(names).toContain('vision.patch_embedding.bias');
    expect(s.globalTensors.find((t) => t.name === 'vision.patch_embedding.weight')!.shape).toEqual([
      8, 3, 14, 14,
    ]);
  });

  it('variants and defaults', () => {
    expect(specFromConfig({ ...C, mm_tokens_per_image: 64 }).vision!.tokensPerImage).toBe(64);
    // SigLIP-So400m defaults: 896 / 14 = 64 -> 4,096 patches, width 1152, 27 layers, MLP 4304, 16 heads.
    const noVis = specFromConfig(without(C, 'vision_config'));
    expect(noVis.vision).toMatchObject({ imageSize: 896, patchSize: 14, hiddenSize: 1152 });
    expect(vision(noVis).count).toBe(27);
    expect(vision(noVis).attention).toMatchObject({ numHeads: 16, headDim: 72 });
    expect(vision(noVis).mlp).toMatchObject({ intermediateSize: 4304 });
    // Gemma3TextConfig defaults when text_config is absent.
    const noText = specFromConfig(without(C, 'text_config'));
    expect([noText.hiddenSize, noText.numLayers, noText.vocabSize]).toEqual([2304, 26, 262208]);
    expect(noText.groups[0]!.attention).toMatchObject({ numHeads: 8, numKvHeads: 4, headDim: 256 });
  });
});

describe('qwen2_vl', () => {
  // Text keys at the top level (older configs): qwen2, h 16, 1 layer, 2 heads, MLP 32, vocab 10; q/k/v biases
  // 16 + 16 + 16 on top of the llama text above.
  const TOP = { ...LLAMA, model_type: 'qwen2_vl' };
  const TEXT_TOTAL = LLAMA_TOTAL + 48;
  const V = {
    depth: 2,
    embed_dim: 8,
    num_heads: 2,
    patch_size: 14,
    hidden_size: 32,
    mlp_ratio: 2,
    spatial_merge_size: 2,
    temporal_patch_size: 2,
    in_chans: 3,
  };
  // Block: norm1 16 + norm2 16 + qkv 24x8+24 = 216 + proj 72 + fc1 16x8+16 = 144 + fc2 8x16+8 = 136 = 600.
  // Patch conv 8 x 3 x 2 x 14 x 14 = 9,408. Merger: ln_q 16 + mlp.0 (8 x 4 = 32) 32x32+32 = 1,056
  // + mlp.2 32 -> 32: 1,056.
  const VIS = 2 * 600 + 9408;
  const PROJ = 16 + 1056 + 1056;

  it('counts and image tokens', () => {
    const s = specFromConfig({ ...TOP, vision_config: V });
    const p = countParameters(s);
    expect(p.breakdown.vision).toBe(VIS);
    expect(p.breakdown.projector).toBe(PROJ);
    expect(p.total).toBe(TEXT_TOTAL + VIS + PROJ);
    // A 448 image: 32 x 32 patches merged 2 x 2 -> 256 tokens.
    expect(s.vision).toEqual({ tokensPerImage: 256, imageSize: 448, patchSize: 14, hiddenSize: 8 });
    const v = vision(s);
    expect(v.count).toBe(2);
    expect(v.attention).toMatchObject({ numHeads: 2, headDim: 4, causal: false });
    expect(v.mlp).toEqual({ kind: 'dense', gated: false, activation: 'quick_gelu', intermediateSize: 16 });
    expect(sorted(v.tensors.map((t) => t.name))).toEqual(
      sorted(wb('norm1', 'norm2', 'attn.qkv', 'attn.proj', 'mlp.fc1', 'mlp.fc2')),
    );
    expect(s.modelType).toBe('qwen2_vl');
  });

  it('variants', () => {
    const cnt = (v: Record<string, unknown>) => countParameters(specFromConfig({ ...TOP, vision_config: v }));
    // No merge: mlp.0 8x8+8 = 72, mlp.2 32x8+32 = 288; 32 x 32 = 1,024 tokens.
    expect(cnt({ ...V, spatial_merge_size: 1 }).breakdown.projector).toBe(16 + 72 + 288);
    expect(
      specFromConfig({ ...TOP, vision_config: { ...V, spatial_merge_size: 1 } }).vision!.tokensPerImage,
    ).toBe(1024);
    expect(cnt({ ...V, temporal_patch_size: 1 }).breakdown.vision).toBe(VIS - 4704);
    expect(cnt({ ...V, in_chans: 1 }).breakdown.vision).toBe(VIS - 6272);
    // Merger output to the text width 16 when hidden_size is absent: mlp.2 16x32+16 = 528.
    expect(cnt(without(V, 'hidden_size')).breakdown.projector).toBe(PROJ - 528);
    // mlp_ratio 4 (default): MLP 32: fc1 288 + fc2 264 instead of 144 + 136.
    expect(cnt(without(V, 'mlp_ratio')).breakdown.vision).toBe(VIS + 2 * 272);
    // Text nested in text_config (newer configs) reads the same.
    const nested = specFromConfig({
      model_type: 'qwen2_vl',
      text_config: { ...LLAMA, model_type: 'qwen2' },
      vision_config: V,
    });
    expect(countParameters(nested).total).toBe(TEXT_TOTAL + VIS + PROJ);
    // A nested text_config without model_type is qwen2 (q/k/v biases).
    const untyped = {
      model_type: 'qwen2_vl',
      text_config: { ...LLAMA, model_type: undefined },
      vision_config: V,
    };
    expect(countParameters(specFromConfig(untyped)).total).toBe(TEXT_TOTAL + VIS + PROJ);
    // Qwen2-VL-7B vision defaults: depth 32, width 1280, 16 heads.
    const def = specFromConfig(TOP);
    expect(vision(def).count).toBe(32);
    expect(vision(def).attention).toMatchObject({ numHeads: 16, headDim: 80 });
    expect(vision(def).mlp).toMatchObject({ intermediateSize: 5120 });
  });
});
