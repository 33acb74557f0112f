/**
 * What the engine routes ask of the engine beyond generation, as operations on plain data: the same table runs
 * in-process (tests, benches) and on the engine's own thread (engine-thread.ts), so both answer alike. Each
 * operation takes the engine, the state it keeps per client session, and JSON-like arguments the route has
 * already validated; errors are FieldError (422), EngineError/RangeError (422) or Conflict (409).
 */
import { availableParallelism } from 'node:os';
import type { SparsityMask } from '../engine/attention.js';
import type { Engine } from '../engine/engine.js';
import { cacheStats, latencyStats, memoryUsage, modelInfo } from '../engine/introspect.js';
import { attentionScores } from '../engine/research/attention_scores.js';
import {
  runSchedule,
  type ScheduleAlgorithm,
  type ScheduleRequest,
} from '../engine/research/batch_schedule.js';
import {
  executeSplits,
  KernelPool,
  MAX_SPLITS,
  randomTensor,
  splitTensor,
  type ParallelOp,
  type SplitSet,
} from '../engine/research/parallel.js';
import {
  pipelineSchedule,
  stepExecute,
  type PipelineStep,
  type ScheduleStep,
} from '../engine/research/pipeline.js';
import { FieldError } from '../engine/validate.js';
import { ENGINE_LIMITS, SessionMap } from './engine-admission.js';

/** The request conflicts with the session's state (no tensor split yet): 409. */
export class Conflict extends Error {}

/** What the engine's side keeps besides the engine: tensor splits and sparsity masks per session, kernel threads. */
export class EngineState {
  /** Tensor splits per client session (X-Session-Id), never shared between clients. */
  readonly splits = new SessionMap<SplitSet>(ENGINE_LIMITS.sessions, ENGINE_LIMITS.sessionElements);
  /** Sparsity masks per client session: one applies to that session's generations and research forwards only. */
  readonly masks = new SessionMap<SparsityMask>(ENGINE_LIMITS.maskSessions, ENGINE_LIMITS.maskSessions);
  /**
   * /parallel/execute's threads: a fixed few for every call (at least 2 so a split is really parallel, at most
   * 4), chunks of one call queued behind them (the route lets one call run at a time).
   */
  readonly kernels = new KernelPool(Math.max(2, Math.min(4, availableParallelism())), 4 * MAX_SPLITS);
  constructor(readonly engine: Engine) {}
  /** The mask `session` set (null: none, or no session). */
  maskOf(session: string | null | undefined): SparsityMask | null {
    return session ? (this.masks.get(session) ?? null) : null;
  }
  close(): Promise<void> {
    return this.kernels.close();
  }
}

export interface TensorSplitArgs {
  session: string;
  source: 'random' | 'embedding';
  shape: number[];
  seed: number;
  dim: number;
  numSplits: number;
}

export interface ParallelExecuteArgs {
  session: string;
  splits: string[] | null;
  operation: ParallelOp;
  gather: boolean;
  seed: number;
}

type NoArgs = Record<string, never> | undefined;

