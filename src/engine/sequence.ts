/** A sequence: prompt and generated tokens, its KV blocks and how far its cache is computed. */
import { maskKey, type SparsityMask } from './attention.js';
import type { SamplingParams } from './sampler.js';

export type SequenceStatus = 'waiting' | 'running' | 'finished';
export type FinishReason = 'stop' | 'length' | 'abort';

let nextId = 0;

export class Sequence {
  readonly id = nextId++;
  status: SequenceStatus = 'waiting';
  readonly tokenIds: number[];
  readonly numPromptTokens: number;
  /** Tokens whose K/V are in the cache (prefix-cache hits included). */
  numComputed = 0;
  /** Prompt tokens found in the prefix cache at the last allocation. */
  numCachedTokens = 0;
  /** KV block ids by position / block size; FREED (block_manager.ts) where a block fell out of the window. */
  blockTable: number[] = [];
  /** Prefix-cache hashes of the full blocks committed so far (block_manager.ts), in order. */
  blockHashes: string[] = [];
  finishReason: FinishReason | null = null;
  readonly arrivalMs = performance.now();
  firstTokenMs: number | null = null;
  finishMs: number | null = null;

  /** Seeds the prefix-cache hash chain (block_manager.ts): KV computed under a mask is only reused under it. */
  readonly cacheSalt: string | null;

  /** `sparsity`: the mask its attention runs under (the submitting session's, when it had one). */
  constructor(
    prompt: readonly number[],
    readonly params: SamplingParams,
    readonly sparsity: SparsityMask | null = null,
  ) {
    this.tokenIds = [...prompt];
    this.numPromptTokens = prompt.length;
    this.cacheSalt = maskKey(sparsity);
  }

  get length(): number {
    return this.tokenIds.length;
  }

  get completionIds(): number[] {
    return this.tokenIds.slice(this.numPromptTokens);
  }

  get numCompletionTokens(): number {
    return this.tokenIds.length - this.numPromptTokens;
  }

  get lastToken(): number {
    return this.tokenIds[this.tokenIds.length - 1]!;
  }

  numBlocks(blockSize: number): number {
    return Math.ceil(this.tokenIds.length / blockSize);
  }

  /** Tokens of block i (the last one may be partial). */
  block(i: number, blockSize: number): number[] {
    return this.tokenIds.slice(i * blockSize, (i + 1) * blockSize);
  }
}
