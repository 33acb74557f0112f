/**
 * In-sample: the shipped efficiencies were fitted to these rows, so this is a fit, not an independent test. The
 * held-out errors (each model family left out of the fit) are enforced in test/crossval-throughput.test.ts and,
 * for the serving rows, in test/crossval.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { scoreAll, summary } from '../scripts/validate.js';

describe('the estimate against every measured row (npm run validate)', () => {
  const groups = Object.fromEntries(summary(scoreAll()).map((g) => [g.group, g]));
  it('throughput rows: median absolute error of the estimate <= 15%', () => {
    expect(groups['throughput']!.estimate_median_abs_pct).toBeLessThanOrEqual(15);
  });
  it('batch-1 decode rows: median absolute error <= 10%', () => {
    expect(groups['batch1_decode']!.estimate_median_abs_pct).toBeLessThanOrEqual(10);
  });
  it('every row is covered and the ideal is never below a measurement', () => {
    const scored = scoreAll();
    expect(scored.length).toBe(127);
    for (const s of scored) expect(s.ideal).toBeGreaterThanOrEqual(s.measured);
  });
});
