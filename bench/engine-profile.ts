/**
 * The CPU hardware profile measured by the engine itself: times the engine's own forward (prefill of a few prompts,
 * decode of a few batch sizes) on this machine, then fits the profile's five figures (effective bytes/s, GEMM and
 * attention FLOP/s, fixed cost per step and per sequence) so that core/perf's step model, fed the profile through
 * profileHardware / profileEfficiency, reproduces the measured step times (least squares on log time ratios).
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

/**
 * Median seconds of 2 · `repeat` forwards of each shape, after one warm-up round (onnxruntime grows its arenas). The
 * shapes are timed round-robin, so load from other processes on a shared machine spreads over all of them alike.
 */
export async function timeShapes(
  model: Model,
  config: ModelConfig,
  shapes: readonly Shape[],
  repeat: number,
): Promise<TimedShape[]> {
  const prof = new Profiler();
  const inputs = shapes.map((s) => prepare(config, s));
  const times: number[][] = shapes.map(() => []);
  for (let r = 0; r <= repeat; r++)
    for (let i = 0; i < shapes.length; i++)
      // Each turn starts with an untimed forward: the previous shape left other data in the caches, and a serving
      // engine runs the same shape step after step.
      for (let k = 0; k < 3; k++) {
        const t0 = performance.now();
        await model.forward(inputs[i]!.items, inputs[i]!.cache, null, prof);
        if (r > 0 && k > 0) times[i]!.push((performance.now() - t0) / 1000);
      }
  return shapes.map((s, i) => {
    const t = times[i]!.sort((a, b) => a - b);
    return { ...s, seconds: t[Math.floor(t.length / 2)]! };
  });
}

/**
 * The engine's host work per generated token outside the forward (sampling, detokenising), from its own profiler
 * over a short batch of requests: a per-sequence cost the forward timings do not see.
 */
export async function hostSequenceS(engine: Engine, isl: number, batch: number): Promise<number> {
  const before = new Map([...engine.profiler.totals].map(([k, v]) => [k, { ...v }]));
  const V = engine.config.vocabSize;
  await Promise.all(
    Array.from({ length: batch }, (_, i) =>
      engine.generate(
        Array.from({ length: isl }, (_, t) => 1 + ((i * 131 + t * 7919) % (V - 1))),
        { maxTokens: 16, ignoreEos: true, temperature: 0 },
      ),
    ),
  );
  const delta = (op: string) => {
    const a = engine.profiler.totals.get(op);
    const b = before.get(op);
    return { ms: (a?.totalMs ?? 0) - (b?.totalMs ?? 0), count: (a?.count ?? 0) - (b?.count ?? 0) };
  };
  const sample = delta('sample');
  const detok = delta('detokenize');
  return sample.count > 0 ? (sample.ms + detok.ms) / 1000 / sample.count : 0;
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
