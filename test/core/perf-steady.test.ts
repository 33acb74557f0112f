/**
 * The closed-loop steady state on made-up step functions, where the fixed point has a closed form:
 *  - prompts that cost nothing: TPOT is the decode step, TTFT half a running step plus the prompt's step;
 *  - one synchronised wave (burst 1): a prompt waits for half of the wave's other prompts, and TPOT converges
 *    (6 halvings from the bare step) to the step plus the wave's stall spread over the output tokens;
 *  - saturation: the M/D/1 wait capped at ρ = 0.999 (499.5 prompt times) and decode at 1 / (1 − 0.95) of its step;
 *  - disaggregated: the prefill queue's quadratic, solved by hand.
 */
import { describe, expect, it } from 'vitest';
import { steadyAgg, steadyDisagg, type AggInput, type DisaggInput } from '../../src/core/perf/steady.js';
import { rel } from './fixtures-perf.js';

describe('aggregated serving', () => {
  const agg = (o: Partial<AggInput>) =>
    steadyAgg({
      batch: 4,
      kvCapacity: 100,
      requestS: 0,
      burst: 0,
      isl: 100,
      osl: 11,
      step: (d) => 0.01 + 0.001 * d,
      ...o,
    });
  it('free prompts: TPOT = step(4, 0) = 14 ms, TTFT = 7 + 14 ms, nothing queues', () => {
    const r = agg({});
    expect(rel(r.tpot_s, 0.014)).toBeLessThan(1e-12);
    expect(rel(r.ttft_s, 0.021)).toBeLessThan(1e-9);
    expect(r.prefill_utilisation).toBe(0);
  });
  it('the request latency adds to TTFT', () => {
    expect(rel(agg({ requestS: 0.5 }).ttft_s, 0.521)).toBeLessThan(1e-9);
  });
  it('10 users, KV for 4.7 requests: 4 run; the other 6 wait 10/4 − 1 cycles of TTFT + 10 tokens', () => {
    const r = agg({ batch: 10, kvCapacity: 4.7 });
    // 4 running: step 14 ms; TTFT of a running user 21 ms; its generation 10 · 14 ms
    const ttft = 0.021;
    expect(rel(r.ttft_s, ttft + 1.5 * (ttft + 0.14))).toBeLessThan(1e-9);
    expect(rel(r.tpot_s, 0.014)).toBeLessThan(1e-12);
  });
  it('no KV room at all still runs one user', () => {
    const r = agg({ batch: 3, kvCapacity: 0.5 });
    // 1 running: step 11 ms; the 2 others wait 3 − 1 = 2 cycles of 16.5 ms + 10 · 11 ms
    expect(rel(r.ttft_s, 0.0165 + 2 * (0.0165 + 0.11))).toBeLessThan(1e-9);
  });
  it('one wave of 4 users (burst 1): TTFT waits for 3 / 2 whole steps; TPOT adds the wave stall 3 · s / 2 / 10', () => {
    // a step of d decoding and p prompt tokens: 20 ms + 1 ms · d + (50 ms + 0.1 ms · p if any prompt)
    const step = (d: number, p: number) => 0.02 + 0.001 * d + (p > 0 ? 0.05 + 1e-4 * p : 0);
    const base = 0.024;
    const s = 0.06; // one prompt of 100
    const own = base + s;
    const W = (3 * s) / 2 / 10;
    const r = agg({ burst: 1, step });
    const t5 = base + W * (1 - 1 / 32);
    expect(rel(r.tpot_s, base + W * (1 - 1 / 64))).toBeLessThan(1e-12);
    // One prompt a step: a user waits for the steps of the prompts ahead, each a whole step (decodes and all).
    expect(rel(r.ttft_s, t5 / 2 + (3 * own) / 2 + own)).toBeLessThan(1e-9);
    // utilisation: λ · s with λ = 4 / (TTFT + 10 · TPOT of the iteration)
    expect(rel(r.prefill_utilisation, (4 / (r.ttft_s + 10 * t5)) * s)).toBeLessThan(1e-9);
    // chunks of 400 tokens take 4 prompts a step: s_wave = (50 ms + 40 ms) / 4 = 22.5 ms
    const c = agg({ burst: 1, step, chunk: 400 });
    const Wc = (3 * 0.0225) / 2 / 10;
    expect(rel(c.tpot_s, base + Wc * (1 - 1 / 64))).toBeLessThan(1e-12);
    // ... and the wait is for whole steps of 4 prompts: (24 + 50 + 40 ms) / 4 = 28.5 ms a prompt.
    expect(rel(c.ttft_s, (base + Wc * (1 - 1 / 32)) / 2 + (3 * 0.0285) / 2 + own)).toBeLessThan(1e-9);
  });
  it('one output token: no stall to spread', () => {
    const step = (d: number, p: number) => 0.02 + 0.001 * d + (p > 0 ? 0.05 + 1e-4 * p : 0);
    const r = agg({ burst: 1, step, osl: 1 });
    expect(rel(r.tpot_s, 0.024)).toBeLessThan(1e-12);
    expect(rel(r.ttft_s, 0.012 + (3 * 0.084) / 2 + 0.084)).toBeLessThan(1e-9);
  });
  it('saturated (1000 users, 0.1 s prompts): wait 499.5 s per prompt, decode at 20x its step', () => {
    const step = (_d: number, p: number) => 0.01 + (p > 0 ? 0.1 : 0);
    const r = agg({ batch: 1000, kvCapacity: 1000, step, osl: 2 });
    expect(rel(r.tpot_s, 0.2 - 0.19 / 64)).toBeLessThan(1e-12);
    const t5 = 0.2 - 0.19 / 32;
    expect(rel(r.ttft_s, t5 / 2 + 499.5 * 0.1 + 0.11)).toBeLessThan(1e-9);
    expect(r.prefill_utilisation).toBeGreaterThan(1);
  });
  it('a wave that takes a large share of the cycle disperses: burst · h / (h + x)', () => {
    const step = (d: number, p: number) => 0.02 + 0.001 * d + (p > 0 ? 0.05 + 1e-4 * p : 0);
    const held = agg({ burst: 1, step, burstHalf: 1e9 });
    const all = agg({ burst: 1, step });
    expect(rel(held.tpot_s, all.tpot_s)).toBeLessThan(1e-6);
    // h → 0: no wave left, as if every user arrived on their own (burst 0)
    const gone = agg({ burst: 1, step, burstHalf: 1e-12 });
    const spread = agg({ burst: 0, step });
    expect(rel(gone.tpot_s, spread.tpot_s)).toBeLessThan(1e-6);
    expect(rel(gone.ttft_s, spread.ttft_s)).toBeLessThan(1e-6);
    expect(rel(gone.tpot_s, all.tpot_s)).toBeGreaterThan(0.01);
  });
});

