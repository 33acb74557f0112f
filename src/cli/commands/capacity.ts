import { InvalidArgumentError, type Command } from 'commander';
import { ENGINE_IDS, engineKvCapacity, type EngineId } from '../../core/memory/engines/index.js';
import { choice, fraction, int, LIMITS, planOptions } from '../options.js';
import { gb, printJson, printTable, printTrace } from '../output.js';
import { resolveHardware, resolveModel, UsageError } from '../resolve.js';

interface CapacityOpts {
  gpu?: string;
  engine: EngineId;
  engineVersion?: string;
  tp: number;
  pp: number;
  ep: number;
  gpuMemoryUtilization?: number;
  memFractionStatic?: number;
  kvCacheFreeGpuMemFraction?: number;
  precision: string;
  kvPrecision?: string;
  dtype: string;
  maxModelLen?: number;
  maxNumBatchedTokens?: number;
  maxNumSeqs?: number;
  blockSize?: number;
  deviceMemoryGib?: number;
  usageContext: 'serve' | 'llm';
  enforceEager?: boolean;
  estimateCudaGraphs?: boolean;
  json?: boolean;
  explain?: boolean;
}

const GiB = 2 ** 30;

function positiveNumber(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive number (got '${v}')`);
    return n;
  };
}

export function registerCapacity(program: Command): void {
  planOptions(
    program
      .command('capacity')
      .description(
        'what an engine (vLLM, SGLang, TensorRT-LLM) gives the KV cache on a device, and how many requests fit',
      )
      .argument('<model>', 'catalog id or alias, or a path to a config.json'),
  )
    .option('--gpu <id>', 'device or system id from `infersim hardware`')
    .option(
      '--engine <e>',
      `serving engine (${ENGINE_IDS.join(', ')})`,
      choice('--engine', ENGINE_IDS),
      'vllm',
    )
    .option('--engine-version <v>', 'engine release (vllm default 0.19.0, sglang 0.5.3, trtllm 1.0.0)')
    .option(
      '--gpu-memory-utilization <f>',
      'vLLM: fraction of device memory the engine may use (default 0.9)',
      fraction('--gpu-memory-utilization'),
    )
    .option(
      '--mem-fraction-static <f>',
      "SGLang: weights + KV pool share of memory (default: SGLang's rule by GPU memory and TP)",
      fraction('--mem-fraction-static'),
    )
    .option(
      '--kv-cache-free-gpu-mem-fraction <f>',
      'TensorRT-LLM: share of the memory free after loading given to the KV cache (default 0.9)',
      fraction('--kv-cache-free-gpu-mem-fraction'),
    )
    .option('--precision <p>', "weight storage format ('auto' = as the checkpoint ships)", 'auto')
    .option('--kv-precision <p>', "KV-cache dtype ('auto' = the model dtype)")
    .option('--dtype <d>', "compute dtype: auto, bf16, fp16, fp32 ('auto' = the checkpoint's)", 'auto')
    .option(
      '--max-model-len <n>',
      "longest request (default: the model's max_position_embeddings)",
      int('--max-model-len', 1, LIMITS.seq),
    )
    .option(
      '--max-num-batched-tokens <n>',
      "tokens per step (default: the engine's, e.g. vLLM 8192 on >= 70 GiB GPUs)",
      int('--max-num-batched-tokens', 1, LIMITS.seq),
    )
    .option(
      '--max-num-seqs <n>',
      "requests per step (default: the engine's, e.g. vLLM 1024 on >= 70 GiB GPUs)",
      int('--max-num-seqs', 1, LIMITS.batch),
    )
    .option(
      '--block-size <n>',
      "KV block size in tokens (default: the engine's)",
      int('--block-size', 1, 4096),
    )
    .option(
      '--device-memory-gib <x>',
      'device memory as CUDA reports it (vLLM logs it as total_memory), in GiB',
      positiveNumber('--device-memory-gib'),
    )
    .option(
      '--usage-context <c>',
      'vLLM entry point: serve (`vllm serve`) or llm (offline LLM class)',
      choice('--usage-context', ['serve', 'llm'] as const),
      'serve',
    )
    .option('--enforce-eager', 'no CUDA graphs')
    .option('--estimate-cuda-graphs', 'vLLM: subtract the CUDA-graph estimate (default from 0.21 on)')
    .option('--json', 'print JSON')
    .option('--explain', 'show the formula and inputs of every figure')
    .action((model: string, o: CapacityOpts) => {
      if (!o.gpu) throw new UsageError('capacity needs --gpu <id> (see `infersim hardware`)');
      const m = resolveModel(model);
      const hw = resolveHardware(o.gpu);
      const fractions = {
        vllm: ['--gpu-memory-utilization', o.gpuMemoryUtilization],
        sglang: ['--mem-fraction-static', o.memFractionStatic],
        trtllm: ['--kv-cache-free-gpu-mem-fraction', o.kvCacheFreeGpuMemFraction],
      } as const;
      for (const [engine, [flag, value]] of Object.entries(fractions))
        if (engine !== o.engine && value !== undefined)
          throw new UsageError(
            `${flag} is a ${engine} setting; with --engine ${o.engine} use ${fractions[o.engine][0]}`,
          );
      const c = engineKvCapacity(m.spec, hw, {
        engine: o.engine,
        engineVersion: o.engineVersion,
        plan: { tp: o.tp, pp: o.pp, ep: o.ep },
        memoryFraction: fractions[o.engine][1],
        precision: o.precision,
        kvCacheDtype: o.kvPrecision,
        dtype: o.dtype,
        maxModelLen: o.maxModelLen,
        maxNumSeqs: o.maxNumSeqs,
        maxNumBatchedTokens: o.maxNumBatchedTokens,
        blockSize: o.blockSize,
        deviceTotalBytes: o.deviceMemoryGib === undefined ? undefined : o.deviceMemoryGib * GiB,
        usageContext: o.usageContext === 'llm' ? 'llm_class' : 'openai_api_server',
        enforceEager: o.enforceEager,
        estimateCudaGraphs: o.estimateCudaGraphs,
        explain: o.explain,
      });
      const { trace, ...figures } = c;
      if (o.json)
        return printJson({
          model: m.id,
          gpu: hw.id,
          per_device: true,
          ...figures,
          ...(o.explain ? { trace } : {}),
        });
      // An impossible setup is said first, never printed as if it ran.
      if (!c.fits) process.stdout.write(`does not fit: ${c.error}\n`);
      const gib = (b: number) => `${gb(b)} (${(b / GiB).toFixed(2)} GiB)`;
      const s = c.settings;
      const len = s.max_model_len.toLocaleString('en-US');
      printTable(
        [`${c.engine} ${c.engine_version}, per device`, 'value'],
        [
          [
            'settings',
            `tp ${s.tp} pp ${s.pp} ep ${s.ep}, ${s.dtype}, KV ${s.kv_cache_dtype}, block ${s.block_size}`,
          ],
          ['max_num_seqs / max_num_batched_tokens', `${s.max_num_seqs} / ${s.max_num_batched_tokens}`],
          ['memory fraction', String(s.memory_fraction)],
          ['device memory (CUDA total)', gib(c.device_total_bytes)],
          ['engine budget', gib(c.budget_bytes)],
          ['weights (as loaded)', gib(c.weights_bytes)],
          ['activation peak (profile run)', gib(c.activation_peak_bytes)],
          ['non-torch memory', gib(c.non_torch_bytes)],
          ['CUDA graphs (subtracted)', gib(c.cuda_graph_bytes)],
          ['KV cache available', gib(c.kv_cache_bytes_available)],
          ['KV cache size', `${c.max_kv_tokens.toLocaleString('en-US')} tokens`],
          [`maximum concurrency for ${len} tokens per request`, `${c.max_concurrency.toFixed(2)}x`],
          ['fits', c.fits ? 'yes' : 'no (see above)'],
          ['uncertain terms', c.uncertain_terms.map((u) => u.term).join(', ')],
        ],
      );
      if (o.explain) printTrace(trace);
    });
}
