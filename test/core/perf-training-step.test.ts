/**
 * The upper-bound training step (training.ts) by hand on a "compute-only" H100 (unbounded bandwidth: each operator
 * takes FLOPs / 989.4 TFLOP/s) at the ideal efficiency. Llama-2-7B: 32 layers, hidden 4096, 32 heads of 128, MLP
 * 11008, vocab 32000; 6,738,415,616 parameters. Its forward FLOPs for s tokens of one sequence, per layer:
 * projections 2s · 4 · 4096², causal attention 2 · s(s+1)/2 · 32 · 256, MLP 2s · 3 · 4096 · 11008, norms
 * 10 · s · 4096; then the head over every token, 2s · 32000 · 4096.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import { IDEAL } from '../../src/core/perf/efficiency.js';
import type { Links } from '../../src/core/perf/step.js';
import { trainingStep, type TrainingStepOptions } from '../../src/core/perf/training.js';
import { referenceSpec } from '../helpers.js';
import { computeBound, rel } from './fixtures-perf.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const computeOnly = computeBound(h100);
const BF16 = 989.4e12;
const P = 6_738_415_616;
const link = (bw: number, latency: number) => ({ name: 'l', bandwidthBytesPerS: bw, latencyS: latency });
const links = (latency = 0, inter: number | null = 1e10): Links => ({
  intra: link(1e11, latency),
  inter: inter === null ? null : link(inter, latency),
  devicesPerNode: 8,
});

/** Forward FLOPs of one device for one sequence of s tokens: layers/pp of them, TP-split, and the head. */
function forward(s: number, tp = 1, pp = 1) {
  const proj = 2 * s * 4 * 4096 * 4096;
  const core = (2 * ((s * (s + 1)) / 2) * 32 * 256) / tp;
  const layer = (proj + 2 * s * 3 * 4096 * 11008) / tp + core + 10 * s * 4096;
  return { total: (32 / pp) * layer + (2 * s * 32000 * 4096) / tp, core: (32 / pp) * core };
}

const base: TrainingStepOptions = {
  precision: 'bf16',
  microBatch: 1,
  seq: 512,
  microbatches: 1,
  plan: { tp: 1, pp: 1, ep: 1 },
  recompute: 'none',
  zero: 0,
  links: links(),
  efficiency: IDEAL,
};
const step = (o: Partial<TrainingStepOptions>) =>
  trainingStep(referenceSpec('meta-llama__Llama-2-7b-hf.json'), computeOnly, { ...base, ...o });

describe('compute: forward + backward (3 forwards), recomputation, pipeline steps', () => {
  it('one device, 4 micro-batches: 4 · 3 forwards; MFU 6P · tokens over the time', () => {
    const r = step({ microbatches: 4 });
    const t = (4 * 3 * forward(512).total) / BF16;
    expect(rel(r.compute_s, t)).toBeLessThan(1e-12);
    expect(rel(r.step_s, t)).toBeLessThan(1e-12);
    expect(r.tokens_per_step).toBe(4 * 512);
    expect(r.model_flops_per_step).toBe(6 * P * 4 * 512);
    expect(rel(r.tokens_per_s, 2048 / t)).toBeLessThan(1e-12);
    expect(rel(r.mfu, (6 * P * 2048) / t / BF16)).toBeLessThan(1e-12);
    expect([r.tp_communication_s, r.dp_communication_s, r.bubble_fraction]).toEqual([0, 0, 0]);
    expect(r.ideal.step_s).toBe(r.step_s);
  });
  it('full recompute reruns the forward (4); selective its attention core', () => {
    const f = forward(512);
    expect(rel(step({ recompute: 'full' }).compute_s, (4 * f.total) / BF16)).toBeLessThan(1e-12);
    expect(
      rel(step({ recompute: 'selective' }).compute_s, ((3 + f.core / f.total) * f.total) / BF16),
    ).toBeLessThan(1e-12);
  });
  it('pp=2, 4 micro-batches: 5 stage steps of 16 layers (and the head); bubble 1/5', () => {
    const r = step({ microbatches: 4, plan: { tp: 1, pp: 2, ep: 1 }, links: links(0, null) });
    expect(rel(r.compute_s, (5 * 3 * forward(512, 1, 2).total) / BF16)).toBeLessThan(1e-12);
    expect(r.bubble_fraction).toBeCloseTo(1 / 5, 15);
    expect(rel(r.mfu, (6 * P * 2048) / r.step_s / (2 * BF16))).toBeLessThan(1e-12);
  });
  it('tp=2: half the GEMMs and heads per device; the forward all-reduces (2 per layer of 512 · 4096 · 2 B) twice', () => {
    const r = step({ plan: { tp: 2, pp: 1, ep: 1 } });
    expect(rel(r.compute_s, (3 * forward(512, 2).total) / BF16)).toBeLessThan(1e-12);
    const ar = (32 * 2 * (512 * 4096 * 2)) / 1e11;
    expect(rel(r.tp_communication_s, 2 * ar)).toBeLessThan(1e-12);
    expect(rel(r.step_s, r.compute_s + 2 * ar)).toBeLessThan(1e-12);
  });
  it('micro-batch 2 of 256 tokens: the same tokens as one of 512 with a quarter of the attention pairs', () => {
    const r = step({ microBatch: 2, seq: 256 });
    expect(rel(r.compute_s, (3 * 2 * forward(256).total) / BF16)).toBeLessThan(1e-12);
  });
});

