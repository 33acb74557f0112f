/**
 * The engine: loads a checkpoint directory, owns the model, the KV cache and its block manager, the scheduler and
 * the profiler, and runs the continuous-batching loop. Requests are submitted at any time; each loop step
 * schedules a batch, runs one forward per sparsity mask in it, samples one token per sequence and retires
 * finished sequences. A sparsity mask belongs to a request (its client session's), never to the engine.
 */
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { AttentionHooks, SparsityMask } from './attention.js';
import { BlockManager } from './block_manager.js';
import { readModelConfig, type ModelConfig } from './config.js';
import { KvCache } from './kv_cache.js';
import { processLogits, tokenLogprob, type TokenLogprob } from './logits.js';
import { Model } from './model.js';
import { Profiler } from './profiler.js';
import { Request, type DeltaCallback } from './request.js';
import { readCheckpoint } from './safetensors.js';
import { DEFAULT_SAMPLING, sample, type SamplingParams } from './sampler.js';
import { Scheduler, type ScheduledBatch } from './scheduler.js';
import type { Sequence } from './sequence.js';
import { ChatTemplateError } from './chat_template.js';
import { Tokenizer, type ChatMessage } from './tokenizer.js';
import { bindWeights } from './weights.js';

export interface EngineOptions {
  /** Tokens per KV block. */
  blockSize?: number;
  /** KV-cache budget in bytes (rounded down to whole blocks). Default: room for maxNumSeqs full-length sequences. */
  kvCacheBytes?: number;
  maxNumSeqs?: number;
  maxBatchedTokens?: number;
  /** Longest sequence (prompt + completion). Default: min(max positions, 2048). */
  maxModelLen?: number;
  threads?: number;
  /** Name reported by /model_info and /v1/models; default: the directory name. */
  name?: string;
}

export class EngineError extends Error {}

export interface SubmissionLimits {
  vocabSize: number;
  maxModelLen: number;
  blockSize: number;
  numBlocks: number;
}

/** Refuses (EngineError) a prompt the engine cannot run: empty, ids outside the vocabulary, too long for it. */
export function checkSubmission(ids: readonly number[], params: SamplingParams, l: SubmissionLimits): void {
  if (ids.length === 0) throw new EngineError('prompt is empty after tokenization');
  for (const id of ids)
    if (!Number.isInteger(id) || id < 0 || id >= l.vocabSize)
      throw new EngineError(`token id ${id} is outside the vocabulary (0..${l.vocabSize - 1})`);
  for (const id of params.logitBias?.keys() ?? [])
    if (!Number.isInteger(id) || id < 0 || id >= l.vocabSize)
      throw new EngineError(`logit_bias names token ${id}, outside the vocabulary (0..${l.vocabSize - 1})`);
  if (ids.length >= l.maxModelLen)
    throw new EngineError(`prompt has ${ids.length} tokens; the limit is ${l.maxModelLen - 1}`);
  const blocksNeeded = Math.ceil(Math.min(ids.length + params.maxTokens, l.maxModelLen) / l.blockSize);
  if (blocksNeeded > l.numBlocks)
    throw new EngineError(`request needs ${blocksNeeded} KV blocks; the cache has ${l.numBlocks}`);
}

/** A promise-chain lock: model execution (the loop's steps and research forwards) never interleaves. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** Indices of `seqs` grouped by sparsity mask (equal masks together), unmasked first, in order within a group. */
function groupByMask(seqs: readonly Sequence[]): number[][] {
  const groups = new Map<string | null, number[]>([[null, []]]);
  seqs.forEach((s, i) => {
    const k = s.cacheSalt;
    const g = groups.get(k);
    if (g) g.push(i);
    else groups.set(k, [i]);
  });
  return [...groups.values()].filter((g) => g.length > 0);
}

