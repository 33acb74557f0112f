/**
 * The CPU hardware profile measured by the engine itself: times the engine's own forward (prefill of a few prompts,
 * decode of a few batch sizes) on this machine, then fits the profile's five figures (effective bytes/s, GEMM and
 * attention FLOP/s, fixed cost per step and per sequence) so that core/perf's step model, fed the profile through
 * profileHardware / profileEfficiency, reproduces the measured step times (least squares on log time ratios). The
 * engine's host work outside the forward (hostCosts) is measured apart and added to the fixed costs.
 */
import os from 'node:os';
import { specFromConfig } from '../src/core/arch/index.js';
import type { ModelSpec } from '../src/core/arch/spec.js';
import { profileEfficiency, profileHardware, type MeasuredProfile } from '../src/core/perf/measured.js';
import { StepTimer, type RankMix } from '../src/core/serving/step-time.js';
import type { ModelConfig } from '../src/engine/config.js';
import type { Engine } from '../src/engine/engine.js';
import { KvCache } from '../src/engine/kv_cache.js';
import type { Model, ForwardItem } from '../src/engine/model.js';
import { Profiler } from '../src/engine/profiler.js';

export interface Shape {
  kind: 'prefill' | 'decode';
  batch: number;
  /** Prompt tokens per sequence (prefill) or cached context per sequence (decode). */
  tokens: number;
}

export interface TimedShape extends Shape {
  seconds: number;
}

export const SERVING_PLAN = { tp: 1, pp: 1, attentionDp: 1, moeTp: 1, moeEp: 1 };

/** One shape's forward inputs, in a KV cache of its own. */
function prepare(config: ModelConfig, s: Shape): { items: ForwardItem[]; cache: KvCache } {
  const block = 16;
  const perSeq = Math.ceil((s.tokens + 1) / block);
  const cache = new KvCache(config, s.batch * perSeq, block);
  const table = (i: number) => Array.from({ length: perSeq }, (_, j) => i * perSeq + j);
  const tok = (i: number) => 1 + ((i * 7919) % (config.vocabSize - 1));
  const items: ForwardItem[] = Array.from({ length: s.batch }, (_, i) =>
    s.kind === 'prefill'
      ? { tokens: Array.from({ length: s.tokens }, (_, t) => tok(i + t)), start: 0, blockTable: table(i) }
      : { tokens: [tok(i)], start: s.tokens, blockTable: table(i) },
  );
  return { items, cache };
}

/** A clock in milliseconds. */
export type Clock = () => number;

/** Wall-clock time. */
export const wallMs: Clock = () => performance.now();

/**
 * The process's CPU time (all threads, user + system). The engine computes on one thread at a time (the JavaScript
 * thread waits while onnxruntime's single intra-op thread runs a graph), so on an idle machine its CPU time is its
 * wall time; on a shared one it leaves out the time other processes held the cores, which wall time counts and
 * which comes and goes between a profile and the run it predicts.
 */
export const cpuMs: Clock = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * Median seconds of 2 · `repeat` forwards of each shape, after one warm-up round (onnxruntime grows its arenas). The
 * shapes are timed round-robin, so load from other processes on a shared machine spreads over all of them alike.
 */
export async function timeShapes(
  model: Model,
  config: ModelConfig,
  shapes: readonly Shape[],
  repeat: number,
  clock: Clock = wallMs,
): Promise<TimedShape[]> {
  const prof = new Profiler();
  const inputs = shapes.map((s) => prepare(config, s));
  const times: number[][] = shapes.map(() => []);
  for (let r = 0; r <= repeat; r++)
    for (let i = 0; i < shapes.length; i++)
      // Each turn starts with an untimed forward: the previous shape left other data in the caches, and a serving
      // engine runs the same shape step after step.
      for (let k = 0; k < 3; k++) {
        const t0 = clock();
        await model.forward(inputs[i]!.items, inputs[i]!.cache, null, prof);
        if (r > 0 && k > 0) times[i]!.push((clock() - t0) / 1000);
      }
  return shapes.map((s, i) => {
    const t = times[i]!.sort((a, b) => a - b);
    return { ...s, seconds: t[Math.floor(t.length / 2)]! };
  });
}

/** The engine's own costs outside its forward pass: per step, and per sequence in the step. */
export interface HostCosts {
  stepS: number;
  sequenceS: number;
  /** What they were derived from: host seconds per step at each batch size. */
  perStep: { batch: number; seconds: number }[];
}

/**
 * The engine's work outside the forward, measured on real requests: `batch` sequences generating `tokens` tokens
 * each, all admitted at once. The run's time on `clock`, less the time of its forwards read on the same clock inside
 * the same steps (from the start of each step's embedding to the end of its LM head, through the engine's
 * profiler), over the steps: scheduling, block bookkeeping and prefix hashing, sampling and detokenising each
 * sequence's token, the lock and the event-loop turn between steps.
 */
