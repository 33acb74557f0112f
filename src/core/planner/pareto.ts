/** The Pareto front of cost vs interactivity: no other configuration is both cheaper and faster per user. */
import type { Candidate } from './types.js';

export function paretoFront(cs: readonly Candidate[]): Candidate[] {
  const priced = cs.filter((c) => c.usd_per_million_output_tokens !== null);
  const pool = priced.length ? priced : [...cs];
  const cost = (c: Candidate) => c.usd_per_million_output_tokens ?? 1 / c.output_tokens_per_s_per_gpu;
  const sorted = [...pool].sort(
    (a, b) => cost(a) - cost(b) || b.output_tokens_per_s_per_user - a.output_tokens_per_s_per_user,
  );
  const front: Candidate[] = [];
  let best = -Infinity;
  for (const c of sorted)
    if (c.output_tokens_per_s_per_user > best) {
      front.push(c);
      best = c.output_tokens_per_s_per_user;
    }
  return front;
}
