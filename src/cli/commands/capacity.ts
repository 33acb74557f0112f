import type { Command } from 'commander';
import { engineCapacity } from '../../core/memory/capacity.js';
import { modelDtype } from '../../core/memory/inference.js';
import { RUNTIME_IDS, type RuntimeId } from '../../core/memory/runtime.js';
import { choice, fraction, int, LIMITS, planOptions } from '../options.js';
import { gb, printJson, printTable, printTrace } from '../output.js';
import { resolveHardware, resolveModel, UsageError } from '../resolve.js';

interface CapacityOpts {
  gpu?: string;
  tp: number;
  pp: number;
  ep: number;
  gpuMemoryUtilization: number;
  precision: string;
  kvPrecision?: string;
  maxModelLen?: number;
  maxNumBatchedTokens?: number;
  maxNumSeqs: number;
  blockSize: number;
  runtime: RuntimeId;
  json?: boolean;
  explain?: boolean;
}

export function registerCapacity(program: Command): void {
  planOptions(
    program
      .command('capacity')
      .description('what an engine like vLLM does with a device: KV-cache bytes, max KV tokens, concurrency')
      .argument('<model>', 'catalog id or alias, or a path to a config.json'),
  )
    .option('--gpu <id>', 'device or system id from `infersim hardware`')
    .option(
      '--gpu-memory-utilization <f>',
      'fraction of device memory the engine may use',
      fraction('--gpu-memory-utilization'),
      0.9,
    )
    .option('--precision <p>', "weight storage format ('auto' = as the checkpoint ships)", 'auto')
    .option('--kv-precision <p>', 'KV-cache dtype (default: the model dtype)')
    .option(
      '--max-model-len <n>',
      'longest sequence (default: the model maximum, capped at 131072)',
      int('--max-model-len', 1, LIMITS.seq),
    )
    .option(
      '--max-num-batched-tokens <n>',
      'tokens in the profiling step (default: min(max-model-len, 8192))',
      int('--max-num-batched-tokens', 1, LIMITS.seq),
    )
    .option(
      '--max-num-seqs <n>',
      'sequences in the profiling step',
      int('--max-num-seqs', 1, LIMITS.batch),
      256,
    )
    .option('--block-size <n>', 'KV block size in tokens', int('--block-size', 1, 4096), 16)
    .option(
      '--runtime <r>',
      `runtime profile (${RUNTIME_IDS.join(', ')})`,
      choice('--runtime', RUNTIME_IDS),
      'vllm-v1',
    )
    .option('--json', 'print JSON')
    .option('--explain', 'show the formula and inputs of every figure')
    .action((model: string, o: CapacityOpts) => {
      if (!o.gpu) throw new UsageError('capacity needs --gpu <id> (see `infersim hardware`)');
      const m = resolveModel(model);
      const hw = resolveHardware(o.gpu);
      const maxLen = o.maxModelLen ?? Math.min(m.spec.maxPositionEmbeddings ?? 4096, 131072);
      const c = engineCapacity(m.spec, {
        deviceBytes: hw.visibleMemoryBytes,
        gpuMemoryUtilization: o.gpuMemoryUtilization,
        precision: o.precision,
        kvPrecision: o.kvPrecision ?? modelDtype(m.spec),
        plan: { tp: o.tp, pp: o.pp, ep: o.ep },
        maxModelLen: maxLen,
        maxNumBatchedTokens: o.maxNumBatchedTokens ?? Math.min(maxLen, 8192),
        maxNumSeqs: o.maxNumSeqs,
        blockSize: o.blockSize,
        runtime: o.runtime,
        explain: o.explain,
      });
      const { trace, ...figures } = c;
      const out = {
        model: m.id,
        gpu: hw.id,
        device_visible_bytes: hw.visibleMemoryBytes,
        max_model_len: maxLen,
        per_device: true,
        ...figures,
      };
      if (o.json) return printJson({ ...out, ...(o.explain ? { trace } : {}) });
      printTable(
        ['per device', 'value'],
        [
          ['device visible memory', gb(hw.visibleMemoryBytes)],
          ['usable', gb(c.usable_bytes)],
          ['weights', gb(c.weights_bytes)],
          ['activation peak', gb(c.activation_bytes)],
          ['non-torch overhead', gb(c.overhead_bytes)],
          ['KV cache available', gb(c.kv_cache_bytes_available)],
          ['max KV tokens', c.max_kv_tokens.toLocaleString('en-US')],
          [`concurrent sequences of ${maxLen} tokens`, c.max_concurrency.toLocaleString('en-US')],
        ],
      );
      if (o.explain) printTrace(trace);
    });
}
