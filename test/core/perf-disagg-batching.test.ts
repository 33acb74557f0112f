/**
 * Prefill workers of a disaggregated deployment batch the prompts waiting for them up to their chunk: the queue is
 * served at the chunk's rate, and a prompt's own step grows from one prompt to a chunk with the load. Every
 * expected figure is worked by hand.
 */
import { describe, expect, it } from 'vitest';
import { steadyDisagg } from '../../src/core/perf/steady.js';

/** 4 users on one prefill rank, 1,000-token prompts, 10 decode steps of 20 ms after the first token. */
const fourUsers = {
  users: 4,
  decodeBatch: 4,
  kvCapacity: 1e9,
  requestS: 0,
  burst: 0,
  prefillRanks: 1,
  isl: 1000,
  osl: 11,
  decodeStep: () => 0.02,
};

describe('a prefill worker batches the prompts waiting for it', () => {
  // A prompt step costs 20 ms plus 10 µs a token: one 1,000-token prompt 30 ms, a 4,000-token chunk of four 60 ms,
  // 15 ms a prompt.
  const prefillStep = (_d: number, p: number) => 0.02 + 1e-5 * p;
  const o = { ...fourUsers, prefillStep, transferS: 0.005 };

  it('the queue is served at the chunk rate; the own step grows from one prompt to a chunk with the load', () => {
    const r = steadyDisagg({ ...o, chunk: 4000 });
    // ρ = users / (TTFT + generation) · 15 ms; TTFT = ρ/(1 − ρ) · 15 ms / 2 + 30 ms + ρ · 30 ms + 5 ms.
    const rho = (4 / (r.ttft_s + 10 * 0.02)) * 0.015;
    expect(r.prefill_utilisation).toBeCloseTo(rho, 9);
    expect(r.ttft_s).toBeCloseTo((rho / (1 - rho)) * 0.0075 + 0.03 + rho * 0.03 + 0.005, 9);
    // By hand, two fixed-point rounds from 45 ms: ρ = 0.06 / 0.245 = 0.245, wait 0.245/0.755 · 7.5 ms = 2.4 ms,
    // own step 30 + 0.245 · 30 = 37.3 ms, + 5 ms transfer: 44.8 ms.
    expect(r.ttft_s).toBeGreaterThan(0.0447);
    expect(r.ttft_s).toBeLessThan(0.0449);
  });

  it('a chunk of one prompt serves each prompt alone: M/D/1 at 30 ms a prompt', () => {
    const r = steadyDisagg({ ...o, chunk: 1000 });
    const rho = (4 / (r.ttft_s + 0.2)) * 0.03;
    expect(r.ttft_s).toBeCloseTo((rho / (1 - rho)) * 0.015 + 0.03 + 0.005, 9);
    expect(steadyDisagg(o).ttft_s).toBeCloseTo(r.ttft_s, 12);
    // Batching can only help a loaded worker's queue.
    expect(steadyDisagg({ ...o, users: 64, chunk: 4000 }).ttft_s).toBeLessThan(
      steadyDisagg({ ...o, users: 64, chunk: 1000 }).ttft_s,
    );
  });
});

describe('attention DP: a prefill rank alone runs faster than with every rank of its worker prefilling', () => {
  // Alone 30 ms a prompt, with every rank busy 60 ms (the experts see all ranks' prompts); one prompt a step.
  const o = {
    ...fourUsers,
    prefillStep: () => 0.06,
    prefillStepAlone: () => 0.03,
    transferS: 0,
    chunk: 1000,
  };

  it('the service time is interpolated by the share ρ of the time a rank is busy', () => {
    const r = steadyDisagg(o);
    // Rate per rank λ = 4 / (TTFT + 10 · 20 ms); ρ = λ · (30 ms + ρ · 30 ms), so ρ = 0.03 λ / (1 − 0.03 λ).
    const lambda = 4 / (r.ttft_s + 0.2);
    const rho = (0.03 * lambda) / (1 - 0.03 * lambda);
    expect(r.prefill_utilisation).toBeCloseTo(rho, 9);
    const s = 0.03 + rho * 0.03;
    expect(r.ttft_s).toBeCloseTo((rho / (1 - rho)) * (s / 2) + s, 9);
    // By hand, TTFT = 100 ms: λ = 4 / 0.3 s, ρ = 0.4 / 0.6 = 2/3, s = 50 ms, wait (2/3) / (1/3) · 25 ms = 50 ms.
    expect(r.ttft_s).toBeCloseTo(0.1, 9);
    expect(r.ttft_s).toBeGreaterThan(steadyDisagg({ ...o, prefillStep: () => 0.03 }).ttft_s);
    expect(r.ttft_s).toBeLessThan(steadyDisagg({ ...o, prefillStepAlone: undefined }).ttft_s);
  });

  it('one user with a long answer: the rank is almost always alone, TTFT ≈ 30 ms, not 60', () => {
    const r = steadyDisagg({ ...o, users: 1, osl: 5001 });
    // λ = 1 / (0.03 + 100 s) ≈ 0.0100; ρ ≈ 0.000300; s ≈ 30.009 ms; wait ≈ 0.0045 ms.
    expect(r.ttft_s).toBeCloseTo(0.030014, 5);
  });
});
