import type { Command } from 'commander';
import { TRAINING_DEFAULTS } from '../../core/defaults.js';
import { trainingFit } from '../../core/memory/fit.js';
import { OPTIMIZER_IDS } from '../../core/memory/optimizers.js';
import {
  trainingMemory,
  type Recompute,
  type TrainingOptions,
  type TrainingPrecision,
} from '../../core/memory/training.js';
import { choice, int, LIMITS } from '../options.js';
import { fitJson, gb, printFit, printJson, printTable, printTrace } from '../output.js';
import { resolveHardware, resolveModel } from '../resolve.js';

interface TrainOpts {
  optimizer: string;
  precision: TrainingPrecision;
  batch: number;
  seq: number;
  zero: string;
  dp: number;
  tp: number;
  pp: number;
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
    .description('training memory per device: weights, master copy, gradients, optimizer states, activations')
    .argument('<model>', 'catalog id or alias, or a path to a config.json')
    .option('--optimizer <o>', `optimizer (${OPTIMIZER_IDS.join(', ')})`, 'adamw')
    .option(
      '--precision <p>',
      'training precision (fp32, bf16, fp16 mixed, fp8)',
      choice('--precision', ['fp32', 'bf16', 'fp16', 'fp8'] as const),
      'bf16',
    )
    .option('--batch <n>', 'micro-batch per device', int('--batch', 1, LIMITS.batch), 1)
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
      const r = trainingMemory(m.spec, opts);
      const fit = hw ? trainingFit(m.spec, hw, opts) : null;
      const { trace, ...rest } = r;
      const bytes = Object.fromEntries(Object.entries(r.components).map(([k, v]) => [`${k}_bytes`, v]));
      if (o.json)
        return printJson({
          model: m.id,
          total_bytes: r.peak_bytes,
          ...bytes,
          ...rest,
          ...(fit ? { fits: fit.fits, fit: fitJson(fit) } : {}),
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
      if (o.explain) printTrace(trace);
    });
}
