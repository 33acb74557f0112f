/**
 * Custom batch scheduling: order a set of requests by a policy (FCFS, priority — lower value first — or
 * shortest-first by prompt + max tokens), then run them through the engine with at most `maxBatchSize` in flight,
 * admitting the next in order as soon as one finishes, and report the order and the measured latencies.
 */
import type { SparsityMask } from '../attention.js';
import type { Engine } from '../engine.js';

export const SCHEDULE_ALGORITHMS = ['fcfs', 'priority_queue', 'shortest_first'] as const;
export type ScheduleAlgorithm = (typeof SCHEDULE_ALGORITHMS)[number];

export interface ScheduleRequest {
  prompt: string;
  priority: number;
  maxTokens: number;
}

export function scheduleOrder(
  engine: Engine,
  reqs: readonly ScheduleRequest[],
  algorithm: ScheduleAlgorithm,
): number[] {
  const idx = reqs.map((_, i) => i);
  if (algorithm === 'priority_queue')
    return idx.sort((a, b) => reqs[a]!.priority - reqs[b]!.priority || a - b);
  if (algorithm === 'shortest_first') {
    const cost = reqs.map((r) => engine.tokenizer.encode(r.prompt).length + r.maxTokens);
    return idx.sort((a, b) => cost[a]! - cost[b]! || a - b);
  }
  return idx;
}

export interface ScheduledResult {
  index: number;
  position: number;
  text: string;
  prompt_tokens: number;
  completion_tokens: number;
  queue_ms: number;
  ttft_ms: number;
  latency_ms: number;
}

export async function runSchedule(
  engine: Engine,
  reqs: readonly ScheduleRequest[],
  algorithm: ScheduleAlgorithm,
  maxBatchSize: number,
  temperature: number,
  sparsity: SparsityMask | null = null,
) {
  const order = scheduleOrder(engine, reqs, algorithm);
  const t0 = performance.now();
  const results: ScheduledResult[] = new Array(reqs.length);
  let next = 0;
  const worker = async () => {
    while (next < order.length) {
      const position = next++;
      const i = order[position]!;
      const admitted = performance.now();
      const r = await engine.generate(
        reqs[i]!.prompt,
        { maxTokens: reqs[i]!.maxTokens, temperature, seed: i },
        null,
        sparsity,
      );
      results[i] = {
        index: i,
        position,
        text: r.text,
        prompt_tokens: r.promptTokens,
        completion_tokens: r.completionTokens,
        queue_ms: admitted - t0,
        ttft_ms: admitted - t0 + r.ttftMs,
        latency_ms: admitted - t0 + r.latencyMs,
      };
    }
  };
  await Promise.all(Array.from({ length: Math.min(maxBatchSize, reqs.length) }, worker));
  const total = performance.now() - t0;
  const lat = results.map((r) => r.latency_ms);
  const tokens = results.reduce((a, r) => a + r.completion_tokens, 0);
  return {
    algorithm,
    order,
    results,
    total_ms: total,
    mean_latency_ms: lat.reduce((a, b) => a + b, 0) / lat.length,
    max_latency_ms: Math.max(...lat),
    throughput_tokens_per_s: total > 0 ? (tokens * 1000) / total : 0,
  };
}
