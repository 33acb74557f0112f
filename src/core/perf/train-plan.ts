/**
 * `plan --train`: the parallel layout and micro-batch of a training run on N devices of one kind that fits in
 * memory and trains fastest (or, over several device kinds, costs least for the token budget). Searches TP within
 * a node, PP with interleaving, CP for long sequences, EP for MoE, ZeRO-1 or FSDP, recomputation and micro-batch;
 * each candidate is checked for memory (core/memory) and timed (train-time.ts).
 */
import type { ModelSpec } from '../arch/spec.js';
import type { HardwareSpec } from '../hardware/spec.js';
import { InputError, positiveInt } from '../memory/inference.js';
import { trainingMemory, type ZeroStage } from '../memory/training.js';
import {
  memoryOptions,
  trainEstimate,
  type TrainEstimate,
  type TrainEstimateOptions,
} from './train-estimate.js';
import { trainShape } from './train-time.js';

export interface TrainPlanOptions {
  /** Devices of each kind to use. */
  gpus: number;
  seq: number;
  /** Sequences per step. */
  globalBatch: number;
  precision: TrainEstimateOptions['precision'];
  optimizer: string;
  lora: TrainEstimateOptions['lora'];
  qlora: boolean;
  tokens?: number;
  objective: 'fastest' | 'cheapest';
}

export interface TrainPlanDevice {
  hw: HardwareSpec;
  usdPerGpuHour: number | null;
}

export interface TrainPlanCandidate {
  gpu: string;
  options: TrainEstimateOptions;
  estimate: TrainEstimate;
}

const pow2 = (max: number) => Array.from({ length: Math.floor(Math.log2(max)) + 1 }, (_, i) => 2 ** i);

/** Every layout of `gpus` devices the model allows, before memory and timing. */
function layouts(spec: ModelSpec, hw: HardwareSpec, o: TrainPlanOptions): TrainEstimateOptions[] {
  const node = /^gb[23]00/.test(hw.id) ? 72 : 8;
  const moe = spec.groups.find((g) => g.mlp?.kind === 'moe')?.mlp;
  const experts = moe?.kind === 'moe' ? moe.numExperts : 0;
  const out: TrainEstimateOptions[] = [];
  const zeros: ZeroStage[] = o.lora ? [0] : [1, 'fsdp'];
  for (const tp of pow2(Math.min(node, o.gpus)))
    for (const pp of pow2(Math.min(o.gpus / tp, spec.numLayers)))
      for (const cp of o.seq >= 8192 ? pow2(Math.min(8, o.gpus / (tp * pp))) : [1]) {
        const dp = o.gpus / (tp * pp * cp);
        if (!Number.isInteger(dp)) continue;
        for (const vpp of pp > 1 ? [1, 2, 4] : [1])
          for (const ep of experts ? pow2(Math.min(experts, dp * cp * tp)) : [1])
            for (const microBatch of [1, 2, 4, 8])
              for (const zero of zeros)
                for (const recompute of ['none', 'selective', 'full'] as const)
                  out.push({
                    precision: o.precision,
                    optimizer: o.optimizer,
                    microBatch,
                    globalBatch: o.globalBatch,
                    seq: o.seq,
                    dp,
                    tp,
                    pp,
                    vpp,
                    cp,
                    ep,
                    zero: pp > 1 && zero === 'fsdp' ? 1 : zero,
                    recompute,
                    lora: o.lora,
                    qlora: o.qlora,
                    tokens: o.tokens,
                  });
      }
  return out;
}

function valid(spec: ModelSpec, c: TrainEstimateOptions): boolean {
  try {
    trainShape(spec, { ...c, zero: c.zero, adapterParameters: null });
    return true;
  } catch {
    return false;
  }
}

/** Candidates that fit, best first by the objective; `top` of them. Throws when none fits. */
export function planTraining(
  spec: ModelSpec,
  devices: readonly TrainPlanDevice[],
  o: TrainPlanOptions,
  top = 5,
): TrainPlanCandidate[] {
  positiveInt('gpus', o.gpus);
  positiveInt('global_batch', o.globalBatch);
  if (devices.length === 0) throw new InputError('no device to plan for');
  const found: TrainPlanCandidate[] = [];
  for (const d of devices) {
    const seen = new Set<string>();
    for (const c of layouts(spec, d.hw, o)) {
      const key = JSON.stringify(c);
      if (seen.has(key) || !valid(spec, c)) continue;
      seen.add(key);
      let peak: number;
      try {
        peak = trainingMemory(spec, memoryOptions(c)).peak_bytes;
      } catch {
        continue;
      }
      if (peak > d.hw.visibleMemoryBytes) continue;
      const estimate = trainEstimate(spec, d.hw, { ...c, usdPerGpuHour: d.usdPerGpuHour });
      if (estimate.fit.fits) found.push({ gpu: d.hw.id, options: c, estimate });
    }
  }
  if (found.length === 0)
    throw new InputError(
      `no layout of ${o.gpus} device(s) fits the model at seq ${o.seq}: try more devices, LoRA/QLoRA or a shorter sequence`,
    );
  const cost = (c: TrainPlanCandidate) =>
    c.estimate.usd ?? (c.estimate.time.step_time_s * c.estimate.time.gpus) / c.estimate.time.tokens_per_step;
  found.sort((a, b) =>
    o.objective === 'cheapest'
      ? cost(a) - cost(b)
      : b.estimate.time.tokens_per_s - a.estimate.time.tokens_per_s,
  );
  return found.slice(0, top);
}
