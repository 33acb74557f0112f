/** The Done-when figure's arithmetic on hand-made slices, and the measured rows' GPU counts as the data states them. */
import { describe, expect, it } from 'vitest';
import { closedLoopTokensPerGpu, planCheck, type MeasuredConfig } from '../../src/core/planner/check.js';
import { rowGpus } from '../../scripts/plan-check.js';

const cfg = (
  id: string,
  users: number,
  measured: [number, number],
  predicted: [number, number] | null,
  gpus = 1,
): MeasuredConfig => ({
  id,
  slice: 's',
  users,
  osl: 101,
  gpus,
  measured: { ttft_ms: measured[0], tpot_ms: measured[1] },
  predicted: predicted && { ttft_ms: predicted[0], tpot_ms: predicted[1] },
});

describe('closed-loop tokens/s per GPU', () => {
  it('N · OSL / (TTFT + (OSL − 1) · TPOT) / GPUs', () => {
    // 8 users, 101 tokens, 100 ms + 100 × 10 ms = 1.1 s per request: 8 · 101 / 1.1 = 734.5454... over 2 GPUs.
    expect(closedLoopTokensPerGpu(8, 101, 100, 10, 2)).toBeCloseTo((8 * 101) / 1.1 / 2, 9);
  });
});

describe('planCheck', () => {
  // Measured TPOTs 10, 20, 30, 40 → median limit 25 ms; those meeting it: a (4 users) and b (16 users).
  // Tokens/s per GPU (OSL 101, TTFT 100 ms): a 4·101/(0.1+1.0) = 367.3; b 16·101/(0.1+2.0) = 769.5.
  const measured: [number, number][] = [
    [100, 10],
    [100, 20],
    [100, 30],
    [100, 40],
  ];
  const users = [4, 16, 32, 64];

  it('passes when the pick by predictions is the measured best', () => {
    const f = planCheck(measured.map((m, i) => cfg('abcd'[i]!, users[i]!, m, [m[0], m[1] * 1.05])));
    expect(f.slices).toBe(1);
    const v = f.verdicts[0]!;
    expect(v.tpot_limit_ms).toBe(25);
    expect(v.best).toBe('b');
    expect(v.best_measured_tokens_per_s_per_gpu).toBeCloseTo((16 * 101) / 2.1, 9);
    expect(v.chosen).toBe('b');
    expect(v.ok).toBe(true);
    expect(f.fraction_ok).toBe(1);
  });

  it('fails when predictions are too pessimistic (picks a) or pick a configuration far over the limit (c)', () => {
    const slow = planCheck(measured.map((m, i) => cfg('abcd'[i]!, users[i]!, m, [m[0], m[1] * 1.5])));
    expect(slow.verdicts[0]!.chosen).toBe('a');
    expect(slow.verdicts[0]!.ratio).toBeCloseTo((4 * 101) / 1.1 / ((16 * 101) / 2.1), 9);
    expect(slow.ok).toBe(0);
    const fast = planCheck(measured.map((m, i) => cfg('abcd'[i]!, users[i]!, m, [m[0], m[1] * 0.8])));
    expect(fast.verdicts[0]!.chosen).toBe('c'); // predicted 24 ms; measured 30 ms is 20% over the limit
    expect(fast.verdicts[0]!.limit_miss).toBeCloseTo(0.2, 12);
    expect(fast.over_limit).toBe(1);
    expect(fast.ok).toBe(0);
  });

  it('slices with fewer than 4 configurations are left out; no pick is a failure', () => {
    expect(planCheck(measured.slice(0, 3).map((m, i) => cfg('abc'[i]!, users[i]!, m, m))).slices).toBe(0);
    const none = planCheck(measured.map((m, i) => cfg('abcd'[i]!, users[i]!, m, null)));
    expect([none.no_pick, none.ok]).toEqual([1, 0]);
  });
});

describe('rowGpus', () => {
  it('agg: tp · pp · attention_dp; disagg: workers × GPUs of each side; unstated workers: unknown', () => {
    expect(rowGpus({ mode: 'agg', tp_size: '4', pp_size: '1', attention_dp_size: '2' })).toBe(8);
    expect(
      rowGpus({
        mode: 'disagg',
        prefill_num_workers: '1',
        prefill_tp_size: '1',
        prefill_attention_dp_size: '4',
        decode_num_workers: '4',
        decode_tp_size: '8',
        decode_attention_dp_size: '1',
      }),
    ).toBe(4 + 32);
    expect(rowGpus({ mode: 'disagg', prefill_tp_size: '4', decode_tp_size: '4' })).toBeNull();
  });
});