async function hostPerStep(
  engine: Engine,
  isl: number,
  batch: number,
  tokens: number,
  clock: Clock,
): Promise<number> {
  const V = engine.config.vocabSize;
  const steps0 = engine.steps;
  let forward = 0;
  let forwardStart = 0;
  const add = engine.profiler.add.bind(engine.profiler);
  engine.profiler.add = (op: string, ms: number) => {
    add(op, ms);
    // `ms` is the embedding's wall time: a few microseconds, the same on either clock.
    if (op === 'embed') forwardStart = clock() - ms;
    else if (op === 'lm_head') forward += clock() - forwardStart;
  };
  const t0 = clock();
  try {
    await Promise.all(
      Array.from({ length: batch }, (_, i) =>
        engine.generate(
          Array.from({ length: isl }, (_, t) => 1 + ((i * 131 + t * 7919) % (V - 1))),
          { maxTokens: tokens, ignoreEos: true, temperature: 0 },
        ),
      ),
    );
  } finally {
    engine.profiler.add = add;
  }
  const run = clock() - t0;
  return (run - forward) / 1000 / (engine.steps - steps0);
}

/**
 * Host costs per step and per sequence: hostPerStep at batch 1 and at `batch`, a line through the two (each the
 * median of three runs). A negative slope (noise where per-sequence work is tiny) is clamped to 0.
 */
export async function hostCosts(
  engine: Engine,
  isl: number,
  batch: number,
  clock: Clock = wallMs,
  tokens = 24,
): Promise<HostCosts> {
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const at = async (b: number) => {
    const xs: number[] = [];
    for (let i = 0; i < 3; i++) xs.push(await hostPerStep(engine, isl, b, tokens, clock));
    return med(xs);
  };
  const one = await at(1);
  const many = batch > 1 ? await at(batch) : one;
  const sequenceS = batch > 1 ? Math.max(0, (many - one) / (batch - 1)) : 0;
  return {
    stepS: Math.max(0, one - sequenceS),
    sequenceS,
    perStep: [
      { batch: 1, seconds: one },
      { batch, seconds: many },
    ],
  };
}

function mixOf(s: Shape): RankMix {
  return s.kind === 'prefill'
    ? {
        prefill: Array.from({ length: s.batch }, () => ({ tokens: s.tokens, context: 0 })),
        decodes: 0,
        decodeContext: 0,
      }
    : { prefill: [], decodes: s.batch, decodeContext: s.batch * s.tokens };
}

/** core/perf's time for each shape under a profile. */
export function predict(spec: ModelSpec, p: MeasuredProfile, shapes: readonly Shape[]): number[] {
  const timer = new StepTimer(
    { spec, hw: profileHardware(p), precision: 'fp32', kvBytes: 4, plan: SERVING_PLAN },
    profileEfficiency(p),
  );
  return shapes.map((s) => timer.exact(mixOf(s)));
}

const KEYS = ['bytesPerS', 'gemmFlopsPerS', 'attentionFlopsPerS', 'stepS', 'sequenceS'] as const;

/** Coordinate descent in log space on Σ log²(predicted / measured); fixed costs may shrink towards 0. */
export function fitProfile(spec: ModelSpec, timed: readonly TimedShape[], name: string): MeasuredProfile {
  let p: MeasuredProfile = {
    name,
    bytesPerS: 10e9,
    gemmFlopsPerS: 50e9,
    attentionFlopsPerS: 10e9,
    stepS: 1e-3,
    sequenceS: 1e-4,
    memoryBytes: os.totalmem(),
  };
  const loss = (q: MeasuredProfile) =>
    predict(spec, q, timed).reduce((a, t, i) => a + Math.log(t / timed[i]!.seconds) ** 2, 0);
  let best = loss(p);
  for (let step = 2; step > 1e-3; step /= 2)
    for (let improved = true; improved;) {
      improved = false;
      for (const k of KEYS)
        for (const dir of [1, -1]) {
          const v = Math.max(p[k] * Math.exp(dir * step), k === 'stepS' || k === 'sequenceS' ? 1e-9 : 1);
          const q = { ...p, [k]: v };
          const l = loss(q);
          if (l < best - 1e-12) {
            best = l;
            p = q;
            improved = true;
          }
        }
    }
  return p;
}

/** The shapes a serving run at these lengths goes through: prompts prefilled together, decodes at mid context. */
export function servingShapes(isl: number, osl: number, batches: readonly number[]): Shape[] {
  const shapes: Shape[] = [];
  for (const b of batches) {
    shapes.push({ kind: 'decode', batch: b, tokens: isl });
    shapes.push({ kind: 'decode', batch: b, tokens: isl + osl });
  }
  for (const b of [1, 4]) shapes.push({ kind: 'prefill', batch: b, tokens: isl });
  return shapes;
}

export function modelSpec(raw: Record<string, unknown>): ModelSpec {
  return specFromConfig({ torch_dtype: 'float32', ...raw });
}
