/**
 * core/planner's two phases: the steady-state estimate ranks every configuration, the simulation scores those
 * that could rank near the top. The selection by hand; the pruned search's answer against the exhaustive one.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, findModel, hardwareSpec, modelSpec } from '../../src/catalog/index.js';
import { openLoopEstimate, steadyEstimator } from '../../src/core/planner/estimate.js';
import {
  COST_SLACK,
  planServing,
  selectForSimulation,
  type EstimatePart,
  type JobEstimate,
  type PlanRequest,
} from '../../src/core/planner/index.js';
import { simulateServing } from '../../src/core/serving/index.js';
import { dev } from './helpers.js';

const est = (index: number, family: string, o: Partial<JobEstimate> & { meets: boolean }): JobEstimate => ({
  index,
  family,
  disagg: false,
  replicas: 1,
  miss: o.meets ? 0.9 : 2,
  usdPerMillion: null,
  perGpu: 100,
  perUser: 20,
  ...o,
});

const part = (estimates: JobEstimate[]): EstimatePart => ({
  estimates,
  families: [],
  configurations: estimates.length,
  prefiltered: 0,
  anyFit: true,
});

describe('selectForSimulation', () => {
  // Family a: four aggregated configurations that meet and one disaggregated; family b: three that miss.
  const estimates = [
    est(0, 'a', { meets: true, usdPerMillion: 1.0, perUser: 30 }), // the cheapest
    est(1, 'a', { meets: true, usdPerMillion: 1.4, perUser: 25 }), // within 1.5× of it
    est(2, 'a', { meets: true, usdPerMillion: 1.6, perUser: 20 }), // 1.6×, dominated, third of its family
    est(3, 'a', { meets: true, usdPerMillion: 3.0, perUser: 90 }), // 3×, but the fastest per user: Pareto
    est(4, 'b', { meets: false, miss: 1.5 }), // b's nearest miss
    est(5, 'b', { meets: false, miss: 2.0 }), // b's second nearest
    est(6, 'b', { meets: false, miss: 3.0 }), // third: left out
    est(7, 'a', { meets: true, usdPerMillion: 2.5, perUser: 10, disagg: true }), // a's best disaggregated one
    // Family c: two cheap ones; one 2× with the most headroom under the limits (kept); one neither (left out).
    est(8, 'c', { meets: true, usdPerMillion: 1.2, perUser: 28, miss: 0.95 }),
    est(9, 'c', { meets: true, usdPerMillion: 1.3, perUser: 27, miss: 0.97 }),
    est(10, 'c', { meets: true, usdPerMillion: 2.0, perUser: 24, miss: 0.5 }),
    est(11, 'c', { meets: true, usdPerMillion: 2.2, perUser: 23, miss: 0.8 }),
    // Family d: one the estimate failed on (always simulated), three misses (the nearest two kept).
    est(12, 'd', { meets: false, miss: Infinity, unestimated: true }),
    est(13, 'd', { meets: false, miss: 1.1 }),
    est(14, 'd', { meets: false, miss: 1.2 }),
    est(15, 'd', { meets: false, miss: 1.3 }),
  ];
  const users = { users: 10 } as PlanRequest;

  it('keeps the cheap, each family and mode’s best two and the one with most headroom, the nearest misses, the Pareto front and those not estimated', () => {
    expect(COST_SLACK).toBe(1.5);
    const chosen = selectForSimulation(users, [part(estimates.slice(0, 4)), part(estimates.slice(4))]);
    expect(chosen.map((e) => e.index)).toEqual([0, 1, 3, 4, 5, 7, 8, 9, 10, 12, 13, 14]);
  });

  it('an exhaustive search simulates everything', () => {
    expect(selectForSimulation({ ...users, exhaustive: true }, [part(estimates)])).toHaveLength(16);
  });
});

describe('openLoopEstimate (Little’s law)', () => {
  // TTFT 0.1 + 0.01 · N s and TPOT 10 ms at N requests in flight; OSL 11: a request takes 0.2 + 0.01 · N s.
  const fake = (n: number) => ({ ttftS: 0.1 + 0.01 * n, tpotS: 0.01, tokensPerS: 0 });
  it('in flight N = rate · (0.2 + 0.01 N): at 50/s, N = 10 / 0.5 = 20 and TTFT 0.3 s; at 100/s none', () => {
    const e = openLoopEstimate(fake, 50, 11, 1e6)!;
    expect(e.ttftS).toBeCloseTo(0.3, 6);
    expect(e.tokensPerS).toBe(50 * 11);
    expect(openLoopEstimate(fake, 100, 11, 1e6)).toBeNull();
    // More in flight than the replica holds: none either.
    expect(openLoopEstimate(fake, 50, 11, 15)).toBeNull();
  });
});

describe('the pruned search', () => {
  const request: PlanRequest = {
    spec: modelSpec(findModel('Qwen/Qwen3-8B')),
    devices: [dev('h100', 3), dev('l40s', 1.2), dev('l4', 0.7)],
    users: 64,
    isl: 2048,
    osl: 256,
    limits: { ttftMs: 2000, tpotMs: 40 },
    engines: ['vllm', 'sglang', 'trtllm'],
    maxGpus: 8,
  };

  it('recommends what simulating every configuration recommends, with the same top five and rejections', () => {
    const pruned = planServing(request);
    const all = planServing({ ...request, exhaustive: true });
    expect(pruned.searched.simulated).toBeLessThan(all.searched.simulated);
    expect(all.searched.simulated).toBe(all.searched.estimated);
    expect(pruned.recommended).toEqual(all.recommended);
    expect(pruned.candidates.slice(0, 5)).toEqual(all.candidates.slice(0, 5));
    expect(pruned.rejected).toEqual(all.rejected);
  }, 60_000);

  it('an open loop too: the same recommendation and top five as simulating everything', () => {
    const open = { ...request, users: undefined, rate: 4 };
    const pruned = planServing(open);
    const all = planServing({ ...open, exhaustive: true });
    expect(pruned.searched.simulated).toBeLessThan(all.searched.simulated);
    expect(pruned.recommended).toEqual(all.recommended);
    expect(pruned.candidates.slice(0, 5)).toEqual(all.candidates.slice(0, 5));
  }, 60_000);

  it('the estimate is within the selection’s slack of the simulation (TPOT, vLLM, H100)', () => {
    const spec = modelSpec(findModel('Qwen/Qwen3-8B'));
    const hw = hardwareSpec(findDevice('h100'));
    const plan = { tp: 1, pp: 1, attentionDp: 1, moeTp: 1, moeEp: 1 };
    for (const users of [4, 32]) {
      const sim = simulateServing({
        spec,
        hw,
        precision: 'bf16',
        kvPrecision: 'bf16',
        engine: 'vllm',
        agg: { plan, workers: 1 },
        workload: {
          kind: 'closed',
          users,
          numRequests: users * 3,
          input: { kind: 'fixed', value: 2048 },
          output: { kind: 'fixed', value: 256 },
          seed: 1,
        },
        warmup: users,
        ideal: false,
      });
      const e = steadyEstimator({
        spec,
        hw,
        precision: 'bf16',
        kvPrecision: 'bf16',
        engine: 'vllm',
        plan,
        split: null,
        kvTokensPerRank: sim.kv_tokens_per_rank.agg!,
        isl: 2048,
        osl: 256,
      })(users);
      expect(Math.abs(e.tpotS / sim.estimate.tpot_s.p50 - 1)).toBeLessThan(0.25);
    }
  });
});
