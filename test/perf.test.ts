import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findDevice, findModel, hardwareSpec, modelSpec } from '../src/catalog/index.js';
import { allReduceS, allToAllS, p2pS } from '../src/core/perf/comm.js';
import { IDEAL } from '../src/core/perf/efficiency.js';
import { perf, stepContext } from '../src/core/perf/latency.js';
import { attendedPairs, expertsTouched } from '../src/core/perf/ops.js';
import { stepTime } from '../src/core/perf/step.js';
import { offlineThroughput } from '../src/core/perf/throughput.js';
import { pipelineBubbleFraction, pipelineSteps, PlanError } from '../src/core/parallel/plan.js';
import { recommendPlans } from '../src/core/parallel/recommend.js';
import { referenceSpec } from './helpers.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const llama7b = referenceSpec('meta-llama__Llama-2-7b-hf.json');
const plan = (tp = 1, pp = 1, ep = 1) => ({ tp, pp, ep });

describe('FLOPs by hand', () => {
  it('causal prefill counts each query against the keys before it (half of s², plus the diagonal)', () => {
    expect(attendedPairs(1024, 0, null)).toBe((1024 * 1025) / 2);
    expect(attendedPairs(3, 5, null)).toBe(6 + 7 + 8);
    // window 4: queries see 1, 2, 3, 4, 4, 4, 4, 4, 4, 4 keys
    expect(attendedPairs(10, 0, 4)).toBe(1 + 2 + 3 + 7 * 4);
    expect(attendedPairs(2, 10, 4)).toBe(8);
  });

  it('Llama-2-7B prefill of 1024 tokens: 2·P·tokens for the GEMMs plus causal attention', () => {
    const ctx = stepContext(llama7b, h100, 'bf16', plan());
    const st = stepTime(
      ctx,
      {
        segments: [{ batch: 1, tokens: 1024, context: 0 }],
        tp: 1,
        cp: 1,
        ep: 1,
        layerShare: 1,
        kvBytes: 2,
        actBytes: 2,
        logitsRows: 1,
      },
      IDEAL,
    );
    // Per layer: 4 · 4096² (attention) + 3 · 4096 · 11008 (gated MLP) weights.
    const attnP = 4 * 4096 * 4096;
    const mlpP = 3 * 4096 * 11008;
    expect(st.flops_by_category.attention_proj).toBe(2 * 1024 * attnP * 32);
    expect(st.flops_by_category.mlp).toBe(2 * 1024 * mlpP * 32);
    // QKᵀ and AV: 2 FLOPs per pair per head per dimension, (128 + 128) dimensions, 32 heads, 32 layers.
    expect(st.flops_by_category.attention_core).toBe(2 * ((1024 * 1025) / 2) * 32 * 256 * 32);
    // The head runs on the last token only: 2 · 32000 · 4096.
    expect(st.flops_by_category.lm_head).toBe(2 * 32000 * 4096);
  });

  it('TP divides the per-device GEMM FLOPs', () => {
    const one = perf(llama7b, h100, {
      precision: 'bf16',
      batch: 1,
      inputLen: 512,
      outputLen: 1,
      plan: plan(),
    });
    const four = perf(llama7b, h100, {
      precision: 'bf16',
      batch: 1,
      inputLen: 512,
      outputLen: 1,
      plan: plan(4),
    });
    expect(four.flops.prefill.mlp! * 4).toBe(one.flops.prefill.mlp);
  });
});

