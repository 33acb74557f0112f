/**
 * How a closed loop's users start (core/serving/stagger.ts) and the front end's fixed delay (sim.ts entryDelayS),
 * worked by hand.
 */
import { describe, expect, it } from 'vitest';
import { efficiencyFor } from '../../src/core/perf/efficiency.js';
import { simulateServing, type ServingInput } from '../../src/core/serving/index.js';
import { vllmDefaults } from '../../src/core/serving/engines.js';
import { simulate } from '../../src/core/serving/sim.js';
import type { StepTimer } from '../../src/core/serving/step-time.js';
import { closedLoopStarts, closedLoopWaves, cycleOf, startingWave } from '../../src/core/serving/stagger.js';
import { oneH100 } from './fixtures.js';

describe('closed-loop start times', () => {
  it('waves of round(share · users), evenly over the cycle', () => {
    expect(closedLoopStarts(6, 0.5, 12)).toEqual([0, 0, 0, 6, 6, 6]);
    // 0.3 · 5 = 1.5 → waves of 2: three waves at 0, 10/3, 20/3
    const s = closedLoopStarts(5, 0.3, 10);
    expect(s.slice(0, 2)).toEqual([0, 0]);
    expect(s[2]).toBeCloseTo(10 / 3, 12);
    expect(s[3]).toBeCloseTo(10 / 3, 12);
    expect(s[4]).toBeCloseTo(20 / 3, 12);
  });

  it('share 0: every user apart; share 1: all at once (lockstep)', () => {
    expect(closedLoopStarts(4, 0, 8)).toEqual([0, 2, 4, 6]);
    expect(closedLoopStarts(5, 1, 10)).toEqual([0, 0, 0, 0, 0]);
  });
});

describe('waves that persist', () => {
  // Every step takes 1 s; prompts of 10 tokens are prefilled whole, one per step (a 10-token budget), 3 tokens out.
  const timer = {
    time: () => 1,
    exact: () => 1,
    decodeRun: (_b: number, _c: number, k: number, _a: number, cells: { value: number; steps: number }[]) => {
      cells.push({ value: 1, steps: k });
      return k;
    },
  } as unknown as StepTimer;
  const run = (waves?: number[]) =>
    simulate({
      instances: [
        {
          role: 'both',
          plan: { tp: 1, pp: 1, attentionDp: 1, moeTp: 1, moeEp: 1 },
          engine: { ...vllmDefaults(80e9), maxStepTokens: 10, chunkedPrefill: false },
          blocksPerRank: 1000,
          timer,
        },
      ],
      requests: Array.from({ length: 4 }, () => ({ arrivalS: NaN, input: 10, output: 3 })),
      users: 2,
      waves,
    }).requests;

  it('a user of a wave sends its next request when the last of its wave finishes', () => {
    // Request 0 is prefilled in step 1 and decodes in steps 2 and 3 (done at 3); request 1 cannot join a step that
    // holds a decode (9 tokens left < 10) and is prefilled in step 4, done at 6.
    const apart = run();
    expect([apart.finish[0], apart.finish[1]]).toEqual([3, 6]);
    // apart, user 0 sends again as soon as its request is done; in one wave, when its wave-mate's is
    expect(apart.arrival[2]).toBe(3);
    const wave = run(closedLoopWaves(2, 1));
    expect([wave.finish[0], wave.finish[1]]).toEqual([3, 6]);
    expect([wave.arrival[2], wave.arrival[3]]).toEqual([6, 6]);
  });
});

describe('the cycle a user takes', () => {
  // A step costs 1 + decodes + prompt/100 (s): 4 users, 200-token prompts in chunks of 100, 11 output tokens.
  const c = {
    users: 4,
    isl: 200,
    osl: 11,
    chunk: 100,
    step: (d: number, _ctx: number, p: number) => 1 + d + p / 100,
  };

  it('its prompt in chunks beside the others, its decodes, and the others prompts once each', () => {
    // decode step of 4: 5; a prompt adds 2 chunks · 1 = 2; own prompt 2 · (1 + 3 + 1) = 10;
    // cycle 10 + 10 · 5 + 3 · 2 = 66
    expect(cycleOf(c)).toEqual({ cycleS: 66, promptS: 2, decodeS: 5 });
    expect(cycleOf({ ...c, transferS: 4 }).cycleS).toBe(70);
  });

  it('the wave share falls with the share of the cycle a wave of prompts takes', () => {
    // x = users · promptS / (osl − 1) / decodeS = 4 · 2 / 10 / 5 = 0.16; 0.4 · 1 / (1 + 0.16)
    expect(startingWave(0.4, 1, c, cycleOf(c))).toBeCloseTo(0.4 / 1.16, 12);
    // without a decay the calibrated burst itself
    expect(startingWave(0.4, 0, c, cycleOf(c))).toBe(0.4);
  });
});

describe('the simulator with the starts and the front end', () => {
  const eff = efficiencyFor('nvidia-hopper', 'vllm');
  /** A closed loop of `users` users sending 2k-token prompts for 64 tokens, 4 requests each. */
  const closed = (users: number): ServingInput['workload'] => ({
    kind: 'closed',
    users,
    numRequests: 4 * users,
    input: { kind: 'fixed', value: 2048 },
    output: { kind: 'fixed', value: 64 },
    seed: 1,
  });
  const input = (over: Partial<ServingInput>): ServingInput => oneH100(closed(8), { warmup: 8, ...over });

  it('a request enters the queue requestS after it is sent: one user sees exactly that much more TTFT', () => {
    const one = (requestS: number) =>
      simulateServing(
        input({
          efficiency: { ...eff, requestS },
          workload: closed(1),
          warmup: 0,
        }),
      ).estimate;
    const a = one(0);
    const b = one(0.05);
    expect(b.ttft_s.p50 - a.ttft_s.p50).toBeCloseTo(0.05, 9);
    expect(b.tpot_s.p50).toBeCloseTo(a.tpot_s.p50, 12);
    expect(b.queue_s.p50 - a.queue_s.p50).toBeCloseTo(0.05, 9);
  });

  it('users apart wait less for their first token than users in lockstep, and decode beside others prompts', () => {
    const e = { ...eff, requestS: 0 };
    const lock = simulateServing(input({ efficiency: e, waveShare: 1 })).estimate;
    const apart = simulateServing(input({ efficiency: e, waveShare: 0 })).estimate;
    // in lockstep the eight 2k prompts share steps of 8k tokens: the median user waits for most of them
    expect(apart.ttft_s.p50).toBeLessThan(lock.ttft_s.p50 / 1.5);
    // apart, the prompts land in the others' decode steps (short answers here: 64 tokens) instead of in two steps
    expect(apart.tpot_s.p50).toBeGreaterThan(lock.tpot_s.p50);
  });

  it('disaggregated with several workers a side: the cycle is timed on each side (no worker without a timer)', () => {
    const plan = { tp: 1, pp: 1, attentionDp: 1, moeTp: 1, moeEp: 1 };
    const r = simulateServing(
      input({
        agg: undefined,
        disagg: { prefill: { plan, workers: 2 }, decode: { plan, workers: 3 } },
      }),
    ).estimate;
    expect(r.completed).toBe(24);
    expect(r.ttft_s.p50).toBeGreaterThan(eff.requestS);
  });

  it('a wave share outside 0..1 is refused', () => {
    expect(() => simulateServing(input({ waveShare: 1.5 }))).toThrow(/wave_share must be from 0 to 1/);
  });
});
