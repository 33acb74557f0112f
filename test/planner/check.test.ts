/** The Done-when figure's arithmetic on hand-made slices, and the measured rows' GPU counts as the data states them. */
import { describe, expect, it } from 'vitest';
import {
  closedLoopTokensPerGpu,
  planCheck,
  syntheticFraction,
  type MeasuredConfig,
} from '../../src/core/planner/check.js';
import { checkMargin, meetsLimit } from '../../src/core/planner/limits.js';
import { measuredRows, relabelRow, rowGpus } from '../../scripts/plan-check.js';

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

  it('a configuration measured at the limit and predicted 2% over it: dropped without a margin, kept with 5%', () => {
    // Five configurations: measured TPOT 10..50 ms, median (the limit) 30 ms = c's. Tokens/s per GPU grow with users,
    // so c (32 users) is the measured best that meets the limit.
    const five: [number, number][] = [10, 20, 30, 40, 50].map((t) => [100, t]);
    const u = [4, 16, 32, 64, 128];
    const configs = five.map((m, i) => cfg('abcde'[i]!, u[i]!, m, [m[0], m[1] * 1.02]));
    const strict = planCheck(configs, { margin: 0 });
    expect(strict.margin).toBe(0);
    expect([strict.verdicts[0]!.best, strict.verdicts[0]!.chosen, strict.ok]).toEqual(['c', 'b', 0]);
    const kept = planCheck(configs);
    expect(kept.margin).toBeCloseTo(0.05, 12); // half the 10% tolerance
    expect([kept.verdicts[0]!.chosen, kept.ok]).toEqual(['c', 1]);
  });

  it('synthetic predictions: exact ones pass every slice; noisy ones fewer', () => {
    const configs = measured.map((m, i) => cfg('abcd'[i]!, users[i]!, m, null));
    expect(syntheticFraction(configs, 0)).toBe(1);
    // Measured 10/20/30/40 ms against a 25 ms limit: errors of e^±1 (sigma 1) often swap b with a or c.
    expect(syntheticFraction(configs, 1, { seeds: 16 })).toBeLessThan(1);
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

describe('limits with a margin', () => {
  it('meets at or under limit · (1 + margin); margins from 0 to below 0.5', () => {
    expect(meetsLimit(30, 30)).toBe(true);
    expect(meetsLimit(30.3, 30)).toBe(false);
    expect(meetsLimit(31.5, 30, 0.05)).toBe(true);
    expect(meetsLimit(31.6, 30, 0.05)).toBe(false);
    expect(checkMargin(0)).toBeNull();
    expect(checkMargin(-0.1)).toMatch(/margin must be a fraction from 0 to below 0.5 \(got -0.1\)/);
    expect(checkMargin(0.5)).toMatch(/got 0.5/);
    expect(checkMargin(NaN)).toMatch(/got NaN/);
  });
});

describe('measured configurations', () => {
  const row = (id: string, o: Record<string, string>) => ({
    id,
    model_path: 'm',
    system: 'b200_sxm',
    backend: 'sglang',
    isl: '1024',
    osl: '1024',
    mode: 'agg',
    batch_size: '16',
    tp_size: '4',
    pp_size: '1',
    attention_dp_size: '1',
    moe_tp_size: '1',
    moe_ep_size: '4',
    silicon_data_source: 'silicon_concurrency=16',
    silicon_ttft_ms: '100',
    silicon_tpot_ms: '10',
    ...o,
  });

  it('a run repeated under tp_size = tp · moe_tp beyond one NVLink node is read as the run it repeats', () => {
    const r = relabelRow(row('x', { tp_size: '16', moe_tp_size: '4' }));
    expect([r.tp_size, r.moe_tp_size, r.moe_ep_size]).toEqual(['4', '1', '4']);
    expect(rowGpus(r)).toBe(4);
    // Inside an NVL72 domain a TP group of 16 is a TP group of 16.
    expect(relabelRow(row('y', { system: 'gb200', tp_size: '16', moe_tp_size: '4' })).tp_size).toBe('16');
    expect(relabelRow(row('z', { tp_size: '16', moe_tp_size: '1' })).tp_size).toBe('16');
  });

  it('attention DP labelled the same way: adp64 moe_tp8 ep8 batch 2 is 8 ranks of 16 users', () => {
    const o = { tp_size: '1', attention_dp_size: '64', moe_tp_size: '8', moe_ep_size: '8', batch_size: '2' };
    const r = relabelRow(row('x', o));
    expect([r.attention_dp_size, r.moe_tp_size, r.batch_size]).toEqual(['8', '1', '16']);
    expect(rowGpus(r)).toBe(8);
    // Inside an NVL72 domain, or with experts not split by TP, the row means what it says.
    expect(relabelRow(row('y', { ...o, system: 'gb200' })).attention_dp_size).toBe('64');
    expect(relabelRow(row('z', { ...o, moe_tp_size: '1', moe_ep_size: '64' })).attention_dp_size).toBe('64');
  });

  it('tp4 adp4 moe_ep16 batch 16 beyond one node is the tp4 ep4 run of one rank of 64 users', () => {
    const o = { tp_size: '4', attention_dp_size: '4', moe_tp_size: '1', moe_ep_size: '16', batch_size: '16' };
    const r = relabelRow(row('x', o));
    expect([r.tp_size, r.attention_dp_size, r.moe_ep_size, r.batch_size]).toEqual(['4', '1', '4', '64']);
    expect(rowGpus(r)).toBe(4);
    // Inside an NVL72 domain, or within one node of 8 (tp2 adp2 ep4), the row means what it says.
    expect(relabelRow(row('y', { ...o, system: 'gb200' })).attention_dp_size).toBe('4');
    const small = {
      tp_size: '2',
      attention_dp_size: '2',
      moe_tp_size: '1',
      moe_ep_size: '4',
      batch_size: '8',
    };
    expect(relabelRow(row('z', small)).attention_dp_size).toBe('2');
  });

  it('rows of one configuration are one, with the median of their measurements; per row on request', () => {
    const rows = [
      row('a', { silicon_tpot_ms: '10', silicon_ttft_ms: '100' }),
      row('b', { silicon_tpot_ms: '14', silicon_ttft_ms: '300', backend_version: '0.5' }),
      row('c', { tp_size: '16', moe_tp_size: '4', silicon_tpot_ms: '12', silicon_ttft_ms: '200' }),
      row('d', { batch_size: '32', silicon_data_source: 'silicon_concurrency=32' }),
    ];
    const merged = measuredRows(rows);
    expect(merged.map((m) => [m.row.id, m.rows, m.gpus, m.tpot_ms, m.ttft_ms])).toEqual([
      ['a', 3, 4, 12, 200],
      ['d', 1, 4, 10, 100],
    ]);
    expect(measuredRows(rows, { perRow: true }).map((m) => m.gpus)).toEqual([4, 4, 16, 4]);
  });
});
