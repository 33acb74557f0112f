/**
 * Step-wise execution of the forward pass, for pipeline research: run the model up to one step (embed, layer i's
 * attention, layer i's MLP block, or the output head) on given token ids and return that step's output, and run a
 * list of steps over several micro-batches, sequentially or overlapped, with the measured timeline.
 */
import { attend, type SparsityMask } from '../attention.js';
import type { Engine } from '../engine.js';
import { argmax } from '../sampler.js';

export type PipelineStep = 'embed' | 'attention' | 'mlp' | 'output';
export const PIPELINE_STEPS: readonly PipelineStep[] = ['embed', 'attention', 'mlp', 'output'];
export const SCHEDULE_STEPS = ['tokenize', 'embed', 'attention', 'mlp', 'output'] as const;
export type ScheduleStep = (typeof SCHEDULE_STEPS)[number];

/** Largest intermediate returned in full; beyond it only the statistics and the first values. */
export const MAX_RETURNED_VALUES = 65536;

function stats(x: Float32Array) {
  let sum = 0;
  let sq = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of x) {
    sum += v;
    sq += v * v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / x.length;
  return { mean, std: Math.sqrt(Math.max(0, sq / x.length - mean * mean)), min, max, l2_norm: Math.sqrt(sq) };
}

export interface StepResult {
  step: PipelineStep;
  layer_idx: number | null;
  input_ids: number[];
  output_shape: number[];
  stats: ReturnType<typeof stats>;
  elapsed_ms: number;
  /** The step's output, row-major [tokens, width], when asked and small enough. */
  intermediate?: number[][];
  truncated?: boolean;
  /** For the output step: the most likely next token. */
  next_token?: { id: number; text: string };
  /** Per-step timings of everything run to reach the step. */
  trace: { step: string; layer_idx: number | null; ms: number }[];
}

export async function stepExecute(
  engine: Engine,
  ids: readonly number[],
  step: PipelineStep,
  layer: number,
  returnIntermediate: boolean,
  sparsity: SparsityMask | null = null,
): Promise<StepResult> {
  const m = engine.model;
  const c = engine.config;
  const positions = ids.map((_, i) => i);
  const trace: StepResult['trace'] = [];
  const t0 = performance.now();
  const timed = async <T>(name: string, l: number | null, fn: () => Promise<T> | T): Promise<T> => {
    const s = performance.now();
    const r = await fn();
    trace.push({ step: name, layer_idx: l, ms: performance.now() - s });
    return r;
  };
  const out = await engine.exclusive(async () => {
    const cache = engine.scratchCache(ids.length);
    const table = Array.from({ length: cache.numBlocks }, (_, i) => i);
    const slots = positions.map((p) => cache.slot(table, p));
    const items = [{ offset: 0, count: ids.length, start: 0, blockTable: table }];
    let x = await timed('embed', null, () => m.embed(ids, positions));
    if (step === 'embed') return { y: x, width: c.hiddenSize };
    const last = step === 'output' ? c.numLayers - 1 : layer;
    for (let i = 0; i <= last; i++) {
      const { q, k, v } = await timed('qkv_proj', i, () => m.attnIn(i, x, positions));
      const a = await timed('attention', i, () => {
        cache.write(i, slots, k, v);
        return attend(c, cache, i, q, items, {
          capture: null,
          sparsity,
          maskedWeights: 0,
          totalWeights: 0,
        });
      });
      if (step === 'attention' && i === layer) return { y: a, width: c.numHeads * c.headDim };
      x = await timed('o_proj_mlp', i, () => m.attnOut(i, x, a));
    }
    if (step === 'mlp') return { y: x, width: c.hiddenSize };
    const lastRow = x.subarray((ids.length - 1) * c.hiddenSize);
    return { y: await timed('lm_head', null, () => m.head(Float32Array.from(lastRow))), width: c.vocabSize };
  });
  const rows = out.y.length / out.width;
  const r: StepResult = {
    step,
    layer_idx: step === 'embed' || step === 'output' ? null : layer,
    input_ids: [...ids],
    output_shape: [rows, out.width],
    stats: stats(out.y),
    elapsed_ms: performance.now() - t0,
    trace,
  };
  if (step === 'output') {
    const id = argmax(out.y);
    r.next_token = { id, text: engine.tokenizer.decode([id]) };
  }
  if (returnIntermediate) {
    const n = Math.min(out.y.length, MAX_RETURNED_VALUES);
    const keepRows = Math.ceil(n / out.width);
    r.intermediate = [];
    for (let t = 0; t < keepRows; t++)
      r.intermediate.push(Array.from(out.y.subarray(t * out.width, (t + 1) * out.width)));
    r.truncated = n < out.y.length;
  }
  return r;
}

