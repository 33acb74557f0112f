/**
 * TTFT, TPOT and the figures built on them, worked by hand on devices made one-sided: a "bandwidth-only" H100
 * (unbounded FLOP/s: every operator takes its bytes / 3.35 TB/s) and a "compute-only" one (unbounded bandwidth:
 * FLOPs / 989.4 TFLOP/s), with links of unbounded bandwidth, at the ideal efficiency (no fixed costs).
 * Llama-2-7B: 32 layers, hidden 4096, 32 heads of 128, MLP 11008, vocab 32000, untied head, fp16 checkpoint.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import { perf, stepContext } from '../../src/core/perf/latency.js';
import { referenceSpec } from '../helpers.js';
import { bandwidthBound, computeBound, freeLinks, LLAMA2, perfRun, rel } from './fixtures-perf.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const BW = 3.35e12;
const BF16 = 989.4e12;
const bandwidthOnly = bandwidthBound(h100);
const computeOnly = computeBound(h100);
const free = freeLinks();
const run = perfRun;

// Weights of one layer's attention (q, k, v, o) and MLP (gate, up, down), and of the head, in elements.
const W_ATTN = 4 * 4096 * 4096;
const W_MLP = 3 * 4096 * 11008;
const W_HEAD = 32000 * 4096;

/**
 * Bytes of one step of one sequence: `tokens` new tokens over `context` cached ones, weights of w B, activations of
 * a B, KV of kv B. Per layer: weights + q/k/v out (12288 per token); K/V read (2 · 4096 per token) + q and out
 * (32 · 256); MLP weights + its 3 · 11008 per token; 4 · 4096 per token of norms. Then the embedding (2 · 4096 per
 * token) and the head with fp32 logits of the last token.
 */
function stepBytes(tokens: number, context: number, w: number, a: number, kv: number): number {
  const layer =
    W_ATTN * w +
    tokens * 12288 * a +
    (context + tokens) * 2 * 4096 * kv +
    tokens * 32 * 256 * a +
    W_MLP * w +
    tokens * 3 * 11008 * a +
    4 * tokens * 4096 * a;
  return 32 * layer + 2 * tokens * 4096 * a + W_HEAD * w + 32000 * 4;
}

describe('bytes over bandwidth (bandwidth-only device)', () => {
  it('bf16: the prompt of 100 tokens, then decode steps at the mean context 100 + floor(21 / 2) = 110', () => {
    const r = run(bandwidthOnly);
    expect(rel(r.ttft_s, stepBytes(100, 0, 2, 2, 2) / BW)).toBeLessThan(1e-12);
    expect(rel(r.tpot_s, stepBytes(1, 110, 2, 2, 2) / BW)).toBeLessThan(1e-12);
    expect(rel(r.e2e_s, r.ttft_s + 20 * r.tpot_s)).toBeLessThan(1e-12);
    expect(rel(r.tokens_per_s, 1 / r.tpot_s)).toBeLessThan(1e-12);
    expect(r.bound).toEqual({ prefill: 'memory', decode: 'memory' });
    expect(r.bandwidth_utilization.decode).toBeCloseTo(1, 12);
    expect(r.bandwidth_utilization.prefill).toBeCloseTo(1, 12);
    expect(r.mfu).toEqual({ prefill: 0, decode: 0 });
    expect(r.ideal.tpot_s).toBe(r.tpot_s);
  });
  it('an even output length: context 100 + 22 / 2 = 111', () => {
    expect(rel(run(bandwidthOnly, { outputLen: 22 }).tpot_s, stepBytes(1, 111, 2, 2, 2) / BW)).toBeLessThan(
      1e-12,
    );
  });
  it('fp32 weights and activations (4 B), the fp16 KV cache of the checkpoint (2 B)', () => {
    const r = run(bandwidthOnly, { precision: 'fp32' });
    expect(rel(r.tpot_s, stepBytes(1, 110, 4, 4, 2) / BW)).toBeLessThan(1e-12);
  });
  it('an FP8 KV cache reads 1 B per element; an unknown KV precision is named', () => {
    const r = run(bandwidthOnly, { kvPrecision: 'fp8' });
    expect(rel(r.tpot_s, stepBytes(1, 110, 2, 2, 1) / BW)).toBeLessThan(1e-12);
    expect(() => run(bandwidthOnly, { kvPrecision: 'fp7' })).toThrow("unknown kv precision 'fp7'");
  });
  it('one output token: the request ends with the prompt', () => {
    const r = run(bandwidthOnly, { outputLen: 1 });
    expect(r.e2e_s).toBe(r.ttft_s);
  });
  it('batch 4: decode reads the weights once for 4 sequences; tokens/s is 4 / TPOT', () => {
    const r = run(bandwidthOnly, { batch: 4 });
    const oneSeq = stepBytes(1, 110, 2, 2, 2);
    const weights = (32 * (W_ATTN + W_MLP) + W_HEAD) * 2;
    expect(rel(r.tpot_s, (4 * (oneSeq - weights) + weights) / BW)).toBeLessThan(1e-12);
    expect(rel(r.tokens_per_s, 4 / r.tpot_s)).toBeLessThan(1e-12);
  });
  it('pp=2, batch 2: 2 micro-batches of one prompt in 3 stage steps; bytes of 2 of them, over 2 devices', () => {
    const r = run(bandwidthOnly, { batch: 2, plan: { tp: 1, pp: 2, ep: 1 } });
    // work 2 of 3 steps on each of 2 devices
    expect(r.bandwidth_utilization.prefill).toBeCloseTo(2 / 6, 12);
    // decode: the whole step on one device of the two
    expect(r.bandwidth_utilization.decode).toBeCloseTo(1 / 2, 12);
    expect(r.devices).toBe(2);
  });
});

