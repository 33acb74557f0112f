/**
 * Full inference-memory evaluations per second on one core (weights, KV, activations, state, overhead of one
 * model/plan/batch/length). Prints one JSON line with the figure and the machine facts to read it by.
 */
import { findModel, modelSpec } from '../src/catalog/index.js';
import { inferenceMemory } from '../src/core/memory/inference.js';
import { timeEvaluations } from './timing.js';

const models = [
  'meta-llama/Llama-3.1-8B',
  'google/gemma-2-9b-it',
  'deepseek-ai/DeepSeek-V3',
  'mistralai/Mixtral-8x7B-v0.1',
];
const specs = models.map((m) => modelSpec(findModel(m)));
const plans = [
  { tp: 1, pp: 1, ep: 1 },
  { tp: 2, pp: 1, ep: 1 },
  { tp: 8, pp: 1, ep: 1 },
];

function run(n: number): number {
  let sink = 0;
  for (let i = 0; i < n; i++) {
    const spec = specs[i % specs.length]!;
    const r = inferenceMemory(spec, {
      precision: i % 3 === 0 ? 'bf16' : i % 3 === 1 ? 'fp8' : 'auto',
      kvPrecision: 'bf16',
      batch: 1 + (i % 64),
      seq: 128 + ((i * 37) % 32768),
      plan: plans[i % plans.length]!,
    });
    sink += r.total_bytes;
  }
  return sink;
}

timeEvaluations(run, {
  bench: 'memory_evaluations_per_s',
  warmUp: 20000,
  n: 400000,
  goal: 200000,
  extra: { models },
});
