/**
 * The runtime constants of src/core/memory/runtime.ts against measurements they were NOT taken from.
 *
 * Where the constants came from (so these records are out of sample):
 * - 'vllm-v0' (1.79 GiB of non-torch memory, as much again per TP rank > 1): PR #10511's Llama-3-8B profile
 *   tables (the first two records of calibration/memory.json).
 * - 'vllm-v1': the DEBUG lines of the vLLM 0.19 runs of calibration/vllm-logs.json (R01-R16).
 * - 'pytorch' (361 MiB): the fp16 figure of FastChat #2005 (13,213 MiB nvidia-smi for 12,852 MiB of weights).
 * Tested here: the two Dec 2023 vLLM block counts of PR #2031 (memory.json, kind vllm_kv_blocks) and the int8
 * figure of FastChat #2005.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inferenceMemory } from '../../src/core/memory/inference.js';
import { RUNTIME_IDS, RUNTIME_PROFILES, runtimeOverhead } from '../../src/core/memory/runtime.js';
import { GiB, REFERENCE, referenceSpec } from '../helpers.js';

interface MemoryRecord {
  kind: string;
  model: string;
  tp: number;
  values: Record<string, number>;
}
const records = (
  JSON.parse(readFileSync(join(REFERENCE, 'calibration', 'memory.json'), 'utf8')) as {
    records: MemoryRecord[];
  }
).records;
const record = (kind: string, model: string) => {
  const r = records.find((x) => x.kind === kind && x.model === model);
  if (!r) throw new Error(`memory.json has no ${kind} record for ${model}`);
  return r;
};

// The 80 GB GPU of PR #10511 as torch reports it (memory.json: total_gpu_memory 79.22 GiB); the PR #2031 runs are
// on A100-80GB, which reports about the same.
const TOTAL =
  record('vllm_memory_profile', 'meta-llama/Meta-Llama-3-8B').values['total_gpu_memory_GiB']! * GiB;

/**
 * vLLM V0 (Dec 2023) blocks: (total · 0.9 − peak of the profile run) / (16 tokens · KV bytes per token), the
 * profile run being max_num_batched_tokens = max(max_model_len 4096, 2048) tokens over max_num_seqs 256 rows.
 */
function v0Blocks(file: string, tp: number) {
  const m = inferenceMemory(referenceSpec(file), {
    precision: 'fp16',
    kvPrecision: 'fp16',
    batch: 256,
    seq: 16,
    stepTokens: 4096,
    logitsRows: 256,
    plan: { tp, pp: 1, ep: 1 },
    runtime: 'vllm-v0',
    explain: false,
  });
  const free = 0.9 * TOTAL - m.weights_bytes - m.activation_bytes - m.overhead_bytes;
  return { m, blocks: Math.floor(free / (16 * m.kv_cache_bytes_per_token)) };
}

describe('vLLM V0 block counts of PR #2031 (Dec 2023, A100-80GB, gpu_memory_utilization 0.9)', () => {
  it('Llama-2-7B TP1: 7,351 blocks measured; predicted within 3%', () => {
    const measured = record('vllm_kv_blocks', 'meta-llama/Llama-2-7b-hf').values['num_gpu_blocks_after_fix']!;
    expect(measured).toBe(7351);
    const { m, blocks } = v0Blocks('meta-llama__Llama-2-7b-hf.json', 1);
    // 32 layers x 2 (K, V) x 32 heads x 128 x 2 B = 524,288 B per token (the record's check_note).
    expect(m.kv_cache_bytes_per_token).toBe(524_288);
    // TP1: the CUDA context only, no collectives; RoPE cache 4096 positions x 128 x 2 B = 1 MiB.
    expect(m.overhead).toEqual({ cuda_context: Math.round(1.79 * GiB), rotary_cache: 4096 * 128 * 2 });
    expect(Math.abs(blocks / measured - 1)).toBeLessThan(0.03);
  });

  it('Llama-2-70B TP4: 20,865 blocks measured. KNOWN MISS: predicted 38% high (about 28,900)', () => {
    const r = record('vllm_kv_blocks', 'meta-llama/Llama-2-70b-hf');
    expect(r.tp).toBe(4);
    const measured = r.values['num_gpu_blocks_after_fix']!;
    expect(measured).toBe(20865);
    const { m, blocks } = v0Blocks('meta-llama__Llama-2-70b-hf.json', 4);
    // 80 layers x 2 x (8 KV heads / 4) x 128 x 2 B = 81,920 B per token per GPU (the record's check_note).
    expect(m.kv_cache_bytes_per_token).toBe(81_920);
    // The profile leaves 20,865 x 16 x 81,920 B = 25.47 GiB; ours leaves 35.3 GiB. The 13.1 GiB the Dec 2023
    // worker counted beyond weights, activations and 3.58 GiB of non-torch memory at TP4 is not modelled
    // (the fix measured the whole device; before it, 31,615 blocks). The band pins the miss so a change to
    // the profile that moves it shows here; the prediction stays between the two logged counts.
    const err = blocks / measured - 1;
    expect(err).toBeGreaterThan(0.3);
    expect(err).toBeLessThan(0.45);
    expect(blocks).toBeLessThan(r.values['num_gpu_blocks_before_fix']!);
  });
});

