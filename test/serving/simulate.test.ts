import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findDevice, findModel, hardwareSpec, modelSpec } from '../../src/catalog/index.js';
import { simulateServing, type ServingInput } from '../../src/core/serving/index.js';
import { InputError } from '../../src/core/memory/inference.js';
import { efficiencyFor } from '../../src/core/perf/efficiency.js';
import { oneH100, plan1 } from './fixtures.js';

const dsv3 = modelSpec(findModel('deepseek-ai/DeepSeek-V3'));
const h200 = hardwareSpec(findDevice('h200'));

/** One H100, 16 users of 1024 + 256 tokens, 3 requests each (fixtures.ts oneH100); `over` replaces any field. */
function base(over: Partial<ServingInput> = {}): ServingInput {
  return oneH100(
    {
      kind: 'closed',
      users: 16,
      numRequests: 48,
      input: { kind: 'fixed', value: 1024 },
      output: { kind: 'fixed', value: 256 },
      seed: 7,
    },
    over,
  );
}

describe('fast path against the step-by-step reference', () => {
  for (const engine of ['vllm', 'sglang', 'trtllm'] as const) {
    it(`${engine}: same medians within 0.5%, far fewer step evaluations`, () => {
      const w = {
        kind: 'closed' as const,
        users: 12,
        numRequests: 40,
        input: { kind: 'uniform' as const, min: 200, max: 3000 },
        output: { kind: 'uniform' as const, min: 20, max: 400 },
        seed: 3,
      };
      const fast = simulateServing(base({ engine, workload: w }));
      const exact = simulateServing(base({ engine, workload: w, exact: true }));
      // A request enters the queue the front end's delay after it is sent, between steps: where that lands within
      // a hair of a step boundary (the fast path interpolates step times on a grid), it joins one step later on one
      // path. One request's TTFT then moves by a step, which moves a median of 40 by up to ~1% (TensorRT-LLM here),
      // so TTFT is compared by its mean and p90.
      for (const k of ['ttft_s', 'tpot_s', 'itl_s', 'e2e_s'] as const) {
        expect(fast.estimate[k].p50).toBeGreaterThan(0);
        const mid = k === 'ttft_s' ? 'mean' : 'p50';
        expect(Math.abs(fast.estimate[k][mid] / exact.estimate[k][mid] - 1)).toBeLessThan(0.005);
        expect(Math.abs(fast.estimate[k].p90 / exact.estimate[k].p90 - 1)).toBeLessThan(0.005);
      }
      expect(
        Math.abs(fast.estimate.output_tokens_per_s / exact.estimate.output_tokens_per_s - 1),
      ).toBeLessThan(0.005);
      expect(fast.step_evaluations).toBeLessThan(exact.step_evaluations / 5);
    });
  }

  it('MoE with attention data parallel: the same within 0.5%', () => {
    const o = base({
      spec: dsv3,
      hw: h200,
      precision: 'fp8',
      kvPrecision: 'fp8',
      agg: { plan: { tp: 1, pp: 1, attentionDp: 8, moeTp: 1, moeEp: 8 }, workers: 1 },
    });
    const fast = simulateServing(o);
    const exact = simulateServing({ ...o, exact: true });
    expect(Math.abs(fast.estimate.tpot_s.p50 / exact.estimate.tpot_s.p50 - 1)).toBeLessThan(0.005);
    expect(Math.abs(fast.estimate.ttft_s.p50 / exact.estimate.ttft_s.p50 - 1)).toBeLessThan(0.005);
    expect(fast.gpus).toBe(8);
  });
});