export const ENGINE_OPS = {
  modelInfo: (s: EngineState, _a: NoArgs) => modelInfo(s.engine),
  latencyStats: (s: EngineState, _a: NoArgs) => latencyStats(s.engine),
  memoryUsage: (s: EngineState, _a: NoArgs) => memoryUsage(s.engine),
  cacheStats: (s: EngineState, _a: NoArgs) => cacheStats(s.engine),
  cacheClear: (s: EngineState, _a: NoArgs) => ({
    cleared: true,
    dropped_blocks: s.engine.blocks.clear(),
    ...cacheStats(s.engine),
  }),
  pending: (s: EngineState, _a: NoArgs) => s.engine.pending,
  profilingStart: (s: EngineState, _a: NoArgs) => ({ restarted: s.engine.profiler.start() }),
  profilingStop: (s: EngineState, _a: NoArgs) => s.engine.profiler.stop(),
  setSparsity: (s: EngineState, a: { session: string; mask: SparsityMask | null }) => {
    if (a.mask) s.masks.set(a.session, a.mask, 1);
    else s.masks.delete(a.session);
    return null;
  },
  promptLogprobs: (s: EngineState, a: { ids: number[]; k: number }) => s.engine.promptLogprobs(a.ids, a.k),
  attentionScores: (
    s: EngineState,
    a: { session: string; prompt: string; layer: number; head: number | null; threshold: number },
  ) => attentionScores(s.engine, a.prompt, a.layer, a.head, a.threshold, s.maskOf(a.session)),
  batchSchedule: (
    s: EngineState,
    a: {
      session: string;
      requests: ScheduleRequest[];
      algorithm: ScheduleAlgorithm;
      maxBatch: number;
      temperature: number;
    },
  ) => runSchedule(s.engine, a.requests, a.algorithm, a.maxBatch, a.temperature, s.maskOf(a.session)),
  stepExecute: (
    s: EngineState,
    a: { session: string; ids: number[]; step: PipelineStep; layer: number; returnIntermediate: boolean },
  ) => stepExecute(s.engine, a.ids, a.step, a.layer, a.returnIntermediate, s.maskOf(a.session)),
  pipelineSchedule: (s: EngineState, a: { prompts: string[]; steps: ScheduleStep[]; overlap: boolean }) =>
    pipelineSchedule(s.engine, a.prompts, a.steps, a.overlap),
  tensorSplit: (s: EngineState, a: TensorSplitArgs) => {
    const data = a.source === 'embedding' ? s.engine.model.embeddingMatrix : randomTensor(a.shape, a.seed);
    const set = splitTensor(`tensor_${Date.now().toString(36)}`, a.source, data, a.shape, a.dim, a.numSplits);
    // The chunks copy the tensor: twice its elements are held for this session.
    s.splits.set(a.session, set, 2 * data.length);
    return {
      tensor_id: set.tensorId,
      source: a.source,
      tensor_shape: a.shape,
      split_dim: a.dim,
      num_splits: a.numSplits,
      splits: set.chunks.map((c) => ({
        id: c.id,
        shape: c.shape,
        offset: c.offset,
        bytes: c.data.byteLength,
      })),
    };
  },
  parallelExecute: async (s: EngineState, a: ParallelExecuteArgs) => {
    const set = s.splits.get(a.session);
    if (!set)
      throw new Conflict(
        'no split tensor in this session: POST /parallel/tensor_split first (with the same X-Session-Id)',
      );
    const ids = a.splits ?? set.chunks.map((c) => c.id);
    // Each split runs once: a split listed twice is refused rather than computed twice.
    for (const [i, id] of ids.entries()) {
      if (!set.chunks.some((c) => c.id === id)) throw new FieldError(`splits[${i}]`, `unknown split '${id}'`);
      if (ids.indexOf(id) !== i) throw new FieldError(`splits[${i}]`, `split '${id}' is listed twice`);
    }
    return {
      tensor_id: set.tensorId,
      ...(await executeSplits(set, ids, a.operation, a.gather, a.seed, s.kernels)),
    };
  },
};

export type OpName = keyof typeof ENGINE_OPS;
export type OpArgs<K extends OpName> = Parameters<(typeof ENGINE_OPS)[K]>[1];
export type OpResult<K extends OpName> = Awaited<ReturnType<(typeof ENGINE_OPS)[K]>>;

export function runOp<K extends OpName>(s: EngineState, name: K, args: OpArgs<K>): Promise<OpResult<K>> {
  const fn = ENGINE_OPS[name] as (s: EngineState, a: OpArgs<K>) => OpResult<K> | Promise<OpResult<K>>;
  try {
    return Promise.resolve(fn(s, args));
  } catch (e) {
    return Promise.reject(e);
  }
}
