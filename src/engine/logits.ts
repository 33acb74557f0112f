/**
 * What happens to a row of logits around sampling: OpenAI's logit_bias and frequency/presence penalties before it,
 * and log-probabilities after it (of the model's own distribution, before bias, penalties and temperature, as
 * vLLM reports them by default).
 */
import type { SamplingParams } from './sampler.js';

/** The row the sampler sees: `row` itself when nothing applies, else a copy with bias and penalties added. */
export function processLogits(
  row: Float32Array,
  p: SamplingParams,
  counts: ReadonlyMap<number, number>,
): Float32Array {
  const penalize = (p.frequencyPenalty !== 0 || p.presencePenalty !== 0) && counts.size > 0;
  if (!p.logitBias?.size && !penalize) return row;
  const out = Float32Array.from(row);
  if (penalize)
    for (const [id, c] of counts)
      out[id] = out[id]! - c * p.frequencyPenalty - (c > 0 ? p.presencePenalty : 0);
  if (p.logitBias) for (const [id, b] of p.logitBias) out[id] = out[id]! + b;
  return out;
}

export interface TokenLogprob {
  id: number;
  logprob: number;
  /** The most likely tokens at this position, most likely first (empty when none were asked for). */
  top: { id: number; logprob: number }[];
}

/** log Σ exp(row), stably. */
function logSumExp(row: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return max + Math.log(sum);
}

/** The k largest entries' indices, largest first (ties: lower id first). */
function topK(row: ArrayLike<number>, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < row.length; i++) {
    if (best.length === k && row[i]! <= row[best[k - 1]!]!) continue;
    let at = best.length;
    while (at > 0 && row[best[at - 1]!]! < row[i]!) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}

export function tokenLogprob(row: ArrayLike<number>, id: number, k: number): TokenLogprob {
  const lse = logSumExp(row);
  return {
    id,
    logprob: row[id]! - lse,
    top: k > 0 ? topK(row, k).map((t) => ({ id: t, logprob: row[t]! - lse })) : [],
  };
}
