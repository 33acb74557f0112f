/**
 * The engine on its own thread (WorkerEngine): the HTTP thread keeps the model's config and tokenizer (cheap,
 * bounded work: tokenizing a bounded text, checking a submission), and sends generation and every forward-pass
 * operation to engine-thread.ts over a message port. Streamed text comes back per token; an abort is a message.
 * onnxruntime gets one intra-op thread there by default (INFERSIM_ENGINE_THREADS), so the engine takes about one
 * core and the HTTP loop keeps the other.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { readModelConfig, type ModelConfig } from '../engine/config.js';
import { checkSubmission, EngineError, type EngineOptions, type SubmissionLimits } from '../engine/engine.js';
import type { TokenLogprob } from '../engine/logits.js';
import type { DeltaCallback, GenerationResult } from '../engine/request.js';
import { DEFAULT_SAMPLING, type SamplingParams } from '../engine/sampler.js';
import { Tokenizer, type ChatMessage } from '../engine/tokenizer.js';
import { ChatTemplateError } from '../engine/chat_template.js';
import type { OpArgs, OpName, OpResult } from './engine-ops.js';
import { fromWire, type EngineService, type Submitted, type WireError } from './engine-service.js';

export interface EngineInfo {
  name: string;
  dir: string;
  rawConfig: Record<string, unknown>;
  limits: SubmissionLimits;
}

/** Messages to the engine's thread; each carries the tokenizing time measured here since the last one. */
export type ToEngine = { tokenizeMs?: number[] } & (
  | { t: 'op'; id: number; name: OpName; args: unknown }
  | {
      t: 'submit';
      id: number;
      ids: number[];
      params: SamplingParams;
      stream: boolean;
      session: string | null;
    }
  | { t: 'abort'; id: number }
  | { t: 'close' }
);

export type FromEngine =
  | { t: 'ready'; info: EngineInfo }
  | { t: 'loadError'; error: WireError }
  | { t: 'result'; id: number; value: unknown }
  | { t: 'error'; id: number; error: WireError }
  | { t: 'delta'; id: number; text: string }
  | { t: 'done'; id: number; result: GenerationResult }
  | { t: 'fail'; id: number; error: WireError };

/** Intra-op threads onnxruntime gets on the engine's thread (INFERSIM_ENGINE_THREADS, default 1). */
export function engineThreads(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env['INFERSIM_ENGINE_THREADS'] ?? 1);
  return Number.isInteger(v) && v >= 1 && v <= 256 ? v : 1;
}

/** The thread's entry: from TypeScript (tsx, vitest) tsx's loader is registered first; compiled, plain JS. */
function threadScript(): { script: string | URL; eval: boolean } {
  const self = import.meta.url;
  const entry = new URL(self.endsWith('.ts') ? './engine-thread.ts' : './engine-thread.js', self);
  if (!self.endsWith('.ts')) return { script: entry, eval: false };
  // (tsx/esm/api's ESM build sits beside the CommonJS one that require resolves.)
  const api = pathToFileURL(
    createRequire(self)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  return {
    script: `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`,
    eval: true,
  };
}

interface Pending<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
}

