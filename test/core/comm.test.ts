/** α–β collectives by hand, with the efficiency (bandwidth share) and α scale the calibrated estimate passes. */
import { describe, expect, it } from 'vitest';
import { allGatherS, allReduceS, allToAllS, p2pS, reduceScatterS } from '../../src/core/perf/comm.js';

const link = { name: 'test', bandwidthBytesPerS: 1e11, latencyS: 3e-6 };

describe('collectives at half bandwidth and twice the latency (eff 0.5, alpha 2)', () => {
  it('all-gather / reduce-scatter / all-to-all of 8 MB over 4: 3 · 6e-6 + 3/4 · 8e6 / 5e10', () => {
    for (const f of [allGatherS, reduceScatterS, allToAllS]) {
      expect(f(8e6, 4, link, 0.5, 2)).toBeCloseTo(1.8e-5 + 1.2e-4, 15);
      expect(f(8e6, 4, link)).toBeCloseTo(9e-6 + 6e-5, 15);
      expect(f(0, 4, link)).toBe(0);
      expect(f(8e6, 1, link)).toBe(0);
    }
  });
  it('point-to-point: α · 2 + M / (B · 0.5); nothing to send costs nothing', () => {
    expect(p2pS(1e6, link, 0.5, 2)).toBeCloseTo(6e-6 + 2e-5, 15);
    expect(p2pS(1e6, link, 1, 0)).toBeCloseTo(1e-5, 15);
    expect(p2pS(0, link)).toBe(0);
  });
  it('all-reduce picks ring, tree or one-shot, each under the same eff and alpha', () => {
    // 1 kB over 4: ring 6 · 6e-6 + 1.5 · 2e-8; tree 4 · 6e-6 + 2 · 2e-8; one-shot 2 · 6e-6 + 3 · 2e-8 (wins).
    expect(allReduceS(1e3, 4, link, 0.5, 2)).toBeCloseTo(1.2e-5 + 6e-8, 15);
    // 1 MB over 8: ring 14 · 6e-6 + 1.75 · 2e-5; tree 6 · 6e-6 + 2 · 2e-5 (wins); one-shot 2 · 6e-6 + 7 · 2e-5.
    expect(allReduceS(1e6, 8, link, 0.5, 2)).toBeCloseTo(3.6e-5 + 4e-5, 15);
    // 1 GB over 8: the ring, 14 · 6e-6 + 1.75 · 2e-2.
    expect(allReduceS(1e9, 8, link, 0.5, 2)).toBeCloseTo(8.4e-5 + 3.5e-2, 12);
    expect(allReduceS(0, 8, link)).toBe(0);
    expect(allReduceS(1e6, 1, link)).toBe(0);
  });
});
