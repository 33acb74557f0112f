/**
 * A training run on a device: per-device memory and fit (core/memory), step time and MFU (train-time.ts), and
 * for a token budget the wall-clock time and its cost at a price per GPU-hour. One options shape for the CLI, the
 * API and the planner.
 */
import type { ModelSpec } from '../arch/spec.js';
import type { HardwareSpec } from '../hardware/spec.js';
import { trainingFit, type FitVerdict } from '../memory/fit.js';
import { InputError } from '../memory/inference.js';
import {
  trainingMemory,
  type LoraOptions,
  type Recompute,
  type TrainingMemory,
  type TrainingOptions,
  type TrainingPrecision,
  type ZeroStage,
} from '../memory/training.js';
import { trainTime, type TrainTime } from './train-time.js';

export interface TrainEstimateOptions {
  precision: TrainingPrecision;
  optimizer: string;
  /** Micro-batch per device (sequences). */
  microBatch: number;
  /** Sequences per optimizer step; default microBatch · dp. */
  globalBatch?: number;
  seq: number;
  dp: number;
  tp: number;
  pp: number;
  vpp?: number;
  cp?: number;
  ep?: number;
  zero: ZeroStage;
  recompute: Recompute;
  lora: LoraOptions | null;
  qlora: boolean;
  trainablePercent?: number;
  /** Tokens to train on: gives time_to_train_s and usd. */
  tokens?: number;
  /** USD per GPU-hour (the planner's price or the user's); null: no cost. */
  usdPerGpuHour?: number | null;
}

export interface TrainEstimate {
  memory: TrainingMemory;
  fit: FitVerdict;
  time: TrainTime;
  time_to_train_s: number | null;
  usd: number | null;
}

/** Memory options for one device: context parallelism splits each sequence, so activations see seq / cp. */
export function memoryOptions(o: TrainEstimateOptions): TrainingOptions {
  return {
    precision: o.precision,
    optimizer: o.optimizer,
    batch: o.microBatch,
    seq: Math.max(1, Math.floor(o.seq / (o.cp ?? 1))),
    dp: o.dp,
    tp: o.tp,
    pp: o.pp,
    zero: o.zero,
    recompute: o.recompute,
    lora: o.lora,
    qlora: o.qlora,
    trainablePercent: o.trainablePercent,
    explain: false,
  };
}

export function trainEstimate(spec: ModelSpec, hw: HardwareSpec, o: TrainEstimateOptions): TrainEstimate {
  if (o.qlora && !o.lora) throw new InputError('qlora needs a LoRA rank (lora_rank)');
  if (o.tokens !== undefined && !(Number.isFinite(o.tokens) && o.tokens > 0))
    throw new InputError(`tokens must be a positive number (got ${o.tokens})`);
  const mem = memoryOptions(o);
  const memory = trainingMemory(spec, mem);
  const fit = trainingFit(spec, hw, mem);
  const adapters = o.lora ? memory.trainable_parameters : null;
  const time = trainTime(spec, hw, {
    precision: o.precision,
    microBatch: o.microBatch,
    globalBatch: o.globalBatch,
    seq: o.seq,
    dp: o.dp,
    tp: o.tp,
    pp: o.pp,
    vpp: o.vpp,
    cp: o.cp,
    ep: o.ep,
    zero: o.zero,
    recompute: o.recompute,
    adapterParameters: adapters,
    qlora: o.qlora,
  });
  const seconds = o.tokens === undefined ? null : o.tokens / time.tokens_per_s;
  const price = o.usdPerGpuHour ?? null;
  return {
    memory,
    fit,
    time,
    time_to_train_s: seconds,
    usd: seconds === null || price === null ? null : (seconds / 3600) * time.gpus * price,
  };
}

/** The figures the CLI and the API print, flat, in bytes, seconds, FLOPs and USD. */
export function trainEstimateJson(e: TrainEstimate) {
  const t = e.time;
  return {
    fits: e.fit.fits,
    gpus: t.gpus,
    microbatches: t.microbatches,
    tokens_per_step: t.tokens_per_step,
    step_time_s: t.step_time_s,
    tokens_per_s: t.tokens_per_s,
    tokens_per_s_per_gpu: t.tokens_per_s_per_gpu,
    mfu: t.mfu,
    mfu_with_attention: t.mfu_with_attention,
    time_to_train_s: e.time_to_train_s,
    usd: e.usd,
    bubble_fraction: t.bubble_fraction,
    exposed_communication_s: t.breakdown.exposed_communication_s,
    communication_s: t.communication_s,
    step_breakdown_s: {
      compute: t.breakdown.compute_s,
      bubble: t.breakdown.bubble_s,
      exposed_communication: Object.values(t.breakdown.exposed_communication_s).reduce((a, b) => a + b, 0),
      optimizer: t.breakdown.optimizer_s,
      dequant: t.breakdown.dequant_s,
    },
    dp_bytes_per_step: t.dp_bytes_per_step,
    flops_per_token: t.flops_per_token,
    compute_efficiency: t.compute_efficiency,
    calibration_group: t.calibration_group,
    ideal: t.ideal,
  };
}