export class WorkerEngine implements EngineService {
  readonly name: string;
  readonly config: ModelConfig;
  readonly maxModelLen: number;
  readonly tokenizer: Tokenizer;
  private readonly limits: SubmissionLimits;
  private nextId = 1;
  private readonly calls = new Map<number, Pending<unknown>>();
  private readonly gens = new Map<number, Pending<GenerationResult> & { onDelta: DeltaCallback | null }>();
  private readonly ids = new WeakMap<Submitted, number>();
  private tokenizeMs: number[] = [];
  private stopped: Error | null = null;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    info: EngineInfo,
  ) {
    this.name = info.name;
    this.config = readModelConfig(info.rawConfig);
    this.maxModelLen = info.limits.maxModelLen;
    this.limits = info.limits;
    this.tokenizer = Tokenizer.fromDir(info.dir, this.config.eosTokenIds, this.config.bosTokenId);
    worker.on('message', (m: FromEngine) => this.receive(m));
    this.exited = new Promise((resolve) => {
      worker.once('exit', (code) => {
        this.stop(new Error(`the engine thread stopped (exit code ${code})`));
        resolve();
      });
    });
    worker.on('error', (e) => this.stop(new Error(`the engine thread failed: ${e.message}`)));
  }

  /** Loads `dir` on a new thread; an EngineError there (limits the model cannot run with) is thrown here. */
  static async start(dir: string, options: EngineOptions = {}): Promise<WorkerEngine> {
    const { script, eval: isEval } = threadScript();
    const worker = new Worker(script, {
      eval: isEval,
      workerData: { dir, options: { ...options, threads: options.threads ?? engineThreads() } },
    });
    const listeners: [string, (...a: any[]) => void][] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
    const info = await new Promise<EngineInfo>((resolve, reject) => {
      listeners.push(
        [
          'message',
          (m: FromEngine) => {
            if (m.t === 'ready') resolve(m.info);
            else if (m.t === 'loadError') reject(fromWire(m.error));
          },
        ],
        ['error', reject],
        [
          'exit',
          (code: number) => reject(new Error(`the engine thread exited (code ${code}) while loading`)),
        ],
      );
      for (const [ev, fn] of listeners) worker.on(ev, fn);
    }).catch(async (e: unknown) => {
      await worker.terminate();
      throw e;
    });
    // (Only these: the Worker keeps listeners of its own.)
    for (const [ev, fn] of listeners) worker.off(ev, fn);
    return new WorkerEngine(worker, info);
  }

  private receive(m: FromEngine): void {
    switch (m.t) {
      case 'result':
      case 'error': {
        const c = this.calls.get(m.id);
        this.calls.delete(m.id);
        if (m.t === 'result') c?.resolve(m.value);
        else c?.reject(fromWire(m.error));
        return;
      }
      case 'delta':
        this.gens.get(m.id)?.onDelta?.(m.text);
        return;
      case 'done':
      case 'fail': {
        const g = this.gens.get(m.id);
        this.gens.delete(m.id);
        if (m.t === 'done') g?.resolve(m.result);
        else g?.reject(fromWire(m.error));
        return;
      }
    }
  }

  private stop(e: Error): void {
    this.stopped ??= e;
    for (const c of this.calls.values()) c.reject(e);
    for (const g of this.gens.values()) g.reject(e);
    this.calls.clear();
    this.gens.clear();
  }

  private post(m: ToEngine): void {
    if (this.tokenizeMs.length > 0) {
      m.tokenizeMs = this.tokenizeMs;
      this.tokenizeMs = [];
    }
    this.worker.postMessage(m);
  }

  tokenize(text: string): number[] {
    const t0 = performance.now();
    try {
      return this.tokenizer.encode(text);
    } finally {
      // Bounded by the routes' limits; counted in the engine's profile with the next message.
      if (this.tokenizeMs.length < 10_000) this.tokenizeMs.push(performance.now() - t0);
    }
  }

  detokenize(ids: readonly number[]): string {
    return this.tokenizer.decode(ids);
  }

  tokenText(id: number): string {
    return this.tokenizer.decode([id], false);
  }

  chatPrompt(messages: readonly ChatMessage[]): number[] {
    const t0 = performance.now();
    try {
      return this.tokenizer.encodeChat(messages);
    } catch (e) {
      if (e instanceof ChatTemplateError) throw new EngineError(e.message);
      throw e;
    } finally {
      this.tokenizeMs.push(performance.now() - t0);
    }
  }

  submit(
    prompt: string | readonly number[],
    p: Partial<SamplingParams> = {},
    onDelta: DeltaCallback | null = null,
    session: string | null = null,
  ): Submitted {
    if (this.stopped) throw this.stopped;
    const params: SamplingParams = { ...DEFAULT_SAMPLING, ...p };
    const ids = typeof prompt === 'string' ? this.tokenize(prompt) : [...prompt];
    checkSubmission(ids, params, this.limits);
    const id = this.nextId++;
    const done = new Promise<GenerationResult>((resolve, reject) =>
      this.gens.set(id, { resolve, reject, onDelta }),
    );
    const handle: Submitted = { done };
    this.ids.set(handle, id);
    this.post({ t: 'submit', id, ids, params, stream: onDelta !== null, session });
    return handle;
  }

  abort(r: Submitted): void {
    const id = this.ids.get(r);
    if (id !== undefined && this.gens.has(id)) this.post({ t: 'abort', id });
  }

  promptLogprobs(ids: readonly number[], k: number): Promise<(TokenLogprob | null)[]> {
    return this.op('promptLogprobs', { ids: [...ids], k });
  }

  op<K extends OpName>(name: K, args: OpArgs<K>): Promise<OpResult<K>> {
    if (this.stopped) return Promise.reject(this.stopped);
    const id = this.nextId++;
    return new Promise<OpResult<K>>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.post({ t: 'op', id, name, args });
    });
  }

  /** Sequences queued or running on the engine's thread. */
  get inFlight(): number {
    return this.gens.size;
  }

  async close(): Promise<void> {
    if (!this.stopped) this.post({ t: 'close' });
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}