describe('PyTorch eager process: FastChat #2005, int8 (the 361 MiB came from its fp16 figure)', () => {
  it('Llama-2-7B LLM.int8: weights + 361 MiB within 12% of the 7,843 MiB nvidia-smi shows, below it', () => {
    const measured =
      record('nvidia_smi_process_memory', 'meta-llama/Llama-2-7b-hf').values['int8_MiB']! * 2 ** 20;
    // int8 linears 32 x (4 x 4096² + 3 x 4096 x 11008) = 6,476,005,376 B, plus bitsandbytes' fp32 scale per output
    // row, 32 x (4 x 4096 + 2 x 11008 + 4096) x 4 B = 5,439,488; embedding and head 2 x 32000 x 4096 x 2 B =
    // 524,288,000; 65 norms x 4096 x 2 B = 532,480. Sum 7,006,265,344 B + 361 MiB (7,042 MiB).
    // LLM.int8's outlier buffers are not modelled: the estimate is low, by about 10%.
    const m = inferenceMemory(referenceSpec('meta-llama__Llama-2-7b-hf.json'), {
      precision: 'int8',
      kvPrecision: 'fp16',
      batch: 1,
      seq: 1,
      plan: { tp: 1, pp: 1, ep: 1 },
      runtime: 'pytorch',
    });
    expect(m.weights_bytes + m.overhead_bytes).toBe(7_006_265_344 + 361 * 2 ** 20);
    const err = (m.weights_bytes + m.overhead_bytes) / measured - 1;
    expect(err).toBeLessThan(0);
    expect(err).toBeGreaterThan(-0.12);
  });
});

describe('runtime profiles', () => {
  it('four profiles; each constant names the measurement it was read from', () => {
    expect(RUNTIME_IDS).toEqual(['none', 'pytorch', 'vllm-v0', 'vllm-v1']);
    expect(RUNTIME_PROFILES.none).toMatchObject({
      contextBytes: 0,
      collectiveBytes: 0,
      rotaryCache: false,
      source: '',
    });
    expect(RUNTIME_PROFILES.pytorch.source).toMatch(/FastChat issue #2005/);
    expect(RUNTIME_PROFILES['vllm-v0'].source).toMatch(/PR #10511/);
    expect(RUNTIME_PROFILES['vllm-v1'].source).toMatch(/vLLM 0\.19\.0 startup logs/);
    for (const id of RUNTIME_IDS) expect(RUNTIME_PROFILES[id].description.length, id).toBeGreaterThan(10);
  });

  it('without max_position_embeddings the RoPE cache covers the tokens asked for', () => {
    // Llama-3.1-8B's head_dim 128 at 2 B: 4096 tokens · 128 · 2 = 1 MiB.
    const spec = { ...referenceSpec('meta-llama__Llama-3.1-8B.json'), maxPositionEmbeddings: null };
    const r = runtimeOverhead('vllm-v1', { tp: 1, pp: 1, ep: 1, rotaryTokens: 4096, spec, b: 2 });
    expect(r.lines['rotary_cache']).toBe(4096 * 128 * 2);
    expect(r.total).toBe(Math.round(0.27 * GiB) + 4096 * 128 * 2);
  });
});
