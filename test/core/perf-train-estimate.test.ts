/**
 * A training run's estimate: memory options per device, the adapters that train, time to a token budget and its
 * price. Llama-3-8B (reference config); LoRA rank 16 on every linear layer: 16 · (in + out) per matrix, q 8192,
 * k 5120, v 5120, o 8192, gate/up/down 18432 each = 81,920 · 16 per layer, 41,943,040 over 32 layers.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import {
  memoryOptions,
  trainEstimate,
  trainEstimateJson,
  type TrainEstimateOptions,
} from '../../src/core/perf/train-estimate.js';
import { referenceSpec } from '../helpers.js';
import { oneDeviceRun } from './fixtures-perf.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const llama3 = () => referenceSpec('meta-llama__Meta-Llama-3-8B.json');
const o: TrainEstimateOptions = { ...oneDeviceRun(), optimizer: 'adamw', lora: null, qlora: false };

describe('memory options of one device', () => {
  it('CP splits each sequence (floor, at least one token); the rest passes through', () => {
    expect(
      memoryOptions({ ...o, seq: 1000, cp: 3, dp: 2, tp: 4, pp: 2, zero: 1, trainablePercent: 50 }),
    ).toEqual({
      precision: 'bf16',
      optimizer: 'adamw',
      batch: 1,
      seq: 333,
      dp: 2,
      tp: 4,
      pp: 2,
      zero: 1,
      recompute: 'none',
      lora: null,
      qlora: false,
      trainablePercent: 50,
      explain: false,
    });
    expect(memoryOptions({ ...o, seq: 2, cp: 4 }).seq).toBe(1);
    expect(memoryOptions(o).seq).toBe(1024);
  });
});

describe('trainEstimate', () => {
  it('LoRA: the optimizer updates the 41,943,040 adapters (30 B each at 3.35 TB/s)', () => {
    const e = trainEstimate(llama3(), h100, { ...o, lora: { rank: 16, targets: 'all-linear' } });
    expect(e.memory.trainable_parameters).toBe(41_943_040);
    expect(e.time.breakdown.optimizer_s).toBeCloseTo((41_943_040 * 30) / 3.35e12, 15);
    const full = trainEstimate(llama3(), h100, o);
    expect(full.time.breakdown.optimizer_s).toBeCloseTo((8_030_261_248 * 30) / 3.35e12, 12);
  });
  it('time to a token budget and its price: tokens / rate, GPU-hours · price', () => {
    const e = trainEstimate(llama3(), h100, { ...o, dp: 2, tokens: 1e9, usdPerGpuHour: 3 });
    const seconds = 1e9 / e.time.tokens_per_s;
    expect(e.time_to_train_s).toBeCloseTo(seconds, 6);
    expect(e.usd).toBeCloseTo((seconds / 3600) * 2 * 3, 6);
    expect(trainEstimate(llama3(), h100, { ...o, tokens: 1e9 }).usd).toBeNull();
    const none = trainEstimate(llama3(), h100, { ...o, usdPerGpuHour: 3 });
    expect([none.time_to_train_s, none.usd]).toEqual([null, null]);
  });
  it('the global batch, CP and EP reach the step time', () => {
    const e = trainEstimate(llama3(), h100, { ...o, dp: 2, globalBatch: 8, cp: 2, vpp: 1 });
    expect(e.time.microbatches).toBe(4);
    expect(e.time.gpus).toBe(4);
    expect(e.time.tokens_per_step).toBe(8 * 1024);
  });
  it('QLoRA needs a LoRA rank; the token budget must be a positive number', () => {
    expect(() => trainEstimate(llama3(), h100, { ...o, qlora: true })).toThrow(
      'qlora needs a LoRA rank (lora_rank)',
    );
    for (const tokens of [0, -1, NaN, Infinity])
      expect(() => trainEstimate(llama3(), h100, { ...o, tokens })).toThrow(
        `tokens must be a positive number (got ${tokens})`,
      );
  });
});

describe('trainEstimateJson', () => {
  it('flat figures: the exposed collectives summed into the step breakdown', () => {
    const e = trainEstimate(llama3(), h100, { ...o, tp: 2, dp: 2, tokens: 1e9, usdPerGpuHour: 2 });
    const j = trainEstimateJson(e);
    const x = e.time.breakdown.exposed_communication_s;
    expect(x.tp).toBeGreaterThan(0);
    expect(j.step_breakdown_s).toEqual({
      compute: e.time.breakdown.compute_s,
      bubble: e.time.breakdown.bubble_s,
      exposed_communication: x.tp + x.cp + x.ep + x.pp + x.dp,
      optimizer: e.time.breakdown.optimizer_s,
      dequant: e.time.breakdown.dequant_s,
    });
    expect([j.fits, j.gpus, j.time_to_train_s, j.usd, j.step_time_s, j.mfu]).toEqual([
      e.fit.fits,
      4,
      e.time_to_train_s,
      e.usd,
      e.time.step_time_s,
      e.time.mfu,
    ]);
    expect(j.calibration_group).toBe('nvidia-hopper:bf16:dense');
  });
});