describe('decode bytes', () => {
  it('batch-1 decode of Llama-2-7B reads every weight once: ideal TPOT ≈ bytes / bandwidth', () => {
    // All bf16 weights except the embedding table (a lookup reads one row): 2 · (6,738,415,616 − 32000·4096) B.
    const weights = 2 * (6738415616 - 32000 * 4096);
    const r = perf(llama7b, h100, { precision: 'bf16', batch: 1, inputLen: 16, outputLen: 2, plan: plan() });
    const bound = weights / h100.memoryBandwidthBytesPerS;
    expect(r.ideal.tpot_s).toBeGreaterThanOrEqual(bound);
    expect(r.ideal.tpot_s / bound).toBeLessThan(1.01);
    expect(r.ideal.bound.decode).toBe('memory');
  });

  it('MoE decode reads the experts T tokens touch: E·(1 − (1 − k/E)^T)', () => {
    expect(expertsTouched(8, 2, 1)).toBeCloseTo(2, 12);
    expect(expertsTouched(128, 8, 1)).toBeCloseTo(8, 12);
    expect(expertsTouched(64, 6, 4)).toBeCloseTo(64 * (1 - (58 / 64) ** 4), 12);
    expect(expertsTouched(8, 2, 1e6)).toBeCloseTo(8, 9);
    const mixtral = modelSpec(findModel('mistralai/Mixtral-8x7B-v0.1'));
    const one = perf(mixtral, h100, { precision: 'fp8', batch: 1, inputLen: 8, outputLen: 2, plan: plan() });
    const many = perf(mixtral, h100, {
      precision: 'fp8',
      batch: 64,
      inputLen: 8,
      outputLen: 2,
      plan: plan(),
    });
    // Batch 1 reads 2 of 8 experts; batch 64 reads nearly all: the step costs more, per token far less.
    expect(many.ideal.tpot_s).toBeGreaterThan(one.ideal.tpot_s * 2.5);
    expect(many.ideal.tpot_s / 64).toBeLessThan(one.ideal.tpot_s / 10);
  });
});

describe('collectives (α–β)', () => {
  const link = { name: 'test', bandwidthBytesPerS: 1e11, latencyS: 3e-6 };
  it('small all-reduce takes the tree (2·log2 p latency steps + 2M/B)', () => {
    // ring: 14·3e-6 + 1.75·1e-5 = 5.95e-5; tree: 6·3e-6 + 2e-5 = 3.8e-5
    expect(allReduceS(1e6, 8, link)).toBeCloseTo(3.8e-5, 12);
  });
  it('large all-reduce takes the ring (2(p−1) latency steps + 2(p−1)/p · M/B)', () => {
    expect(allReduceS(1e9, 8, link)).toBeCloseTo(14 * 3e-6 + 1.75 * 1e-2, 12);
  });
  it('all-to-all and point-to-point', () => {
    expect(allToAllS(8e6, 4, link)).toBeCloseTo(3 * 3e-6 + 0.75 * 8e-5, 12);
    expect(p2pS(1e6, link)).toBeCloseTo(3e-6 + 1e-5, 12);
    expect(allReduceS(1e6, 1, link)).toBe(0);
  });
  it('TP decode pays two all-reduces per layer', () => {
    const r = perf(llama7b, h100, { precision: 'bf16', batch: 1, inputLen: 16, outputLen: 2, plan: plan(2) });
    // message 1 token · 4096 · 2 B over NVLink 450 GB/s, 32 layers × 2 all-reduces.
    const link2 = { name: 'nvlink', bandwidthBytesPerS: 4.5e11, latencyS: 3e-6 };
    // Two devices: ring, tree and one-shot all move at least M bytes once; without latency, M / B each time.
    expect(r.ideal.communication_s.decode).toBeCloseTo((64 * 8192) / link2.bandwidthBytesPerS, 15);
    expect(r.communication_s.decode).toBeGreaterThan(r.ideal.communication_s.decode);
  });
});

