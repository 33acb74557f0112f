/**
 * Metrics exactly as vLLM's benchmark defines them (vllm/benchmarks/serve.py, calculate_metrics):
 * - TTFT per request: first token time − request send time.
 * - TPOT per request: (e2e − ttft) / (output_len − 1), only for requests with more than one output token.
 * - ITL: every gap between consecutive tokens of every request, pooled.
 * - E2E latency: last token time − send time.
 * - request throughput = completed / duration; output token throughput = Σ output tokens / duration, where
 *   duration is the benchmark's wall time (first send to last completion).
 * - goodput: requests meeting every given SLO (ttft ≤ limit, tpot ≤ limit) / duration.
 * Percentiles use numpy's default (linear interpolation between closest ranks); the "median" is the 50th.
 */

/** numpy.percentile(values, p) with the default 'linear' method; `sorted` ascending. NaN when empty. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = ((n - 1) * p) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export function percentile(values: ArrayLike<number>, p: number): number {
  return percentileSorted(Float64Array.from(values).sort(), p);
}

/**
 * numpy.percentile over values given with integer multiplicities (the array each value repeated `weight` times),
 * without expanding it: find the two closest ranks in the cumulative weights.
 */
export function weightedPercentile(values: ArrayLike<number>, weights: ArrayLike<number>, p: number): number {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).filter((i) => weights[i]! > 0);
  order.sort((a, b) => values[a]! - values[b]!);
  let total = 0;
  for (const i of order) total += weights[i]!;
  if (total === 0) return NaN;
  const h = ((total - 1) * p) / 100;
  const lo = Math.floor(h);
  const at = (rank: number): number => {
    let c = 0;
    for (const i of order) {
      c += weights[i]!;
      if (rank < c) return values[i]!;
    }
    return values[order[order.length - 1]!]!;
  };
  const a = at(lo);
  const b = lo + 1 < total ? at(lo + 1) : a;
  return a + (h - lo) * (b - a);
}

function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return xs.length ? s / xs.length : NaN;
}

export interface Dist {
  mean: number;
  p50: number;
  p90: number;
  p99: number;
}

export function dist(values: ArrayLike<number>): Dist {
  const s = Float64Array.from(values).sort();
  return {
    mean: mean(s),
    p50: percentileSorted(s, 50),
    p90: percentileSorted(s, 90),
    p99: percentileSorted(s, 99),
  };
}

/** Inter-token gaps as (value, count) pairs: decode runs add one entry per step with the batch as its count. */
export class GapLog {
  values: number[] = [];
  counts: number[] = [];
  add(value: number, count: number): void {
    if (count > 0) {
      this.values.push(value);
      this.counts.push(count);
    }
  }
  dist(): Dist {
    let s = 0;
    let n = 0;
    for (let i = 0; i < this.values.length; i++) {
      s += this.values[i]! * this.counts[i]!;
      n += this.counts[i]!;
    }
    return {
      mean: n ? s / n : NaN,
      p50: weightedPercentile(this.values, this.counts, 50),
      p90: weightedPercentile(this.values, this.counts, 90),
      p99: weightedPercentile(this.values, this.counts, 99),
    };
  }
}

/** Per-request timestamps (s) the simulator records; one entry per measured request. */
export interface RequestTimes {
  arrival: ArrayLike<number>;
  /** When the scheduler first gave the request a prefill chunk. */
  scheduled: ArrayLike<number>;
  firstToken: ArrayLike<number>;
  finish: ArrayLike<number>;
  outputLen: ArrayLike<number>;
  inputLen: ArrayLike<number>;
}

export interface Slo {
  ttftS?: number;
  tpotS?: number;
}

export interface ServingMetrics {
  completed: number;
  duration_s: number;
  ttft_s: Dist;
  /** TTFT = queueing (arrival → first scheduled) + prefill (first scheduled → first token). */
  queue_s: Dist;
  prefill_s: Dist;
  tpot_s: Dist;
  itl_s: Dist;
  e2e_s: Dist;
  request_throughput_per_s: number;
  output_tokens_per_s: number;
  input_tokens_per_s: number;
  goodput_requests_per_s: number;
}

/**
 * The benchmark's figures over the requests whose index is in `measured` (all when omitted). `duration_s` is the
 * wall time the benchmark ran (vLLM: from its start to the last completion).
 */
export function servingMetrics(
  t: RequestTimes,
  durationS: number,
  gaps: GapLog | null,
  slo: Slo = {},
  measured?: readonly number[],
): ServingMetrics {
  const idx = measured ?? Array.from({ length: t.arrival.length }, (_, i) => i);
  const ttft: number[] = [];
  const queue: number[] = [];
  const prefill: number[] = [];
  const tpot: number[] = [];
  const e2e: number[] = [];
  let out = 0;
  let inp = 0;
  let good = 0;
  for (const i of idx) {
    const f = t.firstToken[i]! - t.arrival[i]!;
    const e = t.finish[i]! - t.arrival[i]!;
    ttft.push(f);
    queue.push(t.scheduled[i]! - t.arrival[i]!);
    prefill.push(t.firstToken[i]! - t.scheduled[i]!);
    e2e.push(e);
    const n = t.outputLen[i]!;
    out += n;
    inp += t.inputLen[i]!;
    // vLLM: tpot only where output_len > 1; a one-token request meets any TPOT limit (its tpot counts as 0).
    const tp = n > 1 ? (e - f) / (n - 1) : 0;
    if (n > 1) tpot.push(tp);
    if ((slo.ttftS === undefined || f <= slo.ttftS) && (slo.tpotS === undefined || tp <= slo.tpotS)) good++;
  }
  const d = durationS > 0 ? durationS : NaN;
  return {
    completed: idx.length,
    duration_s: durationS,
    ttft_s: dist(ttft),
    queue_s: dist(queue),
    prefill_s: dist(prefill),
    tpot_s: dist(tpot),
    itl_s: gaps ? gaps.dist() : { mean: NaN, p50: NaN, p90: NaN, p99: NaN },
    e2e_s: dist(e2e),
    request_throughput_per_s: idx.length / d,
    output_tokens_per_s: out / d,
    input_tokens_per_s: inp / d,
    goodput_requests_per_s: good / d,
  };
}
