/**
 * Full evaluations per second on one core: memory + prefill + decode (ideal and estimate) of one
 * model/device/plan/batch/lengths. Prints one JSON line with the figure and the machine facts to read it by.
 */
import { findDevice, findModel, hardwareSpec, modelSpec } from '../src/catalog/index.js';
import { perf } from '../src/core/perf/latency.js';
import { timeEvaluations } from './timing.js';

const models = [
  'meta-llama/Llama-3.1-8B',
  'google/gemma-2-9b-it',
  'deepseek-ai/DeepSeek-V3',
  'mistralai/Mixtral-8x7B-v0.1',
];
const specs = models.map((m) => modelSpec(findModel(m)));
const devices = ['h100-sxm-80gb', 'b200', 'a100-sxm-80gb'].map((d) => hardwareSpec(findDevice(d)));
const plans = [
  { tp: 1, pp: 1, ep: 1 },
  { tp: 2, pp: 1, ep: 1 },
  { tp: 8, pp: 1, ep: 1 },
];

function run(n: number): number {
  let sink = 0;
  for (let i = 0; i < n; i++) {
    const r = perf(specs[i % specs.length]!, devices[i % devices.length]!, {
      precision: i % 2 ? 'bf16' : 'fp8',
      kvPrecision: 'bf16',
      batch: 1 + (i % 64),
      inputLen: 128 + ((i * 37) % 8192),
      outputLen: 128 + (i % 1024),
      plan: plans[i % plans.length]!,
    });
    sink += r.tpot_s + r.memory_per_device_bytes;
  }
  return sink;
}

timeEvaluations(run, {
  bench: 'full_evaluations_per_s',
  warmUp: 5000,
  n: 200000,
  goal: 200000,
  extra: { what: 'memory + prefill + decode, ideal and estimate' },
});
