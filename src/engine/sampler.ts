/**
 * Sampling: greedy at temperature 0, otherwise softmax(logits / T) restricted to the top-k tokens and then to the
 * smallest set whose probability reaches top-p, drawn with a per-sequence seeded generator (same seed, same
 * tokens). Stop strings and max tokens are checked by the engine on the decoded text.
 */
export interface SamplingParams {
  temperature: number;
  topK: number;
  topP: number;
  seed: number | null;
  maxTokens: number;
  stop: string[];
  ignoreEos: boolean;
  /** Added to a token's logit before sampling (OpenAI's logit_bias: token id → -100..100). */
  logitBias: ReadonlyMap<number, number> | null;
  /** OpenAI's penalties on the completion so far: logit -= count × frequency + (count > 0) × presence. */
  frequencyPenalty: number;
  presencePenalty: number;
  /** Alternatives to report per sampled token; null: no logprobs at all, 0: the sampled token's only. */
  logprobs: number | null;
}

export const DEFAULT_SAMPLING: SamplingParams = {
  temperature: 1,
  topK: 0,
  topP: 1,
  seed: null,
  maxTokens: 16,
  stop: [],
  ignoreEos: false,
  logitBias: null,
  frequencyPenalty: 0,
  presencePenalty: 0,
  logprobs: null,
};

/** mulberry32: small, fast, good enough for sampling; deterministic per seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** The candidate tokens and their probabilities after temperature, top-k and top-p, most likely first. */
export function candidates(row: ArrayLike<number>, p: SamplingParams): { ids: number[]; probs: number[] } {
  const n = row.length;
  let ids = Array.from({ length: n }, (_, i) => i).sort((a, b) => row[b]! - row[a]! || a - b);
  if (p.topK > 0 && p.topK < n) ids = ids.slice(0, p.topK);
  const max = row[ids[0]!]!;
  let probs = ids.map((i) => Math.exp((row[i]! - max) / p.temperature));
  let sum = probs.reduce((a, b) => a + b, 0);
  probs = probs.map((x) => x / sum);
  if (p.topP < 1) {
    let acc = 0;
    let keep = 0;
    while (keep < probs.length && acc < p.topP) acc += probs[keep++]!;
    ids = ids.slice(0, Math.max(1, keep));
    probs = probs.slice(0, ids.length);
    sum = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((x) => x / sum);
  }
  return { ids, probs };
}

export function sample(row: ArrayLike<number>, p: SamplingParams, rng: Rng): number {
  if (p.temperature === 0) return argmax(row);
  const { ids, probs } = candidates(row, p);
  let r = rng.next();
  for (let i = 0; i < ids.length; i++) {
    r -= probs[i]!;
    if (r < 0) return ids[i]!;
  }
  return ids[ids.length - 1]!;
}
