import type { Command } from 'commander';
import { TRAINING_DEFAULTS } from '../../core/defaults.js';
import { OPTIMIZER_IDS } from '../../core/memory/optimizers.js';
import {
  trainingMemory,
  type Recompute,
  type TrainingOptions,
  type TrainingPrecision,
} from '../../core/memory/training.js';
import type { PricePolicy } from '../../core/planner/cost.js';
import { trainEstimate, trainEstimateJson, type TrainEstimate } from '../../core/perf/train-estimate.js';
import { choice, int, LIMITS } from '../options.js';
import { fitJson, gb, printFit, printJson, printTable, printTrace } from '../output.js';
import { resolveHardware, resolveModel } from '../resolve.js';
import { positiveNumber, tokenCount, trainPrice } from '../train-options.js';

interface TrainOpts {
  optimizer: string;
  precision: TrainingPrecision;
  batch: number;
  seq: number;
  zero: string;
  dp: number;
  tp: number;
  pp: number;
  vpp: number;
  cp: number;
  ep: number;
  globalBatch?: number;
  tokens?: number;
  pricePerGpuHour?: number;
  prices?: string;
  pricePolicy: PricePolicy;
  loraRank?: number;
  loraTargets: string;
  qlora?: boolean;
  recompute: Recompute;
  trainablePercent?: number;
  gpu?: string;
  json?: boolean;
  explain?: boolean;
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description(
      'training memory per device (weights, master copy, gradients, optimizer states, activations); with --gpu, ' +
        'the step time, tokens/s, MFU, and for --tokens the time and cost to train',
    )
    .argument('<model>', 'catalog id or alias, or a path to a config.json')
    .option('--optimizer <o>', `optimizer (${OPTIMIZER_IDS.join(', ')})`, 'adamw')
    .option(
      '--precision <p>',
      'training precision (fp32, bf16, fp16 mixed, fp8)',
      choice('--precision', ['fp32', 'bf16', 'fp16', 'fp8'] as const),
      'bf16',
    )
    .option('--batch <n>', 'micro-batch per device', int('--batch', 1, LIMITS.batch), 1)
    .option(
      '--global-batch <n>',
      'sequences per optimizer step (gradient accumulation = global / (batch × dp); default batch × dp)',
      int('--global-batch', 1, LIMITS.batch * 1000),
    )
    .option('--seq <n>', 'sequence length', int('--seq', 1, LIMITS.seq), 2048)
    .option(
      '--zero <s>',
      'ZeRO stage 0-3 or fsdp',
      choice('--zero', ['0', '1', '2', '3', 'fsdp'] as const),
      '0',
    )
    .option('--dp <n>', 'data-parallel degree', int('--dp', 1, LIMITS.parallel), 1)
    .option('--tp <n>', 'tensor-parallel degree', int('--tp', 1, LIMITS.parallel), 1)
    .option('--pp <n>', 'pipeline-parallel degree', int('--pp', 1, LIMITS.parallel), 1)
    .option('--vpp <n>', 'virtual pipeline stages per device (interleaved 1F1B)', int('--vpp', 1, 128), 1)
    .option('--cp <n>', 'context-parallel degree (ring attention)', int('--cp', 1, LIMITS.parallel), 1)
    .option('--ep <n>', 'expert-parallel degree (within dp × cp × tp)', int('--ep', 1, LIMITS.parallel), 1)
    .option(
      '--tokens <t>',
      'tokens to train on (2e9, 2B, 15T): time and cost to train',
      tokenCount('--tokens'),
    )
    .option(
      '--price-per-gpu-hour <usd>',
      "USD per GPU-hour (default: the planner's price table)",
      positiveNumber('--price-per-gpu-hour'),
    )
    .option('--prices <file>', 'prices file (JSON) laid over the catalog (default env INFERSIM_PRICES)')
    .option(
      '--price-policy <p>',
      "which provider's price: median or min",
      choice('--price-policy', ['median', 'min'] as const),
      'median',
    )
    .option('--lora-rank <r>', 'train LoRA adapters of this rank', int('--lora-rank', 1, 65536))
    .option(
      '--lora-targets <list>',
      "comma-separated module names, or 'all-linear'",
      TRAINING_DEFAULTS.loraTargets,
    )
    .option('--qlora', 'QLoRA: 4-bit NF4 base weights (needs --lora-rank)')
    .option(
      '--recompute <r>',
      'activation recomputation',
      choice('--recompute', ['none', 'selective', 'full'] as const),
      'none',
    )
    .option('--trainable-percent <p>', 'percent of parameters trained (0-100]', (v: string) => {
      const n = Number(v);
      if (!(n > 0 && n <= 100)) throw new Error(`--trainable-percent must be in (0, 100] (got '${v}')`);
      return n;
    })
    .option('--gpu <id>', 'device or system id: say whether it fits there, by how much, and what would')
    .option('--json', 'print JSON')
    .option('--explain', 'show the formula and inputs of every figure')
    .action((model: string, o: TrainOpts) => {
      const m = resolveModel(model);
      const hw = o.gpu ? resolveHardware(o.gpu) : null;
      const targets =
        o.loraTargets === 'all-linear'
          ? 'all-linear'
          : o.loraTargets
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean);
      const opts: TrainingOptions = {
        precision: o.precision,
        optimizer: o.optimizer,
        batch: o.batch,
        seq: o.seq,
        dp: o.dp,
        tp: o.tp,
        pp: o.pp,
        zero: o.zero === 'fsdp' ? 'fsdp' : (Number(o.zero) as 0 | 1 | 2 | 3),
        recompute: o.recompute,
        lora: o.loraRank ? { rank: o.loraRank, targets } : null,
        qlora: Boolean(o.qlora),
        trainablePercent: o.trainablePercent,
        explain: Boolean(o.explain),
      };
      if ((o.tokens || o.vpp > 1 || o.cp > 1 || o.ep > 1 || o.globalBatch) && !hw)
        throw new Error(
          '--tokens, --global-batch, --vpp, --cp and --ep need --gpu <id> (the device to time on)',
        );
      const r = trainingMemory(m.spec, { ...opts, seq: Math.max(1, Math.floor(o.seq / o.cp)) });
      const price = hw ? trainPrice(hw.id, o) : null;
      const est = hw
        ? trainEstimate(m.spec, hw, {
            ...opts,
            dp: o.dp,
            tp: o.tp,
            pp: o.pp,
            zero: opts.zero ?? 0,
            recompute: o.recompute,
            lora: opts.lora ?? null,
            qlora: Boolean(o.qlora),
            microBatch: o.batch,
            globalBatch: o.globalBatch,
            vpp: o.vpp,
            cp: o.cp,
            ep: o.ep,
            tokens: o.tokens,
            usdPerGpuHour: price?.usd_per_gpu_hour ?? null,
          })
        : null;
      const fit = est ? est.fit : null;
      const { trace, ...rest } = r;
      const bytes = Object.fromEntries(Object.entries(r.components).map(([k, v]) => [`${k}_bytes`, v]));
      if (o.json)
        return printJson({
          model: m.id,
          total_bytes: r.peak_bytes,
          ...bytes,
          ...rest,
          ...(fit ? { fits: fit.fits, fit: fitJson(fit) } : {}),
          ...(est ? { ...trainEstimateJson(est), price } : {}),
          ...(o.explain ? { trace } : {}),
        });
      if (fit) printFit(fit);
      printTable(
        ['per device', 'bytes', 'GB (10^9 B)'],
        [
          ...Object.entries(r.components).map(([k, v]) => [k, Math.round(v).toLocaleString('en-US'), gb(v)]),
          ['peak (total)', Math.round(r.peak_bytes).toLocaleString('en-US'), gb(r.peak_bytes)],
        ],
      );
      process.stdout.write(
        `trainable parameters: ${r.trainable_parameters.toLocaleString('en-US')} of ${r.total_parameters.toLocaleString('en-US')} (${r.trainable_percent.toFixed(4)}%)\n`,
      );
      if (est) printTime(est, price?.usd_per_gpu_hour ?? null);
      if (o.explain) printTrace(trace);
    });
}

