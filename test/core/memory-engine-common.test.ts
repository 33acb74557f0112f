/**
 * Model-side terms the engine profiles share (src/core/memory/engines/common.ts): loaded weights, the forward
 * peak, fused-MoE workspaces, KV layer kinds and the vision profile. Bytes worked out by hand from the configs in
 * ../shared/reference/models and the formulas the file quotes from vLLM 0.19.
 */
import { describe, expect, it } from 'vitest';
import {
  forwardPeakBytes,
  kvBytesPerTokenAll,
  kvLayerTypes,
  loadedWeights,
  moePath,
  moeWorkspaceBytes,
  visionProfileBytes,
} from '../../src/core/memory/engines/common.js';
import { referenceSpec } from '../helpers.js';

const all = () => true;
const llama31 = referenceSpec('meta-llama__Llama-3.1-8B.json');
const qwenMoe = referenceSpec('Qwen__Qwen3-30B-A3B.json');
const plan = (tp = 1, pp = 1, ep = 1) => ({ tp, pp, ep });

describe('forward peak of one step: 4·T·H plus the largest layer intermediate', () => {
  it('Llama-3.1-8B, 8192 tokens: the gated MLP, 8192 · 14336 · 3 · 2 B', () => {
    // 4 · 8192 · 4096 · 2 = 268,435,456 + 704,643,072 (attention: 8192 · (4096 + 2048 + 4096) · 2 = 167,772,160).
    expect(forwardPeakBytes(llama31, 8192, 1, 2, all)).toBe(268_435_456 + 704_643_072);
    // tp 2 halves the MLP only.
    expect(forwardPeakBytes(llama31, 8192, 2, 2, all)).toBe(268_435_456 + 352_321_536);
  });
  it('Qwen3-30B-A3B: no shared expert, so attention wins: 8192 · (4096 + 1024 + 4096) · 2', () => {
    // Router logits 8192 · 128 · 4 = 4,194,304 < attention 150,994,944; 4 · 8192 · 2048 · 2 = 134,217,728.
    expect(forwardPeakBytes(qwenMoe, 8192, 1, 2, all)).toBe(134_217_728 + 150_994_944);
  });
  it('DeepSeek-V2-Lite, 1000 tokens: the dense first layer’s MLP, 1000 · 10944 · 3 · 2', () => {
    // MLA attention 1000 · (3072 + 4096 + 2048) · 2 = 18,432,000; MoE shared 1000 · 2816 · 6 + 1000 · 64 · 4 =
    // 17,152,000; dense MLP 65,664,000. Residual 4 · 1000 · 2048 · 2 = 16,384,000.
    const ds = referenceSpec('deepseek-ai__DeepSeek-V2-Lite.json');
    expect(forwardPeakBytes(ds, 1000, 1, 2, all)).toBe(16_384_000 + 65_664_000);
    // Without layer 0 on the stage, the attention is the largest: 18,432,000.
    expect(forwardPeakBytes(ds, 1000, 1, 2, (i) => i > 0)).toBe(16_384_000 + 18_432_000);
  });
  it('Mamba-130m, 1000 tokens: x, z and the conv input (2 · 1536 + 1536)', () => {
    const m = referenceSpec('state-spaces__mamba-130m-hf.json');
    expect(forwardPeakBytes(m, 1000, 1, 2, all)).toBe(4 * 1000 * 768 * 2 + 1000 * 4608 * 2);
  });
});

describe('fused-MoE workspace (Qwen3-30B-A3B, M = 8192, top-8, I = 768, H = 2048, 2 B)', () => {
  it('Triton bf16: M·k·max(I, H) + M·k·max(2I, H) + M·H elements', () => {
    // 134,217,728 + 134,217,728 + 16,777,216 = 285,212,672 elements · 2 B.
    expect(moeWorkspaceBytes(qwenMoe, 'bf16', 8192, 1, 2, all)).toBe(570_425_344);
    // fp8 adds the quantised activations: M·H + M·k·I = 16,777,216 + 50,331,648 bytes.
    expect(moeWorkspaceBytes(qwenMoe, 'fp8', 8192, 1, 2, all)).toBe(570_425_344 + 67_108_864);
    // fp4: the gate-up output M·k·2I and the output M·H, 2 B each: 201,326,592 + 33,554,432.
    expect(moeWorkspaceBytes(qwenMoe, 'fp4', 8192, 1, 2, all)).toBe(234_881_024);
    // A dense model, or a stage without MoE layers, keeps none.
    expect(moeWorkspaceBytes(llama31, 'bf16', 8192, 1, 2, all)).toBe(0);
    expect(moeWorkspaceBytes(qwenMoe, 'bf16', 8192, 1, 2, () => false)).toBe(0);
  });
  it('the kernel family follows the expert format', () => {
    expect(moePath(referenceSpec('openai__gpt-oss-20b.json'), 'auto')).toBe('fp4');
    expect(moePath(qwenMoe, 'auto')).toBe('bf16');
    expect(moePath(qwenMoe, 'fp8')).toBe('fp8');
    expect(moePath(qwenMoe, 'nvfp4')).toBe('fp4');
    expect(moePath(qwenMoe, 'bf16')).toBe('bf16');
  });
});

