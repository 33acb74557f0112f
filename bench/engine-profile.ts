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
import { Rng } from '../src/engine/sampler.js';

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

let promptSeed = 1;

/**
 * The engine's steps as it runs them: `batch` requests of `isl` random prompt tokens (a fresh draw each call, so the
 * prefix cache never hits) generating `tokens` tokens each, all admitted at once. On `clock`, through the engine's
 * profiler: each step's forward (from its embedding to the end of its LM head), and everything else (the run's time
 * less its forwards: scheduling, block bookkeeping, sampling, detokenising, the loop).
 */
async function engineSteps(engine: Engine, isl: number, tokens: number, batch: number, clock: Clock) {
  const V = engine.config.vocabSize;
  const rng = new Rng(promptSeed++);
  const steps: { kind: 'prefill' | 'decode'; forward: number }[] = [];
  let start = 0;
  let forward = 0;
  const add = engine.profiler.add.bind(engine.profiler);
  engine.profiler.add = (op: string, ms: number) => {
    add(op, ms);
    // `ms` is the embedding's wall time: microseconds, the same on either clock.
    if (op === 'embed') start = clock() - ms;
    else if (op === 'lm_head') forward = (clock() - start) / 1000;
    else if (op === 'step_prefill' || op === 'step_decode')
      steps.push({ kind: op === 'step_prefill' ? 'prefill' : 'decode', forward });
  };
  const t0 = clock();
  try {
    await Promise.all(
      Array.from({ length: batch }, () =>
        engine.generate(
          Array.from({ length: isl }, () => 1 + Math.floor(rng.next() * (V - 1))),
          { maxTokens: tokens, ignoreEos: true, temperature: 0 },
        ),
      ),
    );
  } finally {
    engine.profiler.add = add;
  }
  const run = (clock() - t0) / 1000;
  const host = (run - steps.reduce((a, x) => a + x.forward, 0)) / steps.length;
  return { steps, host };
}

/**
 * The profile's measurements, taken from the engine running real requests (engineSteps) at each batch size, twice:
 * the prefill of `batch` prompts, the decode forward at batch `batch` over the first and the second half of the
 * outputs (medians, at their mean contexts), and the host work per step at each batch size, through which a line
 * gives the host costs per step and per sequence (a negative slope or intercept, noise, is clamped to 0).
 */
export async function profileEngine(
  engine: Engine,
  isl: number,
  osl: number,
  batches: readonly number[],
  clock: Clock,
  repeat = 2,
): Promise<{ timed: TimedShape[]; host: HostCosts }> {
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const timed: TimedShape[] = [];
  const perStep: HostCosts['perStep'] = [];
  const half = Math.floor((osl - 1) / 2);
  for (const b of batches) {
    const prefill: number[] = [];
    const early: number[] = [];
    const late: number[] = [];
    const host: number[] = [];
    for (let r = 0; r < repeat; r++) {
      const run = await engineSteps(engine, isl, osl, b, clock);
      const decodes = run.steps.filter((x) => x.kind === 'decode').map((x) => x.forward);
      prefill.push(...run.steps.filter((x) => x.kind === 'prefill').map((x) => x.forward));
      early.push(...decodes.slice(0, half));
      late.push(...decodes.slice(half));
      host.push(run.host);
    }
    // Decode step j (1-based) attends to isl + j − 1 cached tokens.
    timed.push({ kind: 'prefill', batch: b, tokens: isl, seconds: med(prefill) });
    timed.push({ kind: 'decode', batch: b, tokens: isl + (half - 1) / 2, seconds: med(early) });
    timed.push({ kind: 'decode', batch: b, tokens: isl + half + (osl - 2 - half) / 2, seconds: med(late) });
    perStep.push({ batch: b, seconds: med(host) });
  }
  // Least squares host(b) = stepS + b · sequenceS.
  const n = perStep.length;
  const mb = perStep.reduce((a, x) => a + x.batch, 0) / n;
  const mh = perStep.reduce((a, x) => a + x.seconds, 0) / n;
  const sxx = perStep.reduce((a, x) => a + (x.batch - mb) ** 2, 0);
  const slope = sxx > 0 ? perStep.reduce((a, x) => a + (x.batch - mb) * (x.seconds - mh), 0) / sxx : 0;
  const sequenceS = Math.max(0, slope);
  return { timed, host: { stepS: Math.max(0, mh - sequenceS * mb), sequenceS, perStep } };
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
