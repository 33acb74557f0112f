/** Operator FLOPs that no other test pinned: shared experts, SSM scans, pipeline stage steps, the explain trace. */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import { IDEAL } from '../../src/core/perf/efficiency.js';
import { perf, stepContext } from '../../src/core/perf/latency.js';
import { stepTime } from '../../src/core/perf/step.js';
import type { ModelSpec } from '../../src/core/arch/spec.js';
import { referenceSpec } from '../helpers.js';
import { stepShape } from './fixtures-perf.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const decodeStep = (spec: ModelSpec, tokens: number, tp = 1) =>
  stepTime(
    stepContext(spec, h100, 'bf16', { tp, pp: 1, ep: 1 }),
    stepShape({ segments: [{ batch: 1, tokens, context: 0 }], tp }),
    IDEAL,
  );

describe('expert FLOPs with shared experts', () => {
  it('DeepSeek-V2-Lite, one token: 26 MoE layers x 2 x (6 routed + 2 shared experts of 3 · 2048 · 1408)', () => {
    const expert = 3 * 2048 * 1408;
    expect(decodeStep(referenceSpec('deepseek-ai__DeepSeek-V2-Lite.json'), 1).flops_by_category.experts).toBe(
      26 * 2 * 8 * expert,
    );
  });
});

describe('SSM FLOPs', () => {
  const mamba = referenceSpec('state-spaces__mamba-130m-hf.json');
  it('mamba-130m: linear in the tokens, split by TP', () => {
    const one = decodeStep(mamba, 1).flops_by_category.ssm!;
    expect(one).toBeGreaterThan(0);
    expect(decodeStep(mamba, 8).flops_by_category.ssm).toBeCloseTo(8 * one, 3);
    expect(decodeStep(mamba, 8, 2).flops_by_category.ssm).toBeCloseTo(4 * one, 3);
  });
  it('the scan adds 10 · d_inner · d_state per token per layer over the 2 · matrix weights', () => {
    // 24 layers; scan 10 · 1536 · 16 = 245,760 FLOPs per token per layer; the rest is 2 x the layer's matrices.
    const one = decodeStep(mamba, 1).flops_by_category.ssm!;
    const matrices = (one - 24 * 245_760) / 2 / 24;
    // The mixer's 2-D tensors: in_proj 768 x 3072, x_proj 1536 x 80, dt_proj 48 x 1536, out_proj 1536 x 768,
    // conv1d 1536 x 4 and A_log 1536 x 16 (biases and D are vectors).
    expect(matrices).toBe(768 * 3072 + 1536 * 80 + 48 * 1536 + 1536 * 768 + 1536 * 4 + 1536 * 16);
  });
});

describe('pipeline stage steps and the trace', () => {
  const llama2 = referenceSpec('meta-llama__Llama-2-7b-hf.json');
  it('pp=2, batch 8 x 2048: a device runs all 8 prompts through its 16 layers (2 micro-batches)', () => {
    const r = perf(llama2, h100, {
      precision: 'bf16',
      batch: 8,
      inputLen: 2048,
      outputLen: 2,
      plan: { tp: 1, pp: 2, ep: 1 },
    });
    expect(r.flops.prefill.mlp).toBe(2 * 8 * 2048 * (3 * 4096 * 11008) * 16);
  });
  it('explain names the decode context, 16 + 32 / 2, and carries the figures it returns', () => {
    const r = perf(llama2, h100, {
      precision: 'bf16',
      batch: 2,
      inputLen: 16,
      outputLen: 32,
      plan: { tp: 1, pp: 1, ep: 1 },
      explain: true,
    });
    const get = (f: string) => r.trace.find((t) => t.figure === f)!;
    expect(get('decode_bytes').inputs['context']).toBe(32);
    expect(get('tpot_s (estimate)').value).toBe(r.tpot_s);
    expect(get('ttft_s (ideal)').value).toBe(r.ideal.ttft_s);
    expect(get('tokens_per_s').value).toBe(r.tokens_per_s);
    expect(get('prefill_flops').inputs).toEqual({ batch: 2, input_len: 16, tp: 1 });
    expect(
      perf(llama2, h100, {
        precision: 'bf16',
        batch: 2,
        inputLen: 16,
        outputLen: 32,
        plan: { tp: 1, pp: 1, ep: 1 },
      }).trace,
    ).toEqual([]);
  });
});
