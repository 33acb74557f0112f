/** The flat, snake_case figures the CLI (--json) and the API return for a simulation, in milliseconds at the edge. */
import type { ServingResult } from './index.js';
import type { ServingMetrics } from './metrics.js';

export interface ServingFigures {
  ttft_ms: number;
  ttft_ms_mean: number;
  ttft_ms_p90: number;
  ttft_ms_p99: number;
  /** TTFT's two parts (medians): waiting for the first schedule, then prefill until the first token. */
  queue_ms: number;
  prefill_ms: number;
  tpot_ms: number;
  tpot_ms_mean: number;
  tpot_ms_p90: number;
  tpot_ms_p99: number;
  itl_ms: number;
  itl_ms_mean: number;
  itl_ms_p90: number;
  itl_ms_p99: number;
  e2e_ms: number;
  e2e_ms_mean: number;
  e2e_ms_p90: number;
  e2e_ms_p99: number;
  request_throughput_per_s: number;
  output_tokens_per_s: number;
  output_tokens_per_s_per_gpu: number;
  /** What one user sees while its answer streams: 1 / median TPOT. */
  output_tokens_per_s_per_user: number;
  goodput_requests_per_s: number;
  completed: number;
  duration_s: number;
}

const ms = (s: number) => (Number.isFinite(s) ? s * 1e3 : NaN);

export function figures(m: ServingMetrics, gpus: number): ServingFigures {
  return {
    ttft_ms: ms(m.ttft_s.p50),
    ttft_ms_mean: ms(m.ttft_s.mean),
    ttft_ms_p90: ms(m.ttft_s.p90),
    ttft_ms_p99: ms(m.ttft_s.p99),
    queue_ms: ms(m.queue_s.p50),
    prefill_ms: ms(m.prefill_s.p50),
    tpot_ms: ms(m.tpot_s.p50),
    tpot_ms_mean: ms(m.tpot_s.mean),
    tpot_ms_p90: ms(m.tpot_s.p90),
    tpot_ms_p99: ms(m.tpot_s.p99),
    itl_ms: ms(m.itl_s.p50),
    itl_ms_mean: ms(m.itl_s.mean),
    itl_ms_p90: ms(m.itl_s.p90),
    itl_ms_p99: ms(m.itl_s.p99),
    e2e_ms: ms(m.e2e_s.p50),
    e2e_ms_mean: ms(m.e2e_s.mean),
    e2e_ms_p90: ms(m.e2e_s.p90),
    e2e_ms_p99: ms(m.e2e_s.p99),
    request_throughput_per_s: m.request_throughput_per_s,
    output_tokens_per_s: m.output_tokens_per_s,
    output_tokens_per_s_per_gpu: m.output_tokens_per_s / gpus,
    output_tokens_per_s_per_user: m.tpot_s.p50 > 0 ? 1 / m.tpot_s.p50 : NaN,
    goodput_requests_per_s: m.goodput_requests_per_s,
    completed: m.completed,
    duration_s: m.duration_s,
  };
}

/** NaN (no request had two tokens, say) becomes null in JSON. */
export function jsonSafe<T extends object>(o: T): { [K in keyof T]: T[K] | null } {
  const out = {} as { [K in keyof T]: T[K] | null };
  for (const [k, v] of Object.entries(o))
    (out as Record<string, unknown>)[k] = typeof v === 'number' && !Number.isFinite(v) ? null : v;
  return out;
}

export function report(r: ServingResult) {
  return {
    ...jsonSafe(figures(r.estimate, r.gpus)),
    gpus: r.gpus,
    ideal: r.ideal ? jsonSafe(figures(r.ideal, r.gpus)) : null,
    kv_tokens_per_rank: r.kv_tokens_per_rank,
    steps: r.steps,
    preemptions: r.preemptions,
  };
}
