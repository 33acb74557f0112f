/**
 * Last edges, by hand: GPT-2's learned positions are no matmul; Mixtral's all-to-all at pp=2 covers 16 layers;
 * the upper-bound training step's plan check, BF16 peak and TP sends over several micro-batches; the confidence
 * message listing engines.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import { confidenceFor } from '../../src/core/perf/confidence.js';
import { IDEAL } from '../../src/core/perf/efficiency.js';
import { matmulParameters } from '../../src/core/perf/train-flops.js';
import { trainTime } from '../../src/core/perf/train-time.js';
import { trainingStep, type TrainingStepOptions } from '../../src/core/perf/training.js';
import { referenceSpec } from '../helpers.js';
import { computeBound } from './fixtures-perf.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));

describe('matmul parameters with learned positions (GPT-2: 12 layers, 768 hidden, tied head)', () => {
  it('c_attn, attn c_proj, c_fc, mlp c_proj with biases, then the head; no wte or wpe', () => {
    const layer = 768 * 2304 + 2304 + 768 * 768 + 768 + 768 * 3072 + 3072 + 3072 * 768 + 768;
    expect(matmulParameters(referenceSpec('openai-community__gpt2.json'))).toBe(12 * layer + 50257 * 768);
  });
});

describe('expert all-to-all under PP', () => {
  it('Mixtral tp=2 · pp=2 · ep=2: 16 MoE layers per stage, 4 all-to-alls of 512 tokens · 2 · 4096 · 2 B', () => {
    const mixtral = referenceSpec('mistralai__Mixtral-8x7B-v0.1.json');
    const link = { name: 'l', bandwidthBytesPerS: 1e11, latencyS: 0 };
    const t = trainTime(mixtral, h100, {
      precision: 'bf16',
      microBatch: 1,
      seq: 1024,
      dp: 1,
      tp: 2,
      pp: 2,
      ep: 2,
      zero: 0,
      recompute: 'none',
      links: { intra: link, inter: null, devicesPerNode: 8 },
    });
    const a2a = 512 * 2 * 4096 * 2;
    expect(t.communication_s.ep / ((16 * 4 * 0.5 * a2a) / 1e11)).toBeCloseTo(1, 12);
  });
});

describe('upper-bound training step', () => {
  const computeOnly = computeBound(h100);
  const link = { name: 'l', bandwidthBytesPerS: 1e11, latencyS: 0 };
  const o: TrainingStepOptions = {
    precision: 'bf16',
    microBatch: 1,
    seq: 512,
    microbatches: 4,
    plan: { tp: 2, pp: 1, ep: 1 },
    recompute: 'none',
    zero: 0,
    links: { intra: link, inter: null, devicesPerNode: 8 },
    efficiency: IDEAL,
  };
  const llama2 = () => referenceSpec('meta-llama__Llama-2-7b-hf.json');
  it('tp=2, 4 micro-batches: the forward and backward all-reduces of each, 4 · 2 · 64 · 512 · 4096 · 2 B / B', () => {
    const r = trainingStep(llama2(), computeOnly, o);
    const ar = (32 * 2 * (512 * 4096 * 2)) / 1e11;
    expect(r.tp_communication_s / (4 * 2 * ar)).toBeCloseTo(1, 12);
    expect(r.step_s / (r.compute_s + 4 * 2 * ar)).toBeCloseTo(1, 12);
  });
  it('MFU over the BF16 peak where FP16 differs; the plan is checked', () => {
    const a = trainingStep(llama2(), { ...computeOnly, denseFlops: { bf16: 1e15, fp16: 1e15 } }, o);
    const b = trainingStep(llama2(), { ...computeOnly, denseFlops: { bf16: 1e15, fp16: 5e14 } }, o);
    expect(b.mfu).toBe(a.mfu);
    expect(() => trainingStep(llama2(), computeOnly, { ...o, plan: { tp: 3, pp: 1, ep: 1 } })).toThrow(/tp/);
  });
});

describe('confidence message', () => {
  it('lists the measured engines, comma-separated', () => {
    const table = {
      provenance: 't',
      classes: { default: { ...IDEAL } },
      engines: {},
      coverage: { c: { formats: ['bf16'], engines: ['sglang', 'trtllm'] } },
    };
    expect(confidenceFor('c', 'bf16', 'vllm', table).reason).toBe(
      'no measured vllm serving rows on c (measured: sglang, trtllm)',
    );
  });
});