describe('data-parallel collectives of the gradients (2 B per parameter), latency 1 s per step', () => {
  const M = 2 * P;
  const slow = { ...IDEAL, alpha: 1 };
  it('dp=4 in a node: ZeRO-0 all-reduce (one-shot: 2α + 3M/B), ZeRO-1/2 RS + AG, ZeRO-3 RS + 2 AG', () => {
    const dp = (zero: 0 | 1 | 2 | 3) =>
      step({ plan: { tp: 1, pp: 1, ep: 1, dp: 4 }, zero, efficiency: slow, links: links(1) })
        .dp_communication_s;
    // ring 6α + 1.5M/B = 6.20 s, tree 4α + 2M/B = 4.27 s, one-shot 2α + 3M/B = 2.40 s
    expect(rel(dp(0), 2 + (3 * M) / 1e11)).toBeLessThan(1e-12);
    const g = 3 + (0.75 * M) / 1e11;
    expect(rel(dp(1), 2 * g)).toBeLessThan(1e-12);
    expect(rel(dp(2), 2 * g)).toBeLessThan(1e-12);
    expect(rel(dp(3), 3 * g)).toBeLessThan(1e-12);
  });
  it('dp=16 leaves the node of 8 (10 GB/s); without a link across, the node’s link', () => {
    const plan = { tp: 1, pp: 1, ep: 1, dp: 16 };
    const r = step({ plan, zero: 1, efficiency: slow, links: links(1) });
    expect(rel(r.dp_communication_s, 2 * (15 + ((15 / 16) * M) / 1e10))).toBeLessThan(1e-12);
    expect(r.tokens_per_step).toBe(16 * 512);
    expect(rel(r.step_s, r.compute_s + r.dp_communication_s)).toBeLessThan(1e-12);
    const flat = step({ plan, zero: 1, efficiency: slow, links: links(1, null) });
    expect(rel(flat.dp_communication_s, 2 * (15 + ((15 / 16) * M) / 1e11))).toBeLessThan(1e-12);
    // the ideal bound drops the latency
    expect(rel(r.ideal.dp_communication_s, 2 * (((15 / 16) * M) / 1e10))).toBeLessThan(1e-12);
  });
  it('tp=2 · pp=2 · dp=2: each rank holds P / 4 of the gradients; 8 devices stay in the node', () => {
    const r = step({ plan: { tp: 2, pp: 2, ep: 1, dp: 2 }, zero: 3 });
    expect(rel(r.dp_communication_s, 3 * ((0.5 * (M / 4)) / 1e11))).toBeLessThan(1e-12);
  });
});

describe('validation', () => {
  it('names the bad size', () => {
    expect(() => step({ microBatch: 0 })).toThrow(/^micro_batch must/);
    expect(() => step({ seq: 0 })).toThrow(/^seq must/);
    expect(() => step({ microbatches: 0 })).toThrow(/^microbatches must/);
  });
});
