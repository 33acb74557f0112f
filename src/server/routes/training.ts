/**
 * POST /api/training/estimate: a training run on a device — per-device memory and fit, step time, tokens/s, MFU
 * with and without attention, exposed communication per kind, and for a token budget the time and cost to train
 * (core/perf/train-estimate.ts), the same figures as `infersim train --gpu … --json`. Bad input is a 4xx naming it.
 */
import { z } from 'zod';
import { findDevice, hardwareSpec } from '../../catalog/index.js';
import { loadPrices } from '../../catalog/prices/index.js';
import { TRAINING_DEFAULTS } from '../../core/defaults.js';
import { choosePrice } from '../../core/planner/cost.js';
import { trainEstimate, trainEstimateJson } from '../../core/perf/train-estimate.js';
import { resolveModel, type App, type AppContext } from '../context.js';
import { LIMITS } from '../limits.js';

const id = z.string().min(1).max(LIMITS.idLength);
const degree = z.number().int().min(1).max(4096);

export const trainingEstimateBody = z
  .object({
    model: id.describe('catalog id or alias'),
    gpu: id.describe('device or system id'),
    precision: z.enum(['fp32', 'fp16', 'bf16', 'fp8']).default('bf16'),
    optimizer: z.string().min(1).max(40).default('adamw'),
    micro_batch: z.number().int().min(1).max(LIMITS.batch).default(1).describe('sequences per device'),
    global_batch: z.number().int().min(1).max(100_000_000).optional().describe('sequences per step'),
    seq: z.number().int().min(1).max(LIMITS.seq).default(2048),
    dp: degree.default(1),
    tp: degree.default(1),
    pp: degree.default(1),
    vpp: z.number().int().min(1).max(128).default(1),
    cp: degree.default(1),
    ep: degree.default(1),
    zero: z.enum(['0', '1', '2', '3', 'fsdp']).default('0'),
    recompute: z.enum(['none', 'selective', 'full']).default('none'),
    lora_rank: z.number().int().min(1).max(65536).optional(),
    qlora: z.boolean().default(false),
    tokens: z.number().positive().max(1e16).optional().describe('tokens to train on'),
    price_per_gpu_hour: z.number().positive().max(1000).optional(),
    price_policy: z.enum(['median', 'min']).default('median'),
  })
  .strict();

type Body = z.infer<typeof trainingEstimateBody>;

async function estimate(ctx: AppContext, b: Body) {
  const m = await resolveModel(ctx, b.model);
  const device = findDevice(b.gpu);
  const hw = hardwareSpec(device);
  const price = choosePrice(loadPrices(), device.id, {
    policy: b.price_policy,
    override: b.price_per_gpu_hour,
  });
  const e = trainEstimate(m.spec, hw, {
    precision: b.precision,
    optimizer: b.optimizer,
    microBatch: b.micro_batch,
    globalBatch: b.global_batch,
    seq: b.seq,
    dp: b.dp,
    tp: b.tp,
    pp: b.pp,
    vpp: b.vpp,
    cp: b.cp,
    ep: b.ep,
    zero: b.zero === 'fsdp' ? 'fsdp' : (Number(b.zero) as 0 | 1 | 2 | 3),
    recompute: b.recompute,
    lora: b.lora_rank ? { rank: b.lora_rank, targets: TRAINING_DEFAULTS.loraTargets } : null,
    qlora: b.qlora,
    tokens: b.tokens,
    usdPerGpuHour: price?.usd_per_gpu_hour ?? null,
  });
  const bytes = Object.fromEntries(Object.entries(e.memory.components).map(([k, v]) => [`${k}_bytes`, v]));
  return {
    model: m.id,
    gpu: device.id,
    total_bytes: e.memory.peak_bytes,
    ...bytes,
    trainable_parameters: e.memory.trainable_parameters,
    total_parameters: e.memory.total_parameters,
    fit: {
      visible_bytes: e.fit.visible_bytes,
      available_bytes: e.fit.available_bytes,
      required_bytes: e.fit.required_bytes,
      headroom_bytes: e.fit.headroom_bytes,
      message: e.fit.message,
    },
    ...trainEstimateJson(e),
    price,
  };
}

export function registerTrainingRoutes(app: App, ctx: AppContext): void {
  app.post(
    '/api/training/estimate',
    {
      schema: {
        tags: ['training'],
        summary:
          'Training run on a device: memory and fit, step time, tokens/s per GPU, MFU (with and without attention), exposed communication, time and cost to train',
        body: trainingEstimateBody,
      },
    },
    async (req) => estimate(ctx, req.body),
  );
}
