/**
 * The engine as the routes see it: what is cheap and bounded (the model's config, tokenizing a bounded text,
 * checking a submission) answers at once on the HTTP thread; generation and every forward-pass operation are
 * promises, served by an engine on the same thread (LocalEngine: tests, benches) or on its own thread
 * (WorkerEngine in engine-worker.ts: the server, so calculator routes and the engine do not share a loop).
 */
import type { ModelConfig } from '../engine/config.js';
import { Engine, EngineError } from '../engine/engine.js';
import type { TokenLogprob } from '../engine/logits.js';
import type { DeltaCallback, GenerationResult } from '../engine/request.js';
import type { SamplingParams } from '../engine/sampler.js';
import type { ChatMessage, Tokenizer } from '../engine/tokenizer.js';
import { FieldError } from '../engine/validate.js';
import { Conflict, EngineState, runOp, type OpArgs, type OpName, type OpResult } from './engine-ops.js';

/** A submitted generation: resolves with its result (finish reason 'abort' once aborted). */
export interface Submitted {
  readonly done: Promise<GenerationResult>;
}

export interface EngineService {
  readonly name: string;
  readonly config: ModelConfig;
  readonly maxModelLen: number;
  readonly tokenizer: Tokenizer;
  tokenize(text: string): number[];
  detokenize(ids: readonly number[]): string;
  tokenText(id: number): string;
  chatPrompt(messages: readonly ChatMessage[]): number[];
  /**
   * Checked at once (EngineError for a prompt the engine cannot run); generated where the engine runs, under the
   * sparsity mask `session` holds at submission (none without a session).
   */
  submit(
    prompt: string | readonly number[],
    p?: Partial<SamplingParams>,
    onDelta?: DeltaCallback | null,
    session?: string | null,
  ): Submitted;
  abort(r: Submitted): void;
  promptLogprobs(ids: readonly number[], k: number): Promise<(TokenLogprob | null)[]>;
  op<K extends OpName>(name: K, args: OpArgs<K>): Promise<OpResult<K>>;
  close(): Promise<void>;
}

/** The engine on the caller's own thread. */
export class LocalEngine implements EngineService {
  readonly state: EngineState;
  constructor(readonly engine: Engine) {
    this.state = new EngineState(engine);
  }
  get name() {
    return this.engine.name;
  }
  get config() {
    return this.engine.config;
  }
  get maxModelLen() {
    return this.engine.maxModelLen;
  }
  get tokenizer() {
    return this.engine.tokenizer;
  }
  tokenize(text: string) {
    return this.engine.tokenize(text);
  }
  detokenize(ids: readonly number[]) {
    return this.engine.detokenize(ids);
  }
  tokenText(id: number) {
    return this.engine.tokenText(id);
  }
  chatPrompt(messages: readonly ChatMessage[]) {
    return this.engine.chatPrompt(messages);
  }
  submit(
    prompt: string | readonly number[],
    p?: Partial<SamplingParams>,
    onDelta?: DeltaCallback | null,
    session?: string | null,
  ) {
    return this.engine.submit(prompt, p, onDelta ?? null, this.state.maskOf(session));
  }
  abort(r: Submitted) {
    this.engine.abort(r as ReturnType<Engine['submit']>);
  }
  promptLogprobs(ids: readonly number[], k: number) {
    return this.engine.promptLogprobs(ids, k);
  }
  op<K extends OpName>(name: K, args: OpArgs<K>) {
    return runOp(this.state, name, args);
  }
  async close() {
    await this.state.close();
    await this.engine.close();
  }
}

const locals = new WeakMap<Engine, LocalEngine>();

/** The service over `e`: an Engine is served on this thread (one service, so one state, per engine). */
export function engineService(e: Engine | EngineService | null): EngineService | null {
  if (!(e instanceof Engine)) return e;
  let s = locals.get(e);
  if (!s) locals.set(e, (s = new LocalEngine(e)));
  return s;
}

/** An error as it crosses between threads: its kind (so 422/409 stay 422/409), message and field. */
export interface WireError {
  kind: 'field' | 'engine' | 'range' | 'conflict' | 'error';
  message: string;
  field?: string;
}

export function toWire(e: unknown): WireError {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof FieldError) return { kind: 'field', message, field: e.field };
  if (e instanceof EngineError) return { kind: 'engine', message };
  if (e instanceof RangeError) return { kind: 'range', message };
  if (e instanceof Conflict) return { kind: 'conflict', message };
  return { kind: 'error', message };
}

export function fromWire(w: WireError): Error {
  switch (w.kind) {
    case 'field':
      return new FieldError(w.field ?? '', w.message);
    case 'engine':
      return new EngineError(w.message);
    case 'range':
      return new RangeError(w.message);
    case 'conflict':
      return new Conflict(w.message);
    default:
      return new Error(w.message);
  }
}
