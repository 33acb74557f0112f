/**
 * One generation request in flight: its sequence, sampler state, the text decoded so far, the stop-string and
 * length checks, and the streaming callback that receives text as it becomes final.
 */
import type { SparsityMask } from './attention.js';
import type { TokenLogprob } from './logits.js';
import { Rng, type SamplingParams } from './sampler.js';
import { Sequence, type FinishReason } from './sequence.js';
import type { Tokenizer } from './tokenizer.js';

export interface GenerationResult {
  text: string;
  promptTokenIds: number[];
  tokenIds: number[];
  promptTokens: number;
  completionTokens: number;
  cachedPromptTokens: number;
  finishReason: FinishReason;
  /** Per completion token, when the request asked for logprobs (SamplingParams.logprobs not null). */
  logprobs: TokenLogprob[] | null;
  ttftMs: number;
  latencyMs: number;
}

export type DeltaCallback = (delta: string) => void;

/** Length of the longest suffix of `text` that starts some stop string (held back while streaming). */
function partialStop(text: string, stops: readonly string[]): number {
  let hold = 0;
  for (const s of stops)
    for (let n = Math.min(s.length - 1, text.length); n > hold; n--)
      if (text.endsWith(s.slice(0, n))) {
        hold = n;
        break;
      }
  return hold;
}

export class Request {
  readonly seq: Sequence;
  readonly rng: Rng;
  text = '';
  /** How often each token occurs in the completion so far (the penalties read it). */
  readonly counts = new Map<number, number>();
  readonly logprobs: TokenLogprob[] = [];
  private emitted = 0;
  private resolveFn!: (r: GenerationResult) => void;
  private rejectFn!: (e: Error) => void;
  readonly done: Promise<GenerationResult>;

  constructor(
    prompt: readonly number[],
    readonly params: SamplingParams,
    private readonly tokenizer: Tokenizer,
    private readonly eos: ReadonlySet<number>,
    private readonly maxModelLen: number,
    private readonly onDelta: DeltaCallback | null,
    sparsity: SparsityMask | null = null,
  ) {
    this.seq = new Sequence(prompt, params, sparsity);
    this.rng = new Rng(params.seed ?? (Math.random() * 2 ** 32) >>> 0);
    this.done = new Promise((res, rej) => {
      this.resolveFn = res;
      this.rejectFn = rej;
    });
  }

  /** Take a newly sampled token; returns the finish reason when the request is complete. */
  accept(token: number, logprob: TokenLogprob | null = null): FinishReason | null {
    const s = this.seq;
    s.firstTokenMs ??= performance.now();
    s.tokenIds.push(token);
    if (!this.params.ignoreEos && this.eos.has(token)) {
      s.tokenIds.pop();
      this.text = this.tokenizer.decode(s.completionIds);
      return 'stop';
    }
    this.counts.set(token, (this.counts.get(token) ?? 0) + 1);
    if (logprob) this.logprobs.push(logprob);
    this.text = this.tokenizer.decode(s.completionIds);
    for (const stop of this.params.stop) {
      const at = this.text.indexOf(stop, Math.max(0, this.emitted - stop.length));
      if (at >= 0) {
        this.text = this.text.slice(0, at);
        return 'stop';
      }
    }
    if (s.numCompletionTokens >= this.params.maxTokens || s.length >= this.maxModelLen) return 'length';
    this.flush(false);
    return null;
  }

  /** Send the text that can no longer change (not a partial UTF-8 character, not a partial stop string). */
  private flush(final: boolean): void {
    if (!this.onDelta) return;
    let end = this.text.length;
    if (!final) {
      while (end > this.emitted && this.text[end - 1] === '\uFFFD') end--;
      end -= partialStop(this.text.slice(0, end), this.params.stop);
    }
    if (end > this.emitted) {
      this.onDelta(this.text.slice(this.emitted, end));
      this.emitted = end;
    }
  }

  finish(reason: FinishReason): void {
    const s = this.seq;
    s.finishReason = reason;
    s.finishMs = performance.now();
    this.flush(true);
    this.resolveFn({
      text: this.text,
      promptTokenIds: s.tokenIds.slice(0, s.numPromptTokens),
      tokenIds: s.completionIds,
      promptTokens: s.numPromptTokens,
      completionTokens: s.numCompletionTokens,
      cachedPromptTokens: this.cachedPromptTokens,
      finishReason: reason,
      logprobs: this.params.logprobs === null ? null : this.logprobs,
      ttftMs: (s.firstTokenMs ?? s.finishMs) - s.arrivalMs,
      latencyMs: s.finishMs - s.arrivalMs,
    });
  }

  fail(e: Error): void {
    this.seq.finishReason = 'abort';
    this.rejectFn(e);
  }

  /** Prompt tokens served from the prefix cache at first scheduling. */
  cachedPromptTokens = 0;
}