export class Engine {
  readonly profiler = new Profiler();
  readonly cache: KvCache;
  readonly blocks: BlockManager;
  readonly scheduler: Scheduler;
  readonly maxModelLen: number;
  readonly eos: Set<number>;
  peakActivationBytes = 0;
  private readonly lock = new Mutex();
  private readonly requests = new Map<number, Request>();
  private looping = false;
  steps = 0;
  generatedTokens = 0;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly rawConfig: Record<string, unknown>,
    readonly config: ModelConfig,
    readonly model: Model,
    readonly tokenizer: Tokenizer,
    o: EngineOptions,
  ) {
    const c = config;
    for (const k of ['blockSize', 'kvCacheBytes', 'maxNumSeqs', 'maxBatchedTokens', 'maxModelLen'] as const) {
      const v = o[k];
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 1))
        throw new EngineError(`${k} must be a positive integer (got ${v})`);
    }
    if (o.maxModelLen !== undefined && o.maxModelLen > c.maxPositions)
      throw new EngineError(
        `max model length ${o.maxModelLen} exceeds the model's ${c.maxPositions} positions`,
      );
    this.maxModelLen = Math.min(o.maxModelLen ?? 2048, c.maxPositions);
    // A prompt is prefilled in one step, so one step must hold the longest sequence.
    if (o.maxBatchedTokens !== undefined && o.maxBatchedTokens < this.maxModelLen)
      throw new EngineError(
        `max batched tokens ${o.maxBatchedTokens} is below the max model length ${this.maxModelLen} ` +
          '(prompts are prefilled in one step): raise it or lower the max model length',
      );
    const blockSize = o.blockSize ?? 16;
    const maxNumSeqs = o.maxNumSeqs ?? 8;
    const perBlock = blockSize * c.numLayers * 2 * c.numKvHeads * c.headDim * 4;
    const wanted = o.kvCacheBytes ?? maxNumSeqs * Math.ceil(this.maxModelLen / blockSize) * perBlock;
    const numBlocks = Math.floor(wanted / perBlock);
    if (numBlocks < Math.ceil(this.maxModelLen / blockSize))
      throw new EngineError(
        `KV cache of ${wanted} bytes cannot hold one sequence of ${this.maxModelLen} tokens`,
      );
    this.cache = new KvCache(c, numBlocks, blockSize);
    this.blocks = new BlockManager(numBlocks, blockSize, c.slidingWindow);
    this.scheduler = new Scheduler(this.blocks, {
      maxNumSeqs,
      maxBatchedTokens: Math.max(o.maxBatchedTokens ?? 4096, this.maxModelLen),
    });
    this.eos = new Set(c.eosTokenIds);
  }

  static async load(dir: string, o: EngineOptions = {}): Promise<Engine> {
    const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const config = readModelConfig(raw);
    const weights = bindWeights(config, readCheckpoint(dir));
    const model = await Model.create(config, weights, { threads: o.threads });
    const tokenizer = Tokenizer.fromDir(dir, config.eosTokenIds, config.bosTokenId);
    return new Engine(o.name ?? basename(resolve(dir)), dir, raw, config, model, tokenizer, o);
  }

  /** Run model work exclusively (research forwards use this too). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(fn);
  }

  tokenize(text: string): number[] {
    return this.profiler.time('tokenize', () => this.tokenizer.encode(text));
  }

  /** A chat's prompt ids: the checkpoint's chat template (add_generation_prompt), else the plain format. */
  chatPrompt(messages: readonly ChatMessage[]): number[] {
    try {
      return this.profiler.time('tokenize', () => this.tokenizer.encodeChat(messages));
    } catch (e) {
      if (e instanceof ChatTemplateError) throw new EngineError(e.message);
      throw e;
    }
  }

  /** Ids back to text, special tokens left out. */
  detokenize(ids: readonly number[]): string {
    return this.tokenizer.decode(ids);
  }

  /** A token as text (special tokens spelled out), for logprobs. */
  tokenText(id: number): string {
    return this.tokenizer.decode([id], false);
  }

  /**
   * Log-probabilities of each prompt token given the ones before it (null for the first), with the `k` likeliest
   * alternatives: one forward over the prompt in a scratch cache (echo with logprobs).
   */
  async promptLogprobs(ids: readonly number[], k: number): Promise<(TokenLogprob | null)[]> {
    const V = this.config.vocabSize;
    const all = await this.isolatedForward(ids, null, true);
    return ids.map((id, t) => (t === 0 ? null : tokenLogprob(all.subarray((t - 1) * V, t * V), id, k)));
  }

  /**
   * Submit a request; resolves when it finishes. `onDelta` receives streamed text; `sparsity`: the mask its
   * attention runs under (its session's, as it was at submission).
   */
  submit(
    prompt: string | readonly number[],
    p: Partial<SamplingParams> = {},
    onDelta: DeltaCallback | null = null,
    sparsity: SparsityMask | null = null,
  ) {
    const params: SamplingParams = { ...DEFAULT_SAMPLING, ...p };
    const ids = typeof prompt === 'string' ? this.tokenize(prompt) : [...prompt];
    checkSubmission(ids, params, this.limits);
    const req = new Request(ids, params, this.tokenizer, this.eos, this.maxModelLen, onDelta, sparsity);
    this.requests.set(req.seq.id, req);
    this.scheduler.add(req.seq);
    this.kick();
    return req;
  }

  generate(
    prompt: string | readonly number[],
    p: Partial<SamplingParams> = {},
    onDelta: DeltaCallback | null = null,
    sparsity: SparsityMask | null = null,
  ) {
    return this.submit(prompt, p, onDelta, sparsity).done;
  }

  /** Stop a request early (a client went away); its result resolves with finish reason 'abort'. */
  abort(req: Request): void {
    if (!this.requests.has(req.seq.id)) return;
    this.requests.delete(req.seq.id);
    this.scheduler.finish(req.seq);
    req.finish('abort');
  }

  /** What a submission is checked against (a front-end on another thread checks the same before sending). */
  get limits(): SubmissionLimits {
    return {
      vocabSize: this.config.vocabSize,
      maxModelLen: this.maxModelLen,
      blockSize: this.cache.blockSize,
      numBlocks: this.blocks.blocks.length,
    };
  }

  get pending(): number {
    return this.requests.size;
  }

  private kick(): void {
    if (this.looping) return;
    this.looping = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      while (!this.scheduler.isIdle) {
        await this.exclusive(() => this.step());
        await new Promise((r) => setImmediate(r));
      }
    } catch (e) {
      // Never an unhandled rejection: fail every request in flight and leave the engine usable.
      const err = e instanceof Error ? e : new Error(String(e));
      for (const req of [...this.requests.values()]) {
        this.requests.delete(req.seq.id);
        this.scheduler.finish(req.seq);
        req.fail(err);
      }
    } finally {
      this.looping = false;
    }
  }

  private async step(): Promise<void> {
    const batch = this.scheduler.schedule();
    if (!batch) return;
    const t0 = performance.now();
    try {
      await this.runBatch(batch);
    } catch (e) {
      for (const seq of batch.seqs) {
        const req = this.requests.get(seq.id);
        this.requests.delete(seq.id);
        this.scheduler.finish(seq);
        req?.fail(e instanceof Error ? e : new Error(String(e)));
      }
    }
    this.steps++;
    this.profiler.add(batch.isPrefill ? 'step_prefill' : 'step_decode', performance.now() - t0);
  }

  private async runBatch(batch: ScheduledBatch): Promise<void> {
    if (batch.isPrefill)
      for (const s of batch.seqs) {
        const r = this.requests.get(s.id);
        if (r && r.seq.numCompletionTokens === 0) r.cachedPromptTokens = s.numCachedTokens;
      }
    const V = this.config.vocabSize;
    const rows: Float32Array[] = new Array(batch.seqs.length);
    // One forward per mask: a session's mask never touches another session's sequences in the same step.
    for (const group of groupByMask(batch.seqs)) {
      // Aborted during an earlier group's forward: nothing to compute.
      const live = group.filter((i) => batch.seqs[i]!.status !== 'finished');
      if (live.length === 0) continue;
      const items = live.map((i) => {
        const s = batch.seqs[i]!;
        return { tokens: s.tokenIds.slice(s.numComputed), start: s.numComputed, blockTable: s.blockTable };
      });
      const mask = batch.seqs[live[0]!]!.sparsity;
      const hooks: AttentionHooks | null = mask
        ? { capture: null, sparsity: mask, maskedWeights: 0, totalWeights: 0 }
        : null;
      const logits = await this.model.forward(items, this.cache, hooks, this.profiler);
      this.noteActivations(
        items.reduce((a, it) => a + it.tokens.length, 0),
        items.length,
        this.model.lastAttentionBytes,
      );
      live.forEach((i, j) => (rows[i] = logits.subarray(j * V, (j + 1) * V)));
    }
    batch.seqs.forEach((seq, i) => {
      const req = this.requests.get(seq.id);
      // Aborted while this step was in flight (a streaming client went away during the forward): its blocks are
      // already freed, so there is nothing to commit. Touching it would fail the whole batch.
      const row = rows[i];
      if (!req || seq.status === 'finished' || !row) return;
      seq.numComputed = seq.length;
      this.blocks.commitFullBlocks(seq);
      const p = req.params;
      const token = this.profiler.time('sample', () => sample(processLogits(row, p, req.counts), p, req.rng));
      const lp = p.logprobs === null ? null : tokenLogprob(row, token, p.logprobs);
      this.generatedTokens++;
      const reason = this.profiler.time('detokenize', () => req.accept(token, lp));
      if (reason) {
        this.requests.delete(seq.id);
        this.scheduler.finish(seq);
        req.finish(reason);
      }
    });
  }

  /** Bytes of the buffers one step holds at once, from their shapes (x, q, k, v, attention out, MLP, logits). */
  activationBytes(tokens: number, rows: number): number {
    const c = this.config;
    const qd = c.numHeads * c.headDim;
    const kvd = c.numKvHeads * c.headDim;
    const mlp = c.intermediateSize * (c.family === 'llama' ? 3 : 1);
    return 4 * (tokens * (2 * c.hiddenSize + 2 * qd + 2 * kvd + mlp) + rows * c.vocabSize);
  }

  /** `attention`: bytes of the step's attention buffers (scores, gathered K/V: Model.lastAttentionBytes). */
  private noteActivations(tokens: number, rows: number, attention: number): void {
    this.peakActivationBytes = Math.max(
      this.peakActivationBytes,
      this.activationBytes(tokens, rows) + attention,
    );
  }

  /**
   * A forward pass over `tokens` alone, in a scratch cache apart from the serving cache (research endpoints);
   * returns the last token's logits, or every token's with `allLogits`.
   */
  isolatedForward(
    tokens: readonly number[],
    hooks: AttentionHooks | null,
    allLogits = false,
  ): Promise<Float32Array> {
    return this.exclusive(() => {
      const cache = this.scratchCache(tokens.length);
      const table = Array.from({ length: cache.numBlocks }, (_, i) => i);
      return this.model.forward(
        [{ tokens, start: 0, blockTable: table }],
        cache,
        hooks,
        this.profiler,
        allLogits,
      );
    });
  }

  /** A private cache for `tokens` tokens (research forwards never touch the serving cache). */
  scratchCache(tokens: number): KvCache {
    if (tokens > this.maxModelLen)
      throw new EngineError(`${tokens} tokens exceed the limit of ${this.maxModelLen}`);
    return new KvCache(
      this.config,
      Math.max(1, Math.ceil(tokens / this.cache.blockSize)),
      this.cache.blockSize,
    );
  }

  async close(): Promise<void> {
    await this.exclusive(() => this.model.release());
  }
}
