/**
 * Edges of the step model the other step tests leave open, by hand: attention DP on a dense model, an all-to-all
 * over 4 ranks against gather + scatter, context parallel on a model without attention, the pipeline send's span,
 * extra operators, which bound a step reports, and shared experts over several tokens and TP.
 * Links as in perf-step-time.test.ts: 100 GB/s and 1 µs inside a node of 4, 10 GB/s and 5 µs across, at half
 * bandwidth and twice the latency.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import { IDEAL, type Efficiency } from '../../src/core/perf/efficiency.js';
import { stepContext } from '../../src/core/perf/latency.js';
import { stepOps } from '../../src/core/perf/ops.js';
import { communicationS, stepTime, timeOps, type StepContext } from '../../src/core/perf/step.js';
import { weightLayout } from '../../src/core/memory/weights.js';
import type { ModelSpec } from '../../src/core/arch/spec.js';
import { referenceSpec } from '../helpers.js';
import { decodeShape, op, rel, twoTierLinks } from './fixtures-perf.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const BF16 = 989.4e12;
const BW = 3.35e12;
const eff: Efficiency = { ...IDEAL, link: 0.5, alpha: 2 };
const links = twoTierLinks();
const B = 5e10;
const a = 2e-6;
const Bx = 5e9;
const ax = 1e-5;
const M = 4 * 4096 * 2; // 4 decode tokens of 4096 · 2 B
const shape = decodeShape;
const ctx = (spec: ModelSpec, plan: Partial<StepContext['plan']> = {}): StepContext =>
  stepContext(spec, h100, 'bf16', { tp: 1, pp: 1, ep: 1, ...plan }, links);

describe('collectives', () => {
  it('attention DP on a dense model (Llama-2-7B, tp=2, adp=2): two all-reduces per layer, no expert exchange', () => {
    const t = communicationS(
      ctx(referenceSpec('meta-llama__Llama-2-7b-hf.json'), { tp: 2 }),
      shape({ tp: 2, adp: 2, moeTp: 4 }),
      eff,
    );
    expect(rel(t, 32 * 2 * (2 * a + M / B))).toBeLessThan(1e-12);
  });
  it('Mixtral, attention DP 4, ep=2: all-to-all of the top-2 copies over 4 (not gather + scatter of 4M)', () => {
    const mixtral = referenceSpec('mistralai__Mixtral-8x7B-v0.1.json');
    const t = communicationS(ctx(mixtral, { ep: 2 }), shape({ ep: 2, adp: 4, moeTp: 1 }), eff);
    expect(rel(t, 32 * 2 * (3 * a + (0.75 * 2 * M) / B))).toBeLessThan(1e-12);
    // experts split by TP instead (ep=1): gather and scatter of 4 ranks' tokens
    const g = communicationS(ctx(mixtral), shape({ adp: 4, moeTp: 4 }), eff);
    expect(rel(g, 32 * 2 * (3 * a + (0.75 * 4 * M) / B))).toBeLessThan(1e-12);
  });
  it('cp=2 on mamba (no attention): no K/V to pass', () => {
    const mamba = referenceSpec('state-spaces__mamba-130m-hf.json');
    const prompt = shape({ cp: 2, segments: [{ batch: 1, tokens: 64, context: 0 }] });
    expect(communicationS(ctx(mamba, { cp: 2 }), prompt, eff)).toBe(0);
  });
  it('the pipeline send spans tp · pp · ep · cp devices: pp=2 · cp=4 and pp=2 · ep=4 cross the node of 4', () => {
    const llama2 = referenceSpec('meta-llama__Llama-2-7b-hf.json');
    const cp = communicationS(ctx(llama2, { pp: 2, cp: 4 }), shape({ layerShare: 0.5, cp: 4 }), eff);
    expect(rel(cp, 0.5 * (ax + M / Bx))).toBeLessThan(1e-12);
    const mixtral = referenceSpec('mistralai__Mixtral-8x7B-v0.1.json');
    const ep = communicationS(
      ctx(mixtral, { pp: 2, ep: 4 }),
      shape({ layerShare: 0.5, ep: 4, moeTp: 1 }),
      eff,
    );
    expect(rel(ep, 0.5 * (ax + M / Bx))).toBeLessThan(1e-12);
  });
});

describe('step time', () => {
  const llamaCtx = () =>
    stepContext(referenceSpec('meta-llama__Llama-2-7b-hf.json'), h100, 'bf16', { tp: 1, pp: 1, ep: 1 });
  it('extra operators join the step: a 1 s GEMM adds 1 s and its FLOPs', () => {
    const c = llamaCtx();
    const plain = stepTime(c, shape(), IDEAL);
    const more = stepTime(c, shape(), IDEAL, [op('gemm', BF16, 0)]);
    expect(more.time_s - plain.time_s).toBeCloseTo(1, 12);
    expect(more.flops - plain.flops).toBe(BF16);
  });
  it('equal compute and memory: compute-bound', () => {
    const t = timeOps(llamaCtx(), shape(), [op('gemm', BF16, 0), op('elementwise', 0, BW)], IDEAL);
    expect([t.compute_s, t.memory_s, t.bound]).toEqual([1, 1, 'compute']);
  });
  it('collectives longer than the compute but shorter than the memory time: memory-bound; and the reverse', () => {
    const llama2 = referenceSpec('meta-llama__Llama-2-7b-hf.json');
    const c = ctx(llama2, { tp: 2 });
    const comm = 32 * 2 * (2 * a + M / B); // ≈ 0.3 ms
    const mem = timeOps(c, shape({ tp: 2 }), [op('gemm', 1e6, BW)], eff);
    expect(mem.communication_s).toBeCloseTo(comm, 15);
    expect(mem.bound).toBe('memory');
    const cmp = timeOps(c, shape({ tp: 2 }), [op('gemm', BF16, 1e3)], eff);
    expect(cmp.bound).toBe('compute');
  });
});

describe('shared experts over several tokens and TP (DeepSeek-V2-Lite: 2 shared of 3 · 1408 · 2048)', () => {
  it('3 tokens at tp=2: 2 · 3 · (half the shared weights) FLOPs; half their bytes', () => {
    const spec = referenceSpec('deepseek-ai__DeepSeek-V2-Lite.json');
    const ops = stepOps(
      spec,
      weightLayout(spec, 'bf16'),
      shape({ tp: 2, segments: [{ batch: 3, tokens: 1, context: 0 }] }),
    );
    const shared = ops.filter((o) => o.category === 'experts')[1]!;
    const sh = 3 * 2816 * 2048;
    expect(shared.flops).toBe(2 * 3 * (sh / 2) * 26);
    expect(shared.bytes).toBe(((sh * 2) / 2 + 3 * 2048 * 2 * 2) * 26);
  });
});
