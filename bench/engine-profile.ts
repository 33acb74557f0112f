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

/** Median seconds of `repeat` forwards of one shape, after one warm-up (onnxruntime grows its arenas). */
async function timeShape(model: Model, config: ModelConfig, s: Shape, repeat: number): Promise<number> {
  const block = 16;
  const len = s.tokens + 1;
  const perSeq = Math.ceil(len / block);
  const cache = new KvCache(config, s.batch * perSeq, block);
  const prof = new Profiler();
  const table = (i: number) => Array.from({ length: perSeq }, (_, j) => i * perSeq + j);
  const tok = (i: number) => 1 + ((i * 7919) % (config.vocabSize - 1));
  const items: ForwardItem[] =
    s.kind === 'prefill'
      ? Array.from({ length: s.batch }, (_, i) => ({
          tokens: Array.from({ length: s.tokens }, (_, t) => tok(i + t)),
          start: 0,
          blockTable: table(i),
        }))
      : Array.from({ length: s.batch }, (_, i) => ({
          tokens: [tok(i)],
          start: s.tokens,
          blockTable: table(i),
        }));
  const times: number[] = [];
  for (let r = 0; r <= repeat; r++) {
    const t0 = performance.now();
    await model.forward(items, cache, null, prof);
    if (r > 0) times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export async function timeShapes(
  model: Model,
  config: ModelConfig,
  shapes: readonly Shape[],
  repeat: number,
): Promise<TimedShape[]> {
  const out: TimedShape[] = [];
  for (const s of shapes) out.push({ ...s, seconds: await timeShape(model, config, s, repeat) });
  return out;
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