export interface ScheduleEvent {
  micro_batch: number;
  step: ScheduleStep;
  start_ms: number;
  end_ms: number;
}

/**
 * Run `steps` in order for each prompt (one micro-batch each). Sequential: micro-batch m+1 starts when m ends.
 * Overlapped: all micro-batches are in flight together, so one's TypeScript work (tokenize, embed, attention core)
 * runs while onnxruntime computes another's GEMMs on its own threads.
 */
export async function pipelineSchedule(
  engine: Engine,
  prompts: readonly string[],
  steps: readonly ScheduleStep[],
  overlap: boolean,
) {
  const m = engine.model;
  const c = engine.config;
  const t0 = performance.now();
  const events: ScheduleEvent[] = [];
  const runOne = async (mb: number) => {
    // Steps left out are run implicitly (untimed) when a later step needs their output.
    let ids: number[] = steps.includes('tokenize') ? [] : engine.tokenizer.encode(prompts[mb]!);
    let positions: number[] = ids.map((_, i) => i);
    let x = steps.includes('embed') ? new Float32Array(0) : m.embed(ids, positions);
    let layersDone = false;
    let text = '';
    const cache = engine.scratchCache(Math.max(1, engine.tokenizer.encode(prompts[mb]!).length));
    const table = Array.from({ length: cache.numBlocks }, (_, i) => i);
    for (const step of steps) {
      const start = performance.now() - t0;
      if (step === 'tokenize') {
        ids = engine.tokenizer.encode(prompts[mb]!);
        positions = ids.map((_, i) => i);
      } else if (step === 'embed') x = m.embed(ids, positions);
      else if ((step === 'attention' || step === 'mlp') && !layersDone) {
        // A layer's MLP needs its attention and the next layer's attention its MLP: 'attention' and 'mlp' both
        // run the whole stack of layers, once.
        layersDone = true;
        // 'tokenize' without 'embed' leaves the embedding to be made here, from the ids it produced.
        if (x.length !== ids.length * c.hiddenSize) x = m.embed(ids, positions);
        const items = [{ offset: 0, count: ids.length, start: 0, blockTable: table }];
        for (let i = 0; i < c.numLayers; i++) {
          const { q, k, v } = await m.attnIn(i, x, positions);
          cache.write(
            i,
            positions.map((p) => cache.slot(table, p)),
            k,
            v,
          );
          const a = attend(c, cache, i, q, items, null);
          x = await m.attnOut(i, x, a);
        }
      } else if (step === 'output') {
        if (!layersDone) throw new Error("step 'output' needs 'attention' or 'mlp' before it");
        const logits = await m.head(Float32Array.from(x.subarray((ids.length - 1) * c.hiddenSize)));
        text = engine.tokenizer.decode([argmax(logits)]);
      }
      events.push({ micro_batch: mb, step, start_ms: start, end_ms: performance.now() - t0 });
    }
    return text;
  };
  const outputs = await engine.exclusive(async () => {
    if (overlap) return Promise.all(prompts.map((_, i) => runOne(i)));
    const r: string[] = [];
    for (let i = 0; i < prompts.length; i++) r.push(await runOne(i));
    return r;
  });
  const total = performance.now() - t0;
  const busy = events.reduce((a, e) => a + (e.end_ms - e.start_ms), 0);
  return {
    timeline: events,
    total_ms: total,
    sum_of_step_ms: busy,
    overlap_ratio: total > 0 ? busy / total : 1,
    next_tokens: outputs,
  };
}
