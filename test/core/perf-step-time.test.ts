/**
 * A step's time from its operators under an efficiency table, and its collectives, worked by hand. H100 SXM:
 * 989.4 TFLOP/s BF16, 1978.9 FP8 and INT8, 3.35 TB/s; B200: 9 PFLOP/s FP4. The links are made up so that each
 * collective is simple: 100 GB/s and 1 µs inside a node of 4, 10 GB/s and 5 µs across, at half bandwidth (link 0.5)
 * and twice the latency (alpha 2).
 */
import { describe, expect, it } from 'vitest';
import { findDevice, findModel, hardwareSpec, modelSpec } from '../../src/catalog/index.js';
import { IDEAL, type Efficiency } from '../../src/core/perf/efficiency.js';
import { stepContext } from '../../src/core/perf/latency.js';
import { communicationS, peakFlops, timeOps, type StepContext } from '../../src/core/perf/step.js';
import type { ModelSpec } from '../../src/core/arch/spec.js';
import { referenceSpec } from '../helpers.js';
import { decodeShape, op, rel, twoTierLinks } from './fixtures-perf.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const llama2 = referenceSpec('meta-llama__Llama-2-7b-hf.json');
const BF16 = 989.4e12;
const FP8 = 1978.9e12;
const BW = 3.35e12;

const eff: Efficiency = {
  ...IDEAL,
  gemm: 0.5,
  expertGemm: 0.25,
  fp8: 0.8,
  fp4: 0.6,
  attention: 0.4,
  memory: 0.5,
  kernelS: 1e-5,
  stepS: 1e-3,
  sequenceS: 1e-4,
  link: 0.5,
  alpha: 2,
};
const shape = decodeShape;

describe('timeOps: each operator max(FLOPs / peak, bytes / bandwidth), plus fixed costs', () => {
  const ctx = stepContext(llama2, h100, 'bf16', { tp: 1, pp: 1, ep: 1 });
  it('a compute-bound GEMM, a memory-bound norm and an attention core, 2 + 3 + 2 kernels, 4 sequences', () => {
    const ops = [
      // 1e12 FLOPs at 0.5 · 989.4 T: 2.0214 ms; 1e9 B at 0.5 · 3.35 TB/s: 0.597 ms → compute
      op('gemm', 1e12, 1e9, { kernels: 2 }),
      // 1e6 FLOPs at 0.4 · BF16; 1e10 B at 1.675 TB/s: 5.97 ms → memory
      op('elementwise', 1e6, 1e10, { kernels: 3, category: 'norm' }),
      // 1e12 FLOPs at 0.4 · BF16: 2.527 ms; 1e8 B → compute
      op('attention', 1e12, 1e8, { kernels: 2, category: 'attention_core' }),
    ];
    const t = timeOps(ctx, shape(), ops, eff);
    const compute = 1e12 / (BF16 * 0.5) + 1e12 / (BF16 * 0.4);
    const memory = 1e10 / (BW * 0.5);
    const overhead = 7 * 1e-5 + 1e-3 + 4 * 1e-4;
    expect(rel(t.compute_s, compute)).toBeLessThan(1e-12);
    expect(rel(t.memory_s, memory)).toBeLessThan(1e-12);
    expect(rel(t.overhead_s, overhead)).toBeLessThan(1e-12);
    expect(t.communication_s).toBe(0);
    expect(rel(t.time_s, compute + memory + overhead)).toBeLessThan(1e-12);
    expect(t.flops).toBe(2e12 + 1e6);
    expect(t.bytes).toBe(1e9 + 1e10 + 1e8);
    expect(t.flops_by_category).toEqual({ mlp: 1e12, norm: 1e6, attention_core: 1e12 });
    expect(t.bound).toBe('memory');
  });
  it('two segments count their sequences; operators of one category add up; compute-bound step', () => {
    const two = shape({
      segments: [
        { batch: 3, tokens: 1, context: 10 },
        { batch: 2, tokens: 50, context: 0 },
      ],
    });
    const t = timeOps(ctx, two, [op('gemm', 1e12, 0), op('gemm', 2e12, 0)], eff);
    expect(rel(t.overhead_s, 2e-5 + 1e-3 + 5e-4)).toBeLessThan(1e-12);
    expect(t.flops_by_category).toEqual({ mlp: 3e12 });
    expect(t.bound).toBe('compute');
    expect(t.memory_s).toBe(0);
  });
  it('a tie of compute and memory counts once, as compute', () => {
    const t = timeOps(ctx, shape(), [op('gemm', BF16, BW)], IDEAL);
    expect([t.compute_s, t.memory_s, t.time_s, t.bound]).toEqual([1, 0, 1, 'compute']);
  });
  it('a GEMM of M rows reaches gemm · M / (M + half); a grouped one the expert curve', () => {
    const curve = { ...eff, gemmHalfM: 1000, expertHalfM: 3000 };
    const g = timeOps(ctx, shape(), [op('gemm', 1e12, 0, { m: 1000 })], curve);
    expect(rel(g.compute_s, 1e12 / (BF16 * 0.25))).toBeLessThan(1e-12);
    const x = timeOps(ctx, shape(), [op('gemm', 1e12, 0, { m: 1000, grouped: true })], curve);
    expect(rel(x.compute_s, 1e12 / (BF16 * 0.0625))).toBeLessThan(1e-12);
  });
  it('FP8 and INT8 GEMMs at their peak · fp8; NVFP4 on a B200 at 9 PFLOP/s · fp4; attention stays BF16', () => {
    const ops = [op('gemm', 1e12, 0), op('attention', 1e12, 0)];
    const attn = 1e12 / (BF16 * 0.4);
    for (const p of ['fp8', 'int8']) {
      const t = timeOps({ ...ctx, precision: p }, shape(), ops, eff);
      expect(rel(t.compute_s, 1e12 / (FP8 * 0.5 * 0.8) + attn)).toBeLessThan(1e-12);
    }
    const b200 = hardwareSpec(findDevice('b200'));
    const t = timeOps({ ...ctx, hw: b200, precision: 'nvfp4' }, shape(), ops, eff);
    expect(rel(t.compute_s, 1e12 / (9e15 * 0.5 * 0.6) + 1e12 / (2.25e15 * 0.4))).toBeLessThan(1e-12);
  });
  it('peak FLOP/s: BF16, else FP16, else FP32; none leaves only the bytes', () => {
    expect(peakFlops(ctx, 'attention')).toBe(BF16);
    expect(peakFlops({ ...ctx, precision: 'fp8' }, 'gemm')).toBe(FP8);
    expect(peakFlops({ ...ctx, precision: 'fp8' }, 'elementwise')).toBe(BF16);
    const fp16 = { ...ctx, hw: { ...h100, denseFlops: { fp16: 5e14, fp32: 6e13 } } };
    expect(peakFlops(fp16, 'attention')).toBe(5e14);
    const fp32 = { ...ctx, hw: { ...h100, denseFlops: { fp32: 6e13 } } };
    expect(peakFlops(fp32, 'attention')).toBe(6e13);
    // fp8 on a device with only fp32: the GEMMs fall back to the 16-bit figure, here FP32's.
    expect(peakFlops({ ...fp32, precision: 'fp8' }, 'gemm')).toBe(6e13);
    const none = { ...ctx, hw: { ...h100, denseFlops: {} } };
    expect(peakFlops(none, 'gemm')).toBe(0);
    const t = timeOps(none, shape(), [op('gemm', 1e12, BW)], IDEAL);
    expect([t.compute_s, t.memory_s]).toEqual([0, 1]);
  });
});

