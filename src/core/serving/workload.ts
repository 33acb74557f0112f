/**
 * Workloads: a closed loop of N users (each sends its next request when the previous one completes, no think time:
 * what `vllm bench serve --max-concurrency N` and the measured data do), an open loop at a Poisson or fixed request
 * rate, or a trace of (arrival, input, output) requests. Lengths are fixed or drawn from a seeded distribution.
 */
import { InputError } from '../memory/inference.js';
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
  | {
      kind: 'trace';
      requests: readonly TraceRequest[];
      hashBlockTokens?: number;
      /** Replay by a closed loop of this many users, in order, ignoring arrival times (traces without any). */
      users?: number;
    };

/** Every request of the workload, in issue order; arrival NaN where the closed loop decides it. */
export function materialise(w: Workload): TraceRequest[] {
  if (w.kind === 'trace')
    return w.users !== undefined
      ? w.requests.map((q) => ({ ...q, arrivalS: NaN }))
      : [...w.requests].sort((a, b) => a.arrivalS - b.arrivalS);
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

function positiveInt(field: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 1 || v > max)
    throw new InputError(`${field} must be an integer from 1 to ${max} (got ${v})`);
}

function checkLength(field: string, d: LengthDist): void {
  const max = 10_000_000;
  if (d.kind === 'fixed') return positiveInt(field, d.value, max);
  positiveInt(`${field}.min`, d.min, max);
  positiveInt(`${field}.max`, d.max, max);
  if (d.min > d.max) throw new InputError(`${field}: min ${d.min} exceeds max ${d.max}`);
  if (d.kind === 'normal' && !(d.std >= 0 && Number.isFinite(d.mean)))
    throw new InputError(`${field}: std must be ≥ 0 and mean finite`);
  if (d.kind === 'lognormal' && !(d.sigma >= 0 && d.median > 0))
    throw new InputError(`${field}: sigma must be ≥ 0 and median > 0`);
}

/** Throws an InputError naming the first field that is out of range. */
export function checkWorkload(w: Workload, maxRequests: number): void {
  if (w.kind === 'trace') {
    if (w.users !== undefined) positiveInt('users', w.users, 1_000_000);
    if (w.requests.length > maxRequests)
      throw new InputError(`the trace has more than ${maxRequests} requests`);
    if (w.users === undefined && w.requests.some((q) => !Number.isFinite(q.arrivalS)))
      throw new InputError(
        'the trace has no arrival times: replay it with a number of users (a closed loop)',
      );
    return;
  }
  positiveInt('num_requests', w.numRequests, maxRequests);
  if (w.kind === 'closed') positiveInt('users', w.users, 1_000_000);
  else if (!(w.rate > 0 && Number.isFinite(w.rate)))
    throw new InputError(`rate must be a positive number of requests per second (got ${w.rate})`);
  checkLength('input', w.input);
  checkLength('output', w.output);
}
