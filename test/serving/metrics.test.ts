import { describe, expect, it } from 'vitest';
import { GapLog, percentile, servingMetrics, weightedPercentile } from '../../src/core/serving/metrics.js';

describe('percentiles as numpy computes them (linear interpolation)', () => {
  it('interpolates between the closest ranks', () => {
    // np.percentile([1, 2, 3, 4], q): rank h = 3·q/100 → 50: 1.5 → 2.5; 90: 2.7 → 3 + 0.7 = 3.7; 99: 2.97 → 3.97
    expect(percentile([4, 1, 3, 2], 50)).toBeCloseTo(2.5, 12);
    expect(percentile([4, 1, 3, 2], 90)).toBeCloseTo(3.7, 12);
    expect(percentile([4, 1, 3, 2], 99)).toBeCloseTo(3.97, 12);
    expect(percentile([7], 90)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('weighted values give the percentile of the expanded array', () => {
    // [1, 1, 3, 3]: 50 → h 1.5 → 1 + 0.5·2 = 2; 90 → h 2.7 → 3
    expect(weightedPercentile([3, 1], [2, 2], 50)).toBeCloseTo(2, 12);
    expect(weightedPercentile([3, 1], [2, 2], 90)).toBeCloseTo(3, 12);
    // [5, 5, 5, 6]: 90 → h 2.7 → 5 + 0.7·1 = 5.7
    expect(weightedPercentile([5, 6, 9], [3, 1, 0], 90)).toBeCloseTo(5.7, 12);
  });

  it('the gap log pools gaps with their counts', () => {
    const g = new GapLog();
    g.add(0.012, 2);
    g.add(0.015, 1);
    g.add(0.011, 1);
    // [0.011, 0.012, 0.012, 0.015]: median 0.012, mean 0.05 / 4 = 0.0125
    const d = g.dist();
    expect(d.p50).toBeCloseTo(0.012, 12);
    expect(d.mean).toBeCloseTo(0.0125, 12);
  });
});

describe('servingMetrics (vLLM benchmark_serving definitions)', () => {
  // A: sent 0, scheduled 0, first token 0.1, done 0.5, 5 tokens → TTFT 0.1, TPOT (0.5 − 0.1)/4 = 0.1, E2E 0.5
  // B: sent 0.2, scheduled 0.3, first token 0.4, done 0.4, 1 token → TTFT 0.2, no TPOT, E2E 0.2
  const times = {
    arrival: [0, 0.2],
    scheduled: [0, 0.3],
    firstToken: [0.1, 0.4],
    finish: [0.5, 0.4],
    outputLen: [5, 1],
    inputLen: [100, 50],
  };

  it('TTFT, its queueing and prefill parts, TPOT, E2E', () => {
    const m = servingMetrics(times, 0.5, null);
    expect(m.ttft_s.p50).toBeCloseTo(0.15, 12);
    expect(m.ttft_s.mean).toBeCloseTo(0.15, 12);
    expect(m.queue_s.mean).toBeCloseTo(0.05, 12); // 0 and 0.1
    expect(m.prefill_s.mean).toBeCloseTo(0.1, 12); // 0.1 and 0.1
    expect(m.tpot_s.p50).toBeCloseTo(0.1, 12); // only A has more than one token
    expect(m.e2e_s.p99).toBeCloseTo(0.2 + 0.99 * 0.3, 12);
  });

  it('throughput over the benchmark duration', () => {
    const m = servingMetrics(times, 0.5, null);
    expect(m.request_throughput_per_s).toBeCloseTo(4, 12); // 2 / 0.5
    expect(m.output_tokens_per_s).toBeCloseTo(12, 12); // 6 / 0.5
    expect(m.input_tokens_per_s).toBeCloseTo(300, 12); // 150 / 0.5
  });

  it('goodput counts requests within every limit; a one-token request has TPOT 0', () => {
    expect(servingMetrics(times, 0.5, null, { ttftS: 0.15 }).goodput_requests_per_s).toBeCloseTo(2, 12); // A
    expect(servingMetrics(times, 0.5, null, { ttftS: 0.25, tpotS: 0.05 }).goodput_requests_per_s).toBeCloseTo(
      2,
      12,
    ); // B only: A's TPOT 0.1 > 0.05
    expect(servingMetrics(times, 0.5, null, {}).goodput_requests_per_s).toBeCloseTo(4, 12);
  });

  it('leaves warm-up requests out', () => {
    const m = servingMetrics(times, 0.3, null, {}, [1]);
    expect(m.completed).toBe(1);
    expect(m.ttft_s.p50).toBeCloseTo(0.2, 12);
    expect(m.tpot_s.p50).toBeNaN();
  });
});
