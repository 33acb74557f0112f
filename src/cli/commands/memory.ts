import type { Command } from 'commander';
import { inferenceMemory, modelDtype } from '../../core/memory/inference.js';
import { RUNTIME_IDS, type RuntimeId } from '../../core/memory/runtime.js';
import { choice, int, LIMITS, planOptions } from '../options.js';
import { gb, printJson, printTable, printTrace } from '../output.js';
import { resolveModel } from '../resolve.js';

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
  json?: boolean;
  explain?: boolean;
}

export function registerMemory(program: Command): void {
  planOptions(
    program
      .command('memory')
      .description('inference memory per device: weights, KV cache, activations, state, overhead (bytes)')
      .argument('<model>', 'catalog id or alias, or a path to a config.json'),
  )
    .option(
      '--precision <p>',
      "weight storage format (bf16, fp8, int4, awq, nf4, mxfp4, q4_k_m, ...; 'auto' = as the checkpoint ships)",
      'auto',
    )
    .option('--kv-precision <p>', 'KV-cache dtype (default: the model dtype)')
    .option('--batch <n>', 'sequences', int('--batch', 1, LIMITS.batch), 1)
    .option('--seq <n>', 'tokens per sequence (prompt + output)', int('--seq', 1, LIMITS.seq), 2048)
    .option('--images <n>', 'images per sequence (vision-language models)', int('--images', 0, 1000), 0)
    .option(
      '--runtime <r>',
      `runtime overhead profile (${RUNTIME_IDS.join(', ')})`,
      choice('--runtime', RUNTIME_IDS),
      'pytorch',
    )
    .option('--json', 'print JSON')
    .option('--explain', 'show the formula and inputs of every figure')
    .action((model: string, o: MemoryOpts) => {
      const m = resolveModel(model);
      const r = inferenceMemory(m.spec, {
        precision: o.precision,
        kvPrecision: o.kvPrecision ?? modelDtype(m.spec),
        batch: o.batch,
        seq: o.seq,
        plan: { tp: o.tp, pp: o.pp, ep: o.ep },
        images: o.images,
        runtime: o.runtime,
        explain: o.explain,
      });
      const { trace, ...figures } = r;
      if (o.json)
        return printJson({ model: m.id, per_device: true, ...figures, ...(o.explain ? { trace } : {}) });
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
