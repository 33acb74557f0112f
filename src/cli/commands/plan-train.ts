/**
 * `infersim plan <model> --train`: the fastest (or cheapest) training layout on --gpus devices of each --gpu kind
 * (core/perf/train-plan.ts), with its step time, tokens/s per GPU, MFU, and for --tokens the time and cost.
 */
import type { Command } from 'commander';
import { planDevices } from '../../catalog/prices/devices.js';
import { findDevice } from '../../catalog/index.js';
import { trainEstimateJson } from '../../core/perf/train-estimate.js';
import { planTraining } from '../../core/perf/train-plan.js';
import type { PricePolicy } from '../../core/planner/cost.js';
import { choice, int } from '../options.js';
import { printJson, printTable } from '../output.js';
import { resolveModel } from '../resolve.js';
import { tokenCount } from '../train-options.js';

export interface PlanTrainOpts {
  gpu?: string;
  gpus: number;
  seq: number;
  precision?: string;
  globalBatch?: number;
  tokens?: number;
  loraRank?: number;
  qlora?: boolean;
  objective: 'fastest' | 'cheapest';
  pricePerGpuHour?: number;
  prices?: string;
  pricePolicy: PricePolicy;
  top: number;
  json?: boolean;
}

/** The options `plan --train` adds to `plan`. */
export function trainPlanOptions(c: Command): Command {
  return c
    .option('--train', 'plan a training run: parallelism and micro-batch on --gpus devices (see train)')
    .option('--gpus <n>', '--train: devices of each kind', int('--gpus', 1, 65536), 8)
    .option(
      '--global-batch <n>',
      '--train: sequences per step (default: one per device)',
      int('--global-batch', 1, 1e8),
    )
    .option('--tokens <t>', '--train: tokens to train on (2e9, 2B, 15T)', tokenCount('--tokens'))
    .option(
      '--lora-rank <r>',
      '--train: LoRA adapters of this rank on all linear layers',
      int('--lora-rank', 1, 65536),
    )
    .option('--qlora', '--train: 4-bit NF4 frozen base (needs --lora-rank)')
    .option(
      '--objective <o>',
      '--train: fastest or cheapest',
      choice('--objective', ['fastest', 'cheapest'] as const),
      'fastest',
    );
}

const TRAIN_PRECISIONS = ['fp32', 'fp16', 'bf16', 'fp8'] as const;

export function planTrain(model: string, o: PlanTrainOpts): void {
  const m = resolveModel(model);
  const precision = (o.precision ?? 'bf16') as (typeof TRAIN_PRECISIONS)[number];
  if (!TRAIN_PRECISIONS.includes(precision))
    throw new Error(
      `--precision with --train must be one of ${TRAIN_PRECISIONS.join(', ')} (got '${precision}')`,
    );
  if (o.qlora && !o.loraRank) throw new Error('--qlora needs --lora-rank');
  const ids = o.gpu === undefined ? ['h100-sxm-80gb'] : o.gpu.split(',').map((s) => s.trim());
  const priced = planDevices(
    ids.map((id) => findDevice(id).id),
    {
      pricesFile: o.prices,
      pricePerGpuHour: o.pricePerGpuHour,
      pricePolicy: o.pricePolicy,
    },
  );
  const devices = priced.map((d) => ({
    hw: d.hw,
    usdPerGpuHour: d.price?.usd_per_gpu_hour ?? null,
  }));
  const best = planTraining(
    m.spec,
    devices,
    {
      gpus: o.gpus,
      seq: o.seq,
      globalBatch: o.globalBatch ?? o.gpus,
      precision,
      optimizer: 'adamw',
      lora: o.loraRank ? { rank: o.loraRank, targets: 'all-linear' } : null,
      qlora: Boolean(o.qlora),
      tokens: o.tokens,
      objective: o.objective,
    },
    o.top,
  );
  const rows = best.map((c) => ({
    gpu: c.gpu,
    dp: c.options.dp,
    tp: c.options.tp,
    pp: c.options.pp,
    vpp: c.options.vpp,
    cp: c.options.cp,
    ep: c.options.ep,
    zero: c.options.zero,
    recompute: c.options.recompute,
    micro_batch: c.options.microBatch,
    peak_bytes: c.estimate.memory.peak_bytes,
    ...trainEstimateJson(c.estimate),
  }));
  if (o.json) return printJson({ model: m.id, objective: o.objective, plans: rows });
  const days = (s: number | null) => (s === null ? '-' : (s / 86400).toFixed(1));
  printTable(
    ['gpu', 'dp·tp·pp(vpp)·cp·ep', 'zero', 'recompute', 'mbs', 'step s', 'tok/s/GPU', 'MFU', 'days', 'USD'],
    rows.map((r) => [
      r.gpu,
      `${r.dp}·${r.tp}·${r.pp}(${r.vpp})·${r.cp}·${r.ep}`,
      String(r.zero),
      r.recompute,
      r.micro_batch,
      r.step_time_s.toFixed(2),
      Math.round(r.tokens_per_s_per_gpu).toLocaleString('en-US'),
      `${(100 * r.mfu).toFixed(1)}%`,
      days(r.time_to_train_s),
      r.usd === null ? '-' : `$${Math.round(r.usd).toLocaleString('en-US')}`,
    ]),
  );
}