describe('parallel plans', () => {
  it('refuses plans that break the model, naming the rule', () => {
    expect(() =>
      perf(llama7b, h100, { precision: 'bf16', batch: 1, inputLen: 8, outputLen: 8, plan: plan(3) }),
    ).toThrow(PlanError);
    const mixtral = modelSpec(findModel('mistralai/Mixtral-8x7B-v0.1'));
    expect(() =>
      perf(mixtral, h100, { precision: 'bf16', batch: 1, inputLen: 8, outputLen: 8, plan: plan(1, 1, 3) }),
    ).toThrow(/ep=3 does not divide the 8 experts/);
    expect(() =>
      perf(llama7b, h100, { precision: 'bf16', batch: 1, inputLen: 8, outputLen: 8, plan: plan(1, 64) }),
    ).toThrow(/pp=64 exceeds the 32 layers/);
  });
  it('PP bubble: m micro-batches through p stages take m + p − 1 steps', () => {
    expect(pipelineSteps(4, 1)).toBe(4);
    expect(pipelineSteps(4, 8)).toBe(11);
    expect(pipelineBubbleFraction(4, 8)).toBeCloseTo(3 / 11, 12);
    expect(pipelineBubbleFraction(1, 8)).toBe(0);
  });
  it('recommends the fewest devices that fit: Llama-3.1-70B in bf16 needs 2 H100s, not 1', () => {
    const spec = modelSpec(findModel('meta-llama/Llama-3.1-70B-Instruct'));
    const plans = recommendPlans(spec, h100, {
      precision: 'bf16',
      kvPrecision: 'bf16',
      seq: 4096,
      maxDevices: 8,
    });
    // 70.55e9 params · 2 B = 141 GB > one 80 GiB device; two hold 70.6 GB each.
    expect(plans[0]!.devices).toBe(2);
    expect(plans[0]!.fits).toBe(true);
    expect(plans.find((p) => p.devices === 1)!.fits).toBe(false);
  });
});

