/**
 * The crossval report's groups (validation/crossval.ts summariseServing): median absolute errors per mode, engine,
 * system, model and, for disaggregated rows, whether the decode workers were stated or assumed. Worked by hand.
 */
import { describe, expect, it } from 'vitest';
import { summariseServing, type ServingError } from '../src/validation/crossval.js';

const row = (o: Partial<ServingError>): ServingError => ({
  id: 'x',
  family: 'F',
  mode: 'disagg',
  engine: 'trtllm',
  system: 'b200_sxm',
  ttft: 0,
  tpot: 0,
  ...o,
});

describe('summariseServing', () => {
  it('splits disaggregated rows by stated and assumed workers; aggregated rows have no such group', () => {
    const s = summariseServing([
      row({ workers: 'stated', ttft: 0.1, tpot: -0.2 }),
      row({ workers: 'stated', ttft: -0.3, tpot: 0.4 }),
      row({ workers: 'assumed', ttft: 0.5, tpot: 0.6 }),
      row({ mode: 'agg', ttft: -0.7, tpot: 0.8 }),
    ]);
    const g = Object.fromEntries(s.map((x) => [x.group, x]));
    // Stated: |0.1|, |−0.3| → median 20%; TPOT |−0.2|, |0.4| → 30%.
    expect(g['disagg workers=stated']!.rows).toBe(2);
    expect(g['disagg workers=stated']!.ttft_median_abs_pct).toBeCloseTo(20, 9);
    expect(g['disagg workers=stated']!.tpot_median_abs_pct).toBeCloseTo(30, 9);
    expect(g['disagg workers=assumed']!.ttft_median_abs_pct).toBeCloseTo(50, 9);
    expect(g['disagg']!.rows).toBe(3);
    expect(g['disagg']!.ttft_median_abs_pct).toBeCloseTo(30, 9);
    expect(g['agg']!.ttft_median_abs_pct).toBeCloseTo(70, 9);
    expect(s.some((x) => x.group.startsWith('agg workers'))).toBe(false);
  });
});
