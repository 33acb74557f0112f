/**
 * Training step time. Expected numbers are worked by hand in the comments from Llama-3-8B's config
 * (../shared/reference/models: 32 layers, hidden 4096, 32 heads of 128, 8 KV heads, MLP 14336, vocab 128256,
 * untied head) or checked against published FLOPs per token (Megatron-Bridge and NeMo performance tables).
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../src/catalog/index.js';
import { InputError } from '../src/core/memory/inference.js';
import { bubbleFraction, matmulParameters, tokenFlops } from '../src/core/perf/train-flops.js';
import { trainTime, type TrainRun } from '../src/core/perf/train-time.js';
import { referenceSpec } from './helpers.js';

const llama3 = referenceSpec('meta-llama__Meta-Llama-3-8B.json');
const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));

// Per layer: q and o 4096² each, k and v 4096·1024 each = 41,943,040; MLP 3·4096·14336 = 176,160,768.
// 32 · 218,103,808 = 6,979,321,856, plus the LM head 128256 · 4096 = 525,336,576.
const N = 7_504_658_432;
// Causal attention forward per token: 32 layers · 2 · 32 heads · (128 + 128) · (8192 + 1)/2 keys.
const ATTN_FWD_8K = 32 * 2 * 32 * 256 * 4096.5;

const run: TrainRun = {
  precision: 'bf16',
  microBatch: 1,
  seq: 8192,
  dp: 1,
  tp: 1,
  pp: 1,
  zero: 0,
  recompute: 'none',
};

describe('FLOPs per token: 6N plus attention', () => {
  it('matmul parameters: everything but the embedding and norms, head included', () => {
    expect(matmulParameters(llama3)).toBe(N);
  });
  it('6N and causal attention; matches the FLOPs/token Megatron-Bridge prints', () => {
    const f = tokenFlops(llama3, { seq: 8192, recompute: 'none', adapterParameters: null });
    expect(f.six_n).toBe(6 * N);
    expect(f.attention).toBeCloseTo(3 * ATTN_FWD_8K, 0);
    // Megatron-Bridge 25.11, H100 LLAMA3_8B: 744 TFLOP/s at 14,451 tokens/s per GPU (causal attention).
    expect(f.model / (744e12 / 14451)).toBeGreaterThan(0.999);
    expect(f.model / (744e12 / 14451)).toBeLessThan(1.001);
    // NeMo 24.07, LLAMA3-8B: 697 TFLOP/s at 12,036 tokens/s, counting the full s² square.
    const nonCausal = f.six_n + f.attention_non_causal;
    expect(nonCausal / (697e12 / 12036)).toBeGreaterThan(0.999);
    expect(nonCausal / (697e12 / 12036)).toBeLessThan(1.001);
  });
  it('recomputation adds FLOPs the hardware does but the model FLOPs do not count', () => {
    const full = tokenFlops(llama3, { seq: 8192, recompute: 'full', adapterParameters: null });
    const sel = tokenFlops(llama3, { seq: 8192, recompute: 'selective', adapterParameters: null });
    expect(full.model).toBe(sel.model);
    expect(full.hardware - full.model).toBeCloseTo(2 * N + ATTN_FWD_8K, 0);
    expect(sel.hardware - sel.model).toBeCloseTo(ATTN_FWD_8K, 0);
  });
  it("LoRA's frozen base: forward and input gradients only (4N), adapters 6 per parameter", () => {
    // rank 16 on all linear layers: 16 · (in + out) per matrix, per layer
    // q 8192, k 5120, v 5120, o 8192, gate 18432, up 18432, down 18432 = 81,920 → 1,310,720; × 32 layers.
    const A = 41_943_040;
    const f = tokenFlops(llama3, { seq: 8192, recompute: 'none', adapterParameters: A });
    expect(f.six_n).toBe(4 * N + 6 * A);
    // dgxc-benchmarking's LoRA MFU takes 2/3 of the full fine-tune's matmul FLOPs: 4N / 6N.
    expect((f.six_n - 6 * A) / (6 * N)).toBeCloseTo(2 / 3, 12);
  });
});

describe('pipeline bubble', () => {
  it('1F1B: (p − 1)/(m + p − 1); interleaved: (p − 1)/v over m + (p − 1)/v', () => {
    expect(bubbleFraction(4, 8)).toBeCloseTo(3 / 11, 12);
    expect(bubbleFraction(4, 8, 2)).toBeCloseTo(1.5 / 9.5, 12);
    expect(bubbleFraction(1, 8)).toBe(0);
  });
  it('a step of pp stages spends its bubble share idle', () => {
    const t = trainTime(llama3, h100, { ...run, pp: 4, vpp: 2, globalBatch: 8 });
    expect(t.microbatches).toBe(8);
    expect(t.bubble_fraction).toBeCloseTo(3 / 19, 12);
    const { compute_s, bubble_s } = t.breakdown;
    expect(bubble_s / (compute_s + bubble_s)).toBeCloseTo(3 / 19, 12);
  });
});

describe('data-parallel traffic', () => {
  const P = 8_030_261_248; // Llama-3-8B, published parameter count
  it('ZeRO-3: each micro-batch gathers the parameters twice and reduce-scatters the gradients', () => {
    const t = trainTime(llama3, h100, { ...run, dp: 8, zero: 3, globalBatch: 32 });
    expect(t.microbatches).toBe(4);
    // 4 micro-batches · (2 · 2P + 2P) bytes · 7/8 sent by each of 8 ranks
    expect(t.dp_bytes_per_step).toBeCloseTo(4 * 6 * P * (7 / 8), 0);
  });
  it('ZeRO-0: one gradient all-reduce per step, 2 · 2P · 7/8, whatever the accumulation', () => {
    const t = trainTime(llama3, h100, { ...run, dp: 8, zero: 0, globalBatch: 32 });
    expect(t.dp_bytes_per_step).toBeCloseTo(2 * 2 * P * (7 / 8), 0);
  });
});

describe('step time', () => {
  it('ideal on one GPU: the hardware FLOPs at dense BF16 peak, plus the optimizer pass', () => {
    const t = trainTime(llama3, h100, run);
    const f = t.flops_per_token;
    const optimizer = (8_030_261_248 * 30) / h100.memoryBandwidthBytesPerS;
    expect(t.ideal.step_time_s).toBeCloseTo((8192 * f.hardware) / h100.denseFlops.bf16! + optimizer, 9);
    expect(t.step_time_s).toBeGreaterThan(t.ideal.step_time_s);
    expect(t.mfu).toBeLessThan(t.mfu_with_attention);
  });
  it('bad degrees are named', () => {
    expect(() => trainTime(llama3, h100, { ...run, ep: 2 })).toThrow(InputError);
    expect(() => trainTime(llama3, h100, { ...run, dp: 2, ep: 2 })).toThrow(/mixture-of-experts/);
    expect(() => trainTime(llama3, h100, { ...run, ep: 2 })).toThrow(/ep=2 must divide/);
    expect(() => trainTime(llama3, h100, { ...run, cp: 3 })).toThrow(/cp=3 must divide seq/);
    expect(() => trainTime(llama3, h100, { ...run, dp: 2, globalBatch: 3 })).toThrow(/not a multiple/);
    expect(() => trainTime(llama3, h100, { ...run, vpp: 2 })).toThrow(/needs pp >= 2/);
    expect(() => trainTime(llama3, h100, { ...run, tp: 3 })).toThrow(/tp=3 does not divide/);
  });
});
