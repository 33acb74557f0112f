/**
 * Data-parallel serving: perf() times one replica (tp · pp · ep · cp devices); dp replicas serve independent
 * requests with no traffic between them, so the plan's aggregate output rate is dp times one replica's.
 */
import { Trace, type TraceEntry } from '../explain.js';
import type { PerfResult } from './latency.js';

export interface ReplicaRates {
  estimate: number;
  ideal: number;
  trace: TraceEntry[];
}

export function replicaRates(r: PerfResult, dp: number, explain = false): ReplicaRates {
  const trace = new Trace(explain);
  const formula =
    'dp · tokens_per_s of one replica: the performance model times one tp·pp·ep·cp replica; the dp replicas ' +
    'serve independent requests with no communication between them';
  const rate = (k: 'estimate' | 'ideal', one: number) =>
    trace.add(`aggregate_tokens_per_s (${k})`, dp * one, 'tokens/s', formula, {
      dp,
      replica_tokens_per_s: one,
    });
  return {
    estimate: rate('estimate', r.tokens_per_s),
    ideal: rate('ideal', r.ideal.tokens_per_s),
    trace: trace.entries,
  };
}