describe('mean field over large batches', () => {
  it('16 users standing for 4 each give the figures of 64 users within 2%', () => {
    const w = (users: number) => ({
      kind: 'closed' as const,
      users,
      numRequests: users * 3,
      input: { kind: 'fixed' as const, value: 1024 },
      output: { kind: 'fixed' as const, value: 256 },
      seed: 1,
    });
    // In lockstep (wave share 1) and with no front-end delay: the identical users the mean field assumes (waves of
    // a share of 16 and of 64 users round to different sizes).
    const e = { ...efficiencyFor('nvidia-hopper', 'vllm'), requestS: 0 };
    const o = { waveShare: 1, efficiency: e };
    const full = simulateServing(base({ workload: w(64), warmup: 64, ...o })).estimate;
    const scaled = simulateServing(base({ workload: w(16), warmup: 16, batchScale: 4, ...o })).estimate;
    expect(Math.abs(scaled.tpot_s.p50 / full.tpot_s.p50 - 1)).toBeLessThan(0.02);
    expect(Math.abs(scaled.output_tokens_per_s / full.output_tokens_per_s - 1)).toBeLessThan(0.02);
    expect(Math.abs(scaled.ttft_s.p50 / full.ttft_s.p50 - 1)).toBeLessThan(0.02);
  });
});

describe('disaggregated serving', () => {
  it('TTFT includes the KV transfer over the link between the workers', () => {
    const plan = { tp: 2, pp: 1, attentionDp: 1, moeTp: 2, moeEp: 1 };
    const slow = { bandwidthBytesPerS: 1e9, latencyS: 0 };
    const fast = { bandwidthBytesPerS: 1e12, latencyS: 0 };
    const o = base({
      agg: undefined,
      disagg: { prefill: { plan, workers: 1 }, decode: { plan, workers: 2 } },
    });
    const a = simulateServing({ ...o, kvLink: fast });
    const b = simulateServing({ ...o, kvLink: slow });
    // Llama-3.1-8B bf16 KV: 32 layers · 2 · 8 heads · 128 · 2 bytes = 131,072 bytes per token; 1024 tokens over
    // 2 lanes of 1 GB/s = 0.0671 s; over 1 TB/s, 0.0000671 s. The difference lands in every TTFT.
    const diff = (131072 * 1024) / 2e9 - (131072 * 1024) / 2e12;
    expect(b.estimate.ttft_s.p50 - a.estimate.ttft_s.p50).toBeGreaterThan(diff * 0.9);
    expect(a.gpus).toBe(6);
  });
});

