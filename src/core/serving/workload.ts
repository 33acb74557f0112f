/**
 * Workloads: a closed loop of N users (each sends its next request when the previous one completes, no think time:
 * what `vllm bench serve --max-concurrency N` and the measured data do), an open loop at a Poisson or fixed request
 * rate, or a trace of (arrival, input, output) requests. Lengths are fixed or drawn from a seeded distribution.
 */
import { drawLength, exponential, mulberry32, type LengthDist } from './rng.js';

export interface TraceRequest {
  /** Arrival time (s) from the start of the trace. */
  arrivalS: number;
  input: number;
  output: number;
  /** Prefix-cache block hashes (Mooncake), when the trace has them. */
  hashes?: readonly number[];
}

export type Workload =
  | {
      kind: 'closed';
      users: number;
      numRequests: number;
      input: LengthDist;
      output: LengthDist;
      seed: number;
    }
  | {
      kind: 'rate';
      /** Requests per second; 'poisson' draws exponential gaps, 'fixed' spaces them evenly. */
      rate: number;
      arrivals: 'poisson' | 'fixed';
      numRequests: number;
      input: LengthDist;
      output: LengthDist;
      seed: number;
    }
  | { kind: 'trace'; requests: readonly TraceRequest[]; hashBlockTokens?: number };

/** Every request of the workload, in issue order; arrival NaN where the closed loop decides it. */
export function materialise(w: Workload): TraceRequest[] {
  if (w.kind === 'trace') return [...w.requests].sort((a, b) => a.arrivalS - b.arrivalS);
  const rng = mulberry32(w.seed);
  const out: TraceRequest[] = [];
  let t = 0;
  for (let i = 0; i < w.numRequests; i++) {
    const input = drawLength(w.input, rng);
    const output = drawLength(w.output, rng);
    let arrivalS = NaN;
    if (w.kind === 'rate') {
      if (i > 0) t += w.arrivals === 'poisson' ? exponential(rng, 1 / w.rate) : 1 / w.rate;
      arrivalS = t;
    }
    out.push({ arrivalS, input, output });
  }
  return out;
}