describe('FLOPs over peak (compute-only device)', () => {
  it('pp=2, batch 2: the stage step (half the layers, one prompt) runs 3 times; MFU 2/3 of one device', () => {
    const r = run(computeOnly, { batch: 2, plan: { tp: 1, pp: 2, ep: 1 } });
    const total = Object.values(r.flops.prefill).reduce((a, b) => a + b!, 0);
    // flops.prefill holds the device's 2 micro-batches: the stage step is half of it.
    expect(rel(r.ttft_s, (3 * (total / 2)) / BF16)).toBeLessThan(1e-12);
    expect(r.mfu.prefill).toBeCloseTo(2 / 6, 12);
    expect(r.mfu.decode).toBeCloseTo(1 / 2, 12);
    expect(r.ideal.mfu.prefill).toBeCloseTo(2 / 6, 12);
    expect(r.bandwidth_utilization).toEqual({ prefill: 0, decode: 0 });
    expect(r.bound).toEqual({ prefill: 'compute', decode: 'compute' });
    expect(r.communication_s).toEqual({ prefill: 0, decode: 0 });
  });
  it('tp=2 and cp=2: each device runs its shard, so the replica is fully busy (MFU 1)', () => {
    for (const plan of [
      { tp: 2, pp: 1, ep: 1 },
      { tp: 1, pp: 1, ep: 1, cp: 2 },
    ]) {
      const r = run(computeOnly, { plan });
      expect(r.mfu.prefill).toBeCloseTo(1, 12);
      expect(r.mfu.decode).toBeCloseTo(1, 12);
    }
  });
  it('decode FLOPs at the mean context: 110 cached keys + itself, 2 · 111 · 32 heads · 256 per layer', () => {
    const r = run(computeOnly);
    expect(r.flops.decode_step.attention_core).toBe(2 * 111 * 32 * 256 * 32);
    // the prompt's causal pairs: 100 · 101 / 2
    expect(r.flops.prefill.attention_core).toBe(2 * 5050 * 32 * 256 * 32);
  });
  it('pp=2, batch 3: 2 micro-batches of 1.5 prompts; the device computes all 3 prompts’ logits', () => {
    const r = run(computeOnly, { batch: 3, plan: { tp: 1, pp: 2, ep: 1 } });
    expect(r.flops.prefill.lm_head).toBe(2 * 3 * 32000 * 4096);
    expect(r.flops.prefill.mlp).toBe(2 * 3 * 100 * W_MLP * 16);
  });
});