describe('weights as loaded on a rank', () => {
  it('Llama-3.1-8B bf16: the parameters, plus a RoPE cache of 131,072 positions · 128 · 2 B', () => {
    const w = loadedWeights(llama31, 'bf16', plan(), 0, 2, { slackPerLayer: 2 ** 20 });
    expect(w.parameters).toBe(16_060_522_496); // 128,256 is already a multiple of 64
    expect(w.rotaryCache).toBe(131_072 * 128 * 2);
    expect(w.loaderSlack).toBe(32 * 2 ** 20);
    expect(w.total).toBe(16_060_522_496 + 33_554_432 + 32 * 2 ** 20);
  });
  it('GPT-2 pp=2, last stage: 6 layers and its own copy of the tied embedding, padded to 50,304 rows', () => {
    // Per layer 7,087,872 · 2 B = 14,175,744; 6 layers 85,054,464; wte 50,304 · 768 · 2 = 77,266,944.
    const w = loadedWeights(referenceSpec('openai-community__gpt2.json'), 'bf16', plan(1, 2), 1, 2);
    expect(w.parameters).toBe(85_054_464 + 77_266_944);
  });
  it('expert padding scales the stacked experts: I = 768 padded to 1024 adds a third', () => {
    // Experts 128 · 3 · 768 · 2048 · 2 B = 1,207,959,552 per layer; + 1/3 = 402,653,184 · 48 layers.
    const plain = loadedWeights(qwenMoe, 'bf16', plan(), 0, 2).parameters;
    const padded = loadedWeights(qwenMoe, 'bf16', plan(), 0, 2, {
      expertPad: { intermediate: 512, hidden: 128 },
    }).parameters;
    expect(padded - plain).toBe(48 * 402_653_184);
  });
});

describe('KV layer kinds and the vision profile', () => {
  it('Gemma-2-9B: 21 sliding (4096) and 21 full layers of 2 · 8 · 256 · 2 B = 8,192 B per token', () => {
    const { types, ssmLayers } = kvLayerTypes(referenceSpec('google__gemma-2-9b-it.json'), 2, 1, all);
    expect(types).toHaveLength(2);
    expect(types).toEqual(
      expect.arrayContaining([
        { bytesPerTokenLayer: 8192, window: 4096, layers: 21 },
        { bytesPerTokenLayer: 8192, window: null, layers: 21 },
      ]),
    );
    expect(ssmLayers).toBe(0);
    expect(kvBytesPerTokenAll(types)).toBe(42 * 8192);
    // Mamba has no attention layers to cache, 24 SSM layers.
    expect(kvLayerTypes(referenceSpec('state-spaces__mamba-130m-hf.json'), 2, 1, all)).toEqual({
      types: [],
      ssmLayers: 24,
    });
  });
  it('LLaVA-1.5 at 8192 batched tokens: 14 images of 576 patches through CLIP ViT-L/14 at 336', () => {
    // floor(8192 / 576) = 14 images · (336 / 14)² = 8,064 patches; tower 8,064 · (3 · 1024 + 2 · 4096) · 2 B =
    // 181,665,792; encoder cache 14 · 576 · 4096 · 2 B = 66,060,288.
    const llava = referenceSpec('llava-hf__llava-1.5-7b-hf.json');
    expect(visionProfileBytes(llava, 8192, 2)).toEqual({ towerPeak: 181_665_792, encoderCache: 66_060_288 });
    // Fewer tokens than one image: still one image.
    expect(visionProfileBytes(llava, 100, 2).encoderCache).toBe(576 * 4096 * 2);
    expect(visionProfileBytes(llama31, 8192, 2)).toEqual({ towerPeak: 0, encoderCache: 0 });
  });
});
