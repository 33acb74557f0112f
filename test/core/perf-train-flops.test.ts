/**
 * FLOPs of a trained token and the training efficiency lookup, by hand from the reference configs.
 * Qwen2.5-0.5B: 24 layers, hidden 896, 14 heads of 64, 2 KV heads, MLP 4864, vocab 151936, tied embedding.
 * LLaVA-1.5-7B: a Llama-2-7B decoder (vocab 32064, untied head) behind a CLIP tower and a projector.
 * Mistral-7B: 32 layers, 32 heads of 128, sliding window 4096.
 */
import { describe, expect, it } from 'vitest';
import {
  attentionForwardFlops,
  bubbleFraction,
  matmulParameters,
  tokenFlops,
} from '../../src/core/perf/train-flops.js';
import {
  calibrationKeys,
  precisionClass,
  sizeFactor,
  trainEfficiency,
} from '../../src/core/perf/train-efficiency.js';
import { referenceSpec } from '../helpers.js';

describe('matmul parameters', () => {
  it('Qwen2.5-0.5B: the tied embedding still multiplies as the head; biases count, norms do not', () => {
    // per layer: q 896² + 896, k and v 128 · 896 + 128 each, o 896², MLP 3 · 896 · 4864
    const layer = 2 * 896 * 896 + 896 + 2 * (128 * 896 + 128) + 3 * 896 * 4864;
    expect(matmulParameters(referenceSpec('Qwen__Qwen2.5-0.5B.json'))).toBe(24 * layer + 151936 * 896);
  });
  it('LLaVA-1.5-7B: the decoder and its head only, no vision tower or projector', () => {
    const layer = 4 * 4096 * 4096 + 3 * 4096 * 11008;
    expect(matmulParameters(referenceSpec('llava-hf__llava-1.5-7b-hf.json'))).toBe(32 * layer + 32064 * 4096);
  });
});

describe('attention FLOPs per token', () => {
  const mistral = () => referenceSpec('mistralai__Mistral-7B-v0.1.json');
  const per = 32 * 2 * 32 * 256; // layers · 2 · heads · (d_qk + d_v)
  it('within the window: (s + 1)/2 keys causal, s keys non-causal', () => {
    expect(attentionForwardFlops(mistral(), 2048, true)).toBe(per * 1024.5);
    expect(attentionForwardFlops(mistral(), 2048, false)).toBe(per * 2048);
    expect(attentionForwardFlops(mistral(), 4096, true)).toBe(per * 2048.5);
  });
  it('past the 4096 window: 4096 keys either way', () => {
    expect(attentionForwardFlops(mistral(), 8192, true)).toBe(per * 4096);
    expect(attentionForwardFlops(mistral(), 8192, false)).toBe(per * 4096);
  });
  it("LLaVA: the vision tower's attention is not the token's", () => {
    expect(attentionForwardFlops(referenceSpec('llava-hf__llava-1.5-7b-hf.json'), 1024, false)).toBe(
      per * 1024,
    );
  });
});

describe('tokenFlops', () => {
  const spec = () => referenceSpec('Qwen__Qwen2.5-0.5B.json');
  const N = 24 * (2 * 896 * 896 + 896 + 2 * (128 * 896 + 128) + 3 * 896 * 4864) + 151936 * 896;
  // forward attention at 1024: 24 layers · 2 · 14 heads · 128 · (1024 + 1)/2 keys
  const A = 24 * 2 * 14 * 128 * 512.5;
  it('full training, no recompute: 6N + 3A, all of it executed', () => {
    const f = tokenFlops(spec(), { seq: 1024, recompute: 'none', adapterParameters: null });
    expect(f).toEqual({
      matmul_parameters: N,
      six_n: 6 * N,
      attention: 3 * A,
      attention_non_causal: 3 * 24 * 2 * 14 * 128 * 1024,
      model: 6 * N + 3 * A,
      hardware: 6 * N + 3 * A,
      hardware_gemm: 6 * N,
    });
  });
  it('selective recompute reruns the attention core; full the whole forward', () => {
    const sel = tokenFlops(spec(), { seq: 1024, recompute: 'selective', adapterParameters: null });
    expect([sel.hardware, sel.hardware_gemm]).toEqual([6 * N + 4 * A, 6 * N]);
    const full = tokenFlops(spec(), { seq: 1024, recompute: 'full', adapterParameters: null });
    expect([full.hardware, full.hardware_gemm, full.model]).toEqual([8 * N + 4 * A, 8 * N, 6 * N + 3 * A]);
  });
  it('LoRA with 1,000,000 adapters: 4N + 6 · 1e6; a full recompute reruns 2N + 2 · 1e6', () => {
    const f = tokenFlops(spec(), { seq: 1024, recompute: 'full', adapterParameters: 1e6 });
    expect(f.six_n).toBe(4 * N + 6e6);
    expect(f.hardware_gemm).toBe(4 * N + 6e6 + 2 * N + 2e6);
    expect(f.hardware).toBe(4 * N + 6e6 + 3 * A + 2 * N + 2e6 + A);
  });
});

describe('pipeline bubble', () => {
  it('(p − 1)/v idle micro-batch times out of m + (p − 1)/v; none without PP', () => {
    expect(bubbleFraction(4, 8)).toBeCloseTo(3 / 11, 15);
    expect(bubbleFraction(4, 8, 3)).toBeCloseTo(1 / 9, 15);
    expect(bubbleFraction(1, 8, 2)).toBe(0);
    expect(bubbleFraction(0, 8)).toBe(0);
    expect(bubbleFraction(2, 1)).toBeCloseTo(0.5, 15);
  });
});

describe('training efficiency lookup', () => {
  it('precision classes', () => {
    expect(['bf16', 'FP16', 'fp32', 'fp8', 'FP8_E4M3', 'nvfp4', 'MXFP4', 'fp4'].map(precisionClass)).toEqual([
      'bf16',
      'bf16',
      'bf16',
      'fp8',
      'fp8',
      'fp4',
      'fp4',
      'fp4',
    ]);
  });
  it('keys from the most to the least specific; FP4 falls back to FP8 before BF16', () => {
    expect(calibrationKeys('nvidia-blackwell', 'nvfp4', false)).toEqual([
      'nvidia-blackwell:fp4:dense',
      '*:fp4:dense',
      'nvidia-blackwell:fp8:dense',
      '*:fp8:dense',
      '*:bf16:dense',
      '*',
    ]);
    expect(calibrationKeys('nvidia-hopper', 'bf16', true)).toEqual([
      'nvidia-hopper:bf16:moe',
      '*:bf16:moe',
      '*:bf16:moe',
      '*',
    ]);
  });
  it('the first key the table has; 0.5 when none', () => {
    const cal = { groups: { '*:fp8:dense': 0.4, '*': 0.3 } };
    expect(trainEfficiency('nvidia-blackwell', 'fp4', false, cal)).toEqual({
      efficiency: 0.4,
      group: '*:fp8:dense',
    });
    expect(trainEfficiency('nvidia-blackwell', 'bf16', true, cal)).toEqual({ efficiency: 0.3, group: '*' });
    expect(trainEfficiency('x', 'bf16', true, { groups: {} })).toEqual({ efficiency: 0.5, group: 'default' });
  });
  it('size factor hidden / (hidden + 512)', () => {
    expect(sizeFactor(512)).toBe(0.5);
    expect(sizeFactor(1536)).toBe(0.75);
  });
});