describe('the rest of the result', () => {
  it('the efficiency class (given, or the hardware generation) and the devices with dp', () => {
    expect(run(computeOnly).efficiency.class).toBe('given');
    const est = perf(referenceSpec(LLAMA2), h100, {
      precision: 'bf16',
      batch: 1,
      inputLen: 16,
      outputLen: 2,
      plan: { tp: 2, pp: 1, ep: 1, dp: 3 },
    });
    expect(est.efficiency.class).toBe('nvidia-hopper');
    expect(est.devices).toBe(6);
    expect(est.ideal.tpot_s).toBeLessThan(est.tpot_s);
  });
  it('memory per device is sized for input + output tokens: 100 + 20 holds what 110 + 10 does, beyond 100 + 10', () => {
    const a = run(computeOnly, { outputLen: 20 });
    expect(run(computeOnly, { inputLen: 110, outputLen: 10 }).memory_per_device_bytes).toBe(
      a.memory_per_device_bytes,
    );
    // at least the KV of 10 tokens more: 32 layers · 2 · 4096 · 2 B each
    const b = run(computeOnly, { outputLen: 10 });
    expect(a.memory_per_device_bytes - b.memory_per_device_bytes).toBeGreaterThanOrEqual(
      10 * 32 * 2 * 4096 * 2,
    );
  });
  it('bad sizes are named', () => {
    expect(() => run(computeOnly, { batch: 0 })).toThrow(/^batch must be a positive integer/);
    expect(() => run(computeOnly, { inputLen: 1.5 })).toThrow(/^input_len must be a positive integer/);
    expect(() => run(computeOnly, { outputLen: 0 })).toThrow(/^output_len must be a positive integer/);
  });
  it('the trace names each figure with its unit and the inputs it used', () => {
    const r = run(computeOnly, { explain: true, batch: 2, outputLen: 9 });
    expect(r.trace.map((t) => [t.figure, t.unit])).toEqual([
      ['prefill_flops', 'FLOP'],
      ['ttft_s (estimate)', 's'],
      ['ttft_s (ideal)', 's'],
      ['decode_bytes', 'bytes'],
      ['tpot_s (estimate)', 's'],
      ['tpot_s (ideal)', 's'],
      ['tokens_per_s', 'tokens/s'],
    ]);
    expect(r.trace[2]!.inputs).toEqual({ peak_bf16: BF16, bandwidth: Infinity });
    expect(r.trace[3]!.inputs).toEqual({ context: 104 });
    expect(r.trace[6]!.inputs).toEqual({ batch: 2 });
    expect(r.trace[1]!.inputs['class']).toBe('nvidia-hopper');
    expect(r.trace[5]!.value).toBe(r.ideal.tpot_s);
    expect(r.trace[0]!.value).toBe(Object.values(r.flops.prefill).reduce((a, b) => a + b!, 0));
    const noBf16 = run({ ...computeOnly, denseFlops: { fp16: 1e15 } }, { explain: true });
    expect(noBf16.trace[2]!.inputs['peak_bf16']).toBeNull();
  });
});

describe('stepContext picks the weight format', () => {
  const plan = { tp: 1, pp: 1, ep: 1 };
  it("'auto' is the checkpoint's quantisation (gpt-oss-20b: MXFP4), else its dtype (Llama-2: fp16)", () => {
    const g = stepContext(referenceSpec('openai__gpt-oss-20b.json'), h100, 'auto', plan);
    expect([g.precision, g.layout.format]).toEqual(['mxfp4', 'auto']);
    expect(stepContext(referenceSpec(LLAMA2), h100, 'auto', plan).precision).toBe('fp16');
  });
  it('names are normalised; the device’s own links unless given', () => {
    const c = stepContext(referenceSpec(LLAMA2), h100, 'BF16', plan);
    expect([c.precision, c.layout.format]).toEqual(['bf16', 'bf16']);
    expect(c.links.intra.bandwidthBytesPerS).toBe(450e9);
    expect(stepContext(referenceSpec(LLAMA2), h100, 'bf16', plan, free).links).toBe(free);
  });
});