describe('communicationS: the collectives of one step', () => {
  const links = twoTierLinks();
  // At link 0.5 and alpha 2: 5e10 B/s and 2 µs per step inside, 5e9 B/s and 10 µs across.
  const B = 5e10;
  const a = 2e-6;
  const Bx = 5e9;
  const ax = 1e-5;
  // Decode of 4 sequences: 4 tokens · 4096 · 2 B.
  const M = 4 * 4096 * 2;
  const ctx = (spec: ModelSpec, plan: Partial<StepContext['plan']> = {}): StepContext =>
    stepContext(spec, h100, 'bf16', { tp: 1, pp: 1, ep: 1, ...plan }, links);
  it('tp=2: two all-reduces per layer; ring and one-shot tie at 2 steps of α + M / B', () => {
    const t = communicationS(ctx(llama2, { tp: 2 }), shape({ tp: 2 }), eff);
    expect(rel(t, 32 * 2 * (2 * a + M / B))).toBeLessThan(1e-12);
  });
  it('tp=4: the one-shot all-reduce (2α + 3M/B) wins; with SP a reduce-scatter + all-gather (2 · (3α + 3/4 · M/B))', () => {
    // ring 6α + 1.5 M/B = 12.98 µs, tree 4α + 2M/B = 9.31 µs, one-shot 2α + 3M/B = 5.97 µs
    const t = communicationS(ctx(llama2, { tp: 4 }), shape({ tp: 4 }), eff);
    expect(rel(t, 32 * 2 * (2 * a + (3 * M) / B))).toBeLessThan(1e-12);
    const sp = communicationS(ctx(llama2, { tp: 4, sp: true }), shape({ tp: 4 }), eff);
    expect(rel(sp, 32 * 2 * 2 * (3 * a + (0.75 * M) / B))).toBeLessThan(1e-12);
  });
  it('tp=8 leaves the node of 4: all-reduce across, 2 steps of 10 µs + 7M / 5 GB/s (one-shot)', () => {
    // ring 14 · 10 µs + 1.75 M / Bx, tree 6 · 10 µs + 2M / Bx = 73.1 µs, one-shot 20 µs + 7M / Bx = 65.9 µs
    const t = communicationS(ctx(llama2, { tp: 8 }), shape({ tp: 8 }), eff);
    expect(rel(t, 32 * 2 * (2 * ax + (7 * M) / Bx))).toBeLessThan(1e-12);
  });
  it("a vision tower's layers do not all-reduce in the decode step (LLaVA: 32 decoder layers)", () => {
    const llava = referenceSpec('llava-hf__llava-1.5-7b-hf.json');
    const t = communicationS(ctx(llava, { tp: 2 }), shape({ tp: 2 }), eff);
    expect(rel(t, 32 * 2 * (2 * a + M / B))).toBeLessThan(1e-12);
  });
  it('pp=2: one send per step (α + M / B), scaled by the stage share', () => {
    const t = communicationS(ctx(llama2, { pp: 2 }), shape({ layerShare: 0.5 }), eff);
    expect(rel(t, 0.5 * (a + M / B))).toBeLessThan(1e-12);
    // tp=2 · pp=4 = 8 devices: the send crosses nodes.
    const x = communicationS(ctx(llama2, { pp: 4, tp: 2 }), shape({ layerShare: 0.25, tp: 2 }), eff);
    const tpPart = 32 * 0.25 * 2 * (2 * a + M / B);
    expect(rel(x, tpPart + 3 * 0.25 * (ax + M / Bx))).toBeLessThan(1e-12);
  });
  it('cp=2 passes each layer’s K/V of the prompt chunk once: 32 heads · 128 · 2 (K, V) · 2 B per token', () => {
    const prompt = shape({ cp: 2, segments: [{ batch: 2, tokens: 512, context: 0 }] });
    const kv = 512 * 32 * 128 * 2 * 2; // 2 prompts of 512 tokens, half on each device
    const t = communicationS(ctx(llama2, { cp: 2 }), prompt, eff);
    expect(rel(t, 32 * (a + kv / B))).toBeLessThan(1e-12);
    // tp=2 · cp=4 crosses the node; K/V heads split by tp
    const x = communicationS(ctx(llama2, { cp: 4, tp: 2 }), { ...prompt, cp: 4, tp: 2 }, eff);
    const msg = 256 * 4096 * 2;
    const tpPart = 32 * 2 * (2 * a + msg / B);
    const kvx = 256 * 16 * 128 * 2 * 2;
    expect(rel(x, tpPart + 32 * 3 * (ax + kvx / Bx))).toBeLessThan(1e-12);
  });
  it('a step whose collectives outlast its compute and memory is communication-bound', () => {
    const c = ctx(llama2, { tp: 2 });
    const t = timeOps(c, shape({ tp: 2 }), [op('gemm', 1e6, 1e3)], eff);
    const comm = 32 * 2 * (2 * a + M / B);
    expect(t.bound).toBe('communication');
    expect(rel(t.time_s, 1e6 / (BF16 * 0.5) + comm + 1e-5 + 1e-3 + 4e-4)).toBeLessThan(1e-12);
  });
  describe('Mixtral-8x7B (32 MoE layers, top-2)', () => {
    const mixtral = modelSpec(findModel('mistralai/Mixtral-8x7B-v0.1'));
    it('ep=2: dispatch and combine all-to-alls of the top-2 copies, α + M on each', () => {
      const t = communicationS(ctx(mixtral, { ep: 2 }), shape({ ep: 2 }), eff);
      expect(rel(t, 32 * 2 * (a + (0.5 * 2 * M) / B))).toBeLessThan(1e-12);
      // tp=2 · ep=4 spans 8 devices: across nodes.
      const x = communicationS(ctx(mixtral, { ep: 4, tp: 2 }), shape({ ep: 4, tp: 2 }), eff);
      const tpPart = 32 * 2 * (2 * a + M / B);
      expect(rel(x, tpPart + 32 * 2 * (3 * ax + (0.75 * 2 * M) / Bx))).toBeLessThan(1e-12);
    });
    it('serving shape (moeTp given) without attention DP: the experts add no exchange', () => {
      const t = communicationS(ctx(mixtral, { ep: 2 }), shape({ ep: 2, moeTp: 1 }), eff);
      expect(t).toBe(0);
    });
    it('attention DP 2 at tp=1, ep=2: one all-to-all pair over the 2 ranks of each token’s 2 copies', () => {
      const t = communicationS(ctx(mixtral, { ep: 2 }), shape({ ep: 2, adp: 2, moeTp: 1 }), eff);
      expect(rel(t, 32 * 2 * (a + (0.5 * 2 * M) / B))).toBeLessThan(1e-12);
    });
    it('attention DP 2 at tp=2, experts split by TP: one all-reduce, then gather + scatter of 2M over 4', () => {
      const t = communicationS(ctx(mixtral, { tp: 2 }), shape({ tp: 2, adp: 2, moeTp: 4 }), eff);
      const ar = 2 * a + M / B;
      const agrs = 2 * (3 * a + (0.75 * 2 * M) / B);
      expect(rel(t, 32 * (ar + agrs))).toBeLessThan(1e-12);
    });
  });
});