describe('disaggregated serving', () => {
  const dis = (o: Partial<DisaggInput>) =>
    steadyDisagg({
      users: 8,
      decodeBatch: 8,
      kvCapacity: 100,
      requestS: 0,
      burst: 1,
      prefillRanks: 2,
      isl: 1000,
      osl: 101,
      prefillStep: (_d, p) => 1e-4 * p,
      decodeStep: (d) => 0.01 + 0.001 * d,
      transferS: 0.005,
      ...o,
    });
  it('a wave of 4 users per prefill rank: 3 · s/2 waiting, the prompt 0.1 s, the transfer 5 ms', () => {
    const r = dis({});
    expect(rel(r.tpot_s, 0.018)).toBeLessThan(1e-12);
    expect(rel(r.ttft_s, 1.5 * 0.1 + 0.1 + 0.005)).toBeLessThan(1e-9);
    expect(rel(r.prefill_utilisation, (4 / (0.255 + 100 * 0.018)) * 0.1)).toBeLessThan(1e-9);
  });
  it('spread-out arrivals: the M/D/1 queue, y² − (a + k) y + a k − k s / 2 = 0 over y = TTFT + generation', () => {
    const r = dis({ burst: 0, requestS: 0.25 });
    const s = 0.1;
    const gen = 100 * 0.018;
    const a = gen + s + 0.005;
    const k = 4 * s; // users per rank · s
    const y = (a + k + Math.sqrt((a + k) ** 2 - 4 * (a * k - (k * s) / 2))) / 2;
    expect(rel(r.ttft_s, y - gen + 0.25)).toBeLessThan(1e-9);
    expect(rel(r.prefill_utilisation, k / y)).toBeLessThan(1e-9);
  });
  it('KV for 4.5 of 8 decode users: 4 run, the rest wait 8/4 − 1 cycles', () => {
    const r = dis({ kvCapacity: 4.5 });
    const tpot = 0.014;
    const ttft = 0.255;
    expect(rel(r.tpot_s, tpot)).toBeLessThan(1e-12);
    expect(rel(r.ttft_s, ttft + (ttft + 100 * tpot))).toBeLessThan(1e-9);
  });
  it('saturated prefill (4000 users on 2 ranks, 0.1 s prompts): 499.5 prompt times of wait', () => {
    const r = dis({ users: 4000, decodeBatch: 2000, kvCapacity: 2000, burst: 0, osl: 2 });
    expect(rel(r.ttft_s, 499.5 * 0.1 + 0.1 + 0.005)).toBeLessThan(1e-9);
  });
});