describe('ideal is a bound: never slower than the estimate', () => {
  const models = [
    'meta-llama/Llama-3.1-8B',
    'mistralai/Mixtral-8x7B-v0.1',
    'google/gemma-2-9b-it',
    'deepseek-ai/DeepSeek-V2-Lite',
    'state-spaces/mamba-130m-hf',
  ].map((m) => modelSpec(findModel(m)));
  const devices = ['h100-sxm-80gb', 'a100-sxm-80gb', 'b200', 'mi300x', 'l4-24gb'].map((d) =>
    hardwareSpec(findDevice(d)),
  );
  it('for latency and throughput', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: models.length - 1 }),
        fc.integer({ min: 0, max: devices.length - 1 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 8192 }),
        fc.integer({ min: 1, max: 2048 }),
        fc.constantFrom(1, 2),
        (mi, di, batch, input, output, tp) => {
          const spec = models[mi]!;
          const hw = devices[di]!;
          const r = perf(spec, hw, {
            precision: 'bf16',
            batch,
            inputLen: input,
            outputLen: output,
            plan: plan(tp),
          });
          expect(r.ideal.ttft_s).toBeLessThanOrEqual(r.ttft_s);
          expect(r.ideal.tpot_s).toBeLessThanOrEqual(r.tpot_s);
          // Engines refuse a max_model_len beyond the model's positions (vLLM, SGLang, TRT-LLM alike).
          if (input + output > (spec.maxPositionEmbeddings ?? Infinity)) return;
          const t = offlineThroughput(spec, hw, {
            precision: 'bf16',
            plan: plan(tp),
            inputLen: input,
            outputLen: output,
          });
          expect(t.ideal.output_tokens_per_s).toBeGreaterThanOrEqual(t.output_tokens_per_s);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('CP, SP, DP and training steps', () => {
  const spec = referenceSpec('meta-llama__Llama-3.1-8B.json');
  it('CP splits the prompt and the KV cache, and exchanges K/V in prefill only', () => {
    const one = perf(spec, h100, { precision: 'bf16', batch: 1, inputLen: 8192, outputLen: 2, plan: plan() });
    const two = perf(spec, h100, {
      precision: 'bf16',
      batch: 1,
      inputLen: 8192,
      outputLen: 2,
      plan: { tp: 1, pp: 1, ep: 1, cp: 2 },
    });
    expect(two.flops.prefill.mlp! * 2).toBe(one.flops.prefill.mlp);
    expect(two.flops.prefill.attention_core! * 2).toBe(one.flops.prefill.attention_core);
    // Each of 32 layers sends its 4096-token chunk of K/V once: 4096 · 2·8·128·2 B = 16 MiB at 450 GB/s.
    expect(two.ideal.communication_s.prefill).toBeCloseTo((32 * 4096 * 4096) / 4.5e11, 12);
    expect(two.ideal.communication_s.decode).toBe(0);
  });
  it('SP moves the same bytes as the all-reduce, as reduce-scatter + all-gather', () => {
    const link = { name: 'nvlink', bandwidthBytesPerS: 4.5e11, latencyS: 3e-6 };
    const r = perf(spec, h100, {
      precision: 'bf16',
      batch: 1,
      inputLen: 4096,
      outputLen: 2,
      plan: { tp: 2, pp: 1, ep: 1, sp: true },
    });
    // 4096 tokens · 4096 hidden · 2 B per message, 2 per layer, each RS + AG of (p−1)/p of it: 2 · 0.5 · M / B.
    const M = 4096 * 4096 * 2;
    expect(r.ideal.communication_s.prefill).toBeCloseTo(
      (32 * 2 * 2 * (0.5 * M)) / link.bandwidthBytesPerS,
      12,
    );
  });
  it('DP replicas add throughput', () => {
    const a = offlineThroughput(spec, h100, {
      precision: 'bf16',
      plan: plan(),
      inputLen: 512,
      outputLen: 512,
    });
    const b = offlineThroughput(spec, h100, {
      precision: 'bf16',
      plan: { tp: 1, pp: 1, ep: 1, dp: 2 },
      inputLen: 512,
      outputLen: 512,
    });
    expect(b.output_tokens_per_s).toBeCloseTo(2 * a.output_tokens_per_s, 6);
    expect(b.devices).toBe(2);
  });
  it('training: DP gradient all-reduce of 2 B per parameter, ring over 8 GPUs', async () => {
    const { trainingStep } = await import('../src/core/perf/training.js');
    const r = trainingStep(llama7b, h100, {
      precision: 'bf16',
      microBatch: 1,
      seq: 4096,
      microbatches: 1,
      plan: { tp: 1, pp: 1, ep: 1, dp: 8 },
      recompute: 'none',
      zero: 0,
    });
    // ring: 2 · 7/8 · (2 · 6,738,415,616 B) / 450 GB/s (the tree's 2·M/B is slower for this size)
    expect(r.ideal.dp_communication_s).toBeCloseTo((2 * (7 / 8) * 2 * 6738415616) / 4.5e11, 9);
    expect(r.ideal.mfu).toBeLessThanOrEqual(1);
    expect(r.mfu).toBeLessThan(r.ideal.mfu);
    const zero3 = trainingStep(llama7b, h100, {
      precision: 'bf16',
      microBatch: 1,
      seq: 4096,
      microbatches: 1,
      plan: { tp: 1, pp: 1, ep: 1, dp: 8 },
      recompute: 'none',
      zero: 3,
    });
    // ZeRO-3: reduce-scatter + two all-gathers = 1.5x the all-reduce volume.
    expect(zero3.ideal.dp_communication_s / r.ideal.dp_communication_s).toBeCloseTo(1.5, 9);
    const pp4 = trainingStep(llama7b, h100, {
      precision: 'bf16',
      microBatch: 1,
      seq: 4096,
      microbatches: 8,
      plan: { tp: 1, pp: 4, ep: 1 },
      recompute: 'full',
      zero: 0,
    });
    expect(pp4.bubble_fraction).toBeCloseTo(3 / 11, 12);
  });
  it('sp needs tp >= 2', () => {
    expect(() =>
      perf(spec, h100, {
        precision: 'bf16',
        batch: 1,
        inputLen: 8,
        outputLen: 2,
        plan: { tp: 1, pp: 1, ep: 1, sp: true },
      }),
    ).toThrow(/needs tp >= 2/);
  });
});