const hours = (s: number) =>
  s >= 86400
    ? `${(s / 86400).toFixed(1)} days`
    : s >= 3600
      ? `${(s / 3600).toFixed(1)} h`
      : `${s.toFixed(0)} s`;

function printTime(e: TrainEstimate, price: number | null): void {
  const t = e.time;
  const x = t.breakdown.exposed_communication_s;
  const f = (v: number) => `${v.toFixed(3)} s`;
  printTable(
    ['step', 'value'],
    [
      ['GPUs', t.gpus],
      ['micro-batches per step', t.microbatches],
      ['step time', f(t.step_time_s)],
      ['  compute', f(t.breakdown.compute_s)],
      ['  pipeline bubble', `${f(t.breakdown.bubble_s)} (${(100 * t.bubble_fraction).toFixed(1)}%)`],
      [
        '  exposed comm (tp/cp/ep/pp/dp)',
        [x.tp, x.cp, x.ep, x.pp, x.dp].map((v) => v.toFixed(3)).join(' / '),
      ],
      ['  optimizer + dequant', f(t.breakdown.optimizer_s + t.breakdown.dequant_s)],
      ['tokens/s', Math.round(t.tokens_per_s).toLocaleString('en-US')],
      ['tokens/s per GPU', Math.round(t.tokens_per_s_per_gpu).toLocaleString('en-US')],
      ['MFU (6N, BF16 peak)', `${(100 * t.mfu).toFixed(1)}%`],
      ['MFU with attention', `${(100 * t.mfu_with_attention).toFixed(1)}%`],
      ...(e.time_to_train_s !== null ? [['time to train', hours(e.time_to_train_s)]] : []),
      ...(e.usd !== null
        ? [['cost', `$${Math.round(e.usd).toLocaleString('en-US')} at $${price}/GPU-hour`]]
        : e.time_to_train_s !== null
          ? [['cost', 'no price for this device (--price-per-gpu-hour)']]
          : []),
    ],
  );
}