describe('properties', () => {
  const closed = (users: number, engine: 'vllm' | 'sglang' | 'trtllm') =>
    simulateServing(
      base({
        engine,
        itl: false,
        workload: {
          kind: 'closed',
          users,
          numRequests: 400,
          input: { kind: 'uniform', min: 128, max: 1024 },
          output: { kind: 'uniform', min: 16, max: 128 },
          seed: 1,
        },
      }),
    ).estimate;

  // The same 400 requests (one seed) served by more users. What is discrete in a schedule moves medians: with fixed
  // lengths users travel in waves (vLLM, 512-token prompts: 16 users fill one 8192-token step, median TTFT 234 ms;
  // 17 users break the wave, 219.6 ms; SGLang 32 → 33 users: TPOT 10.43 → 8.86 ms, fewer but larger prefill stalls);
  // with drawn lengths the median TTFT at light load is the front end's fixed delay, the wait for the running step
  // and one prefill whose length is drawn. The fixed delay lands at a phase of the running step that moves with
  // the step time: vLLM 4 → 12 users, the median wait for the running step falls from 7.3 to 1.7 ms while the
  // prefill grows by 4.1 ms. Swept 1–48 users on all three engines under the calibration of 2026-12-03 (second
  // session, MLA prompts as plain attention): median TPOT drops by at most 0.48% (SGLang 45 → 46) from any user
  // count to a larger one; median TTFT, once the counts differ by 8 or more, by at most 2.0% (vLLM 8 → 17; 2.2%
  // with the users spread evenly, no waves). The property allows 2.5% for that phase and no more.
  it('in a closed loop more users never lower median TPOT, nor median TTFT (8 users more), by over 2.5%', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom('vllm' as const, 'sglang' as const, 'trtllm' as const),
        (a, b, engine) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          const x = closed(lo, engine);
          const y = closed(hi, engine);
          expect(y.tpot_s.p50).toBeGreaterThanOrEqual(x.tpot_s.p50 * 0.975);
          const z = closed(lo + 8, engine);
          expect(z.ttft_s.p50).toBeGreaterThanOrEqual(x.ttft_s.p50 * 0.975);
        },
      ),
      { numRuns: 12, seed: 42 },
    );
  });

  it('a higher request rate never lowers latency', () => {
    const at = (rate: number) =>
      simulateServing(
        base({
          workload: {
            kind: 'rate',
            rate,
            arrivals: 'poisson',
            numRequests: 60,
            input: { kind: 'fixed', value: 512 },
            output: { kind: 'fixed', value: 64 },
            seed: 5,
          },
        }),
      ).estimate;
    fc.assert(
      fc.property(
        fc.double({ min: 0.5, max: 200, noNaN: true }),
        fc.double({ min: 1, max: 4, noNaN: true }),
        (r, f) => {
          const x = at(r);
          const y = at(r * f);
          expect(y.e2e_s.p50).toBeGreaterThanOrEqual(x.e2e_s.p50 * (1 - 1e-9));
          expect(y.ttft_s.p50).toBeGreaterThanOrEqual(x.ttft_s.p50 * (1 - 1e-9));
        },
      ),
      { numRuns: 10, seed: 43 },
    );
  });

  /** Estimate and ideal bound of u closed-loop users sending 2048-token prompts for 32-token answers, twice each. */
  const withIdeal = (u: number, engine: 'vllm' | 'sglang') =>
    simulateServing(
      base({
        engine,
        ideal: true,
        workload: {
          kind: 'closed',
          users: u,
          numRequests: u * 2,
          input: { kind: 'fixed', value: 2048 },
          output: { kind: 'fixed', value: 32 },
          seed: 2,
        },
      }),
    );

  it('the ideal bound is never slower than the estimate', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.constantFrom('vllm' as const, 'sglang' as const),
        (u, engine) => {
          const r = withIdeal(u, engine);
          expect(r.ideal!.ttft_s.p50).toBeLessThanOrEqual(r.estimate.ttft_s.p50);
          expect(r.ideal!.tpot_s.p50).toBeLessThanOrEqual(r.estimate.tpot_s.p50);
          expect(r.ideal!.output_tokens_per_s).toBeGreaterThanOrEqual(r.estimate.output_tokens_per_s);
        },
      ),
      { numRuns: 8, seed: 44 },
    );
  });

  // The bound keeps the estimate's waves: with users spread apart instead, the ideal's prompts stalled every decode
  // step and its TPOT was over the estimate's (SGLang, 34 users: 38.0 against 35.9 ms before the fix).
  it("the ideal bound runs the estimate's waves: SGLang, 34 users of 2048 + 32 tokens", () => {
    const r = withIdeal(34, 'sglang');
    expect(r.ideal!.tpot_s.p50).toBeLessThanOrEqual(r.estimate.tpot_s.p50);
    expect(r.ideal!.ttft_s.p50).toBeLessThanOrEqual(r.estimate.ttft_s.p50);
  });

  it('the same seed gives the same numbers; another seed other lengths', () => {
    const w = (seed: number) =>
      base({
        workload: {
          kind: 'rate',
          rate: 20,
          arrivals: 'poisson',
          numRequests: 50,
          input: { kind: 'lognormal', median: 800, sigma: 0.6, min: 16, max: 8000 },
          output: { kind: 'normal', mean: 200, std: 80, min: 1, max: 600 },
          seed,
        },
      });
    const a = simulateServing(w(11));
    const b = simulateServing(w(11));
    const c = simulateServing(w(12));
    expect(b.estimate).toEqual(a.estimate);
    expect(c.estimate.e2e_s.p50).not.toBe(a.estimate.e2e_s.p50);
  });
});

describe('bad input', () => {
  it('names the field', () => {
    expect(() => simulateServing(base({ agg: { plan: { ...plan1, moeEp: 2 }, workers: 1 } }))).toThrow(
      /moe_tp × moe_ep/,
    );
    expect(() => simulateServing(base({ kvPrecision: 'fp7' }))).toThrow(InputError);
    expect(() =>
      simulateServing(
        base({
          kvTokensPerRank: 1000,
          workload: {
            kind: 'closed',
            users: 1,
            numRequests: 1,
            input: { kind: 'fixed', value: 5000 },
            output: { kind: 'fixed', value: 10 },
            seed: 1,
          },
        }),
      ),
    ).toThrow(/KV cache/);
  });
});
