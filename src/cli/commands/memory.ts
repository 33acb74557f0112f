import type { Command } from 'commander';
import { defaultKvPrecision, kvBlockSizeFor, SERVING_DEFAULTS } from '../../core/defaults.js';
import { inferenceFit } from '../../core/memory/fit.js';
import { inferenceMemory, type InferenceOptions } from '../../core/memory/inference.js';
import { RUNTIME_IDS, type RuntimeId } from '../../core/memory/runtime.js';
import { choice, int, LIMITS, planOptions, utilizationOption } from '../options.js';
import { fitJson, gb, printFit, printJson, printTable, printTrace } from '../output.js';
import { resolveHardware, resolveModel } from '../resolve.js';
import { memoryByPrecision, wantsAll } from '../all-precisions.js';
import type { ModelSpec } from '../../core/arch/index.js';

interface MemoryOpts {
  precision: string;
  kvPrecision?: string;
  batch: number;
  seq: number;
  tp: number;
  pp: number;
  ep: number;
  images: number;
  runtime: RuntimeId;
  gpu?: string;
  gpuMemoryUtilization: number;
  json?: boolean;
  explain?: boolean;
}

export function registerMemory(program: Command): void {
  utilizationOption(
    planOptions(
      program
        .command('memory')
        .description('inference memory per device: weights, KV cache, activations, state, overhead (bytes)')
        .argument('<model>', 'catalog id or alias, or a path to a config.json'),
    ),
    SERVING_DEFAULTS.gpuMemoryUtilization,
  )
    .option('--gpu <id>', 'device or system id: say whether it fits there, by how much, and what would')
    .option(
      '--precision <p>',
      "weight storage format (bf16, fp8, int4, awq, nf4, mxfp4, q4_k_m, ...; 'auto' = as the checkpoint ships; 'all' = a table of the common ones)",
      'auto',
    )
    .option(
      '--kv-precision <p>',
      'KV-cache dtype (default: the weight precision if a float, else the model dtype)',
    )
    .option('--batch <n>', 'sequences', int('--batch', 1, LIMITS.batch), 1)
    .option('--seq <n>', 'tokens per sequence (prompt + output)', int('--seq', 1, LIMITS.seq), 2048)
    .option('--images <n>', 'images per sequence (vision-language models)', int('--images', 0, 1000), 0)
    .option(
      '--runtime <r>',
      `runtime overhead profile (${RUNTIME_IDS.join(', ')})`,
      choice('--runtime', RUNTIME_IDS),
      SERVING_DEFAULTS.runtime,
    )
    .option('--json', 'print JSON')
    .option('--explain', 'show the formula and inputs of every figure')
    .action((model: string, o: MemoryOpts) => {
      const m = resolveModel(model);
      if (wantsAll(o.precision)) return printAllPrecisions(m.id, m.spec, o);
      const hw = o.gpu ? resolveHardware(o.gpu) : null;
      const opts: InferenceOptions = {
        precision: o.precision,
        kvPrecision: o.kvPrecision ?? defaultKvPrecision(m.spec, o.precision),
        batch: o.batch,
        seq: o.seq,
        plan: { tp: o.tp, pp: o.pp, ep: o.ep },
        images: o.images,
        runtime: o.runtime,
        blockSize: kvBlockSizeFor(o.runtime),
        explain: o.explain,
      };
      const r = inferenceMemory(m.spec, opts);
      const fit = hw
        ? inferenceFit(m.spec, hw, { ...opts, gpuMemoryUtilization: o.gpuMemoryUtilization })
        : null;
      const { trace, ...figures } = r;
      if (o.json)
        return printJson({
          model: m.id,
          per_device: true,
          runtime: o.runtime,
          kv_precision: opts.kvPrecision,
          ...figures,
          ...(fit ? { fits: fit.fits, fit: fitJson(fit, undefined, { runtime: o.runtime }) } : {}),
          ...(o.explain ? { trace } : {}),
        });
      if (fit) printFit(fit, undefined, `, runtime ${o.runtime}`);
      printTable(
        ['per device', 'bytes', 'GB (10^9 B)'],
        (
          [
            ['weights', r.weights_bytes],
            ['KV cache', r.kv_cache_bytes],
            ['activations', r.activation_bytes],
            ['state', r.state_bytes],
            ['images', r.image_bytes],
            ['overhead', r.overhead_bytes],
            ['total', r.total_bytes],
          ] as const
        ).map(([k, v]) => [k, Math.round(v).toLocaleString('en-US'), gb(v)]),
      );
      process.stdout.write(
        `KV cache per token: ${r.kv_cache_bytes_per_token.toLocaleString('en-US')} bytes; devices: ${r.devices}\n`,
      );
      if (o.explain) printTrace(trace);
    });
}

/** `--precision all`: every common format in one table, and whether each fits the --gpu budget. */
function printAllPrecisions(id: string, spec: ModelSpec, o: MemoryOpts): void {
  const hw = o.gpu ? resolveHardware(o.gpu) : null;
  const budget = hw ? Math.floor(hw.visibleMemoryBytes * o.gpuMemoryUtilization) : null;
  const rows = memoryByPrecision(
    spec,
    {
      batch: o.batch,
      seq: o.seq,
      plan: { tp: o.tp, pp: o.pp, ep: o.ep },
      images: o.images,
      runtime: o.runtime,
      blockSize: kvBlockSizeFor(o.runtime),
    },
    o.kvPrecision,
  ).map((r) => ({ ...r, ...(budget !== null ? { fits: r.total_bytes <= budget } : {}) }));
  if (o.json)
    return printJson({ model: id, per_device: true, runtime: o.runtime, batch: o.batch, seq: o.seq, rows });
  printTable(
    [
      'precision',
      'KV dtype',
      'weights',
      'KV cache',
      'activations',
      'overhead',
      'total',
      ...(hw ? [`fits ${hw.id}`] : []),
    ],
    rows.map((r) => [
      r.precision,
      r.kv_precision,
      gb(r.weights_bytes),
      gb(r.kv_cache_bytes),
      gb(r.activation_bytes),
      gb(r.overhead_bytes),
      gb(r.total_bytes),
      ...(r.fits === undefined ? [] : [r.fits ? 'yes' : 'no']),
    ]),
  );
  process.stdout.write(`per device, batch ${o.batch}, ${o.seq} tokens, runtime ${o.runtime}\n`);
}
