/**
 * `--engine` on throughput and perf: the KV cache that bounds the batch and the fit verdict come from the named
 * engine's profile, and the engines differ the way their memory rules say.
 *
 * Hand values, Llama-3.1-8B-Instruct in bf16 on one H100 SXM, 1,024 + 1,024 tokens:
 *   CUDA total 79.22 GiB = 85,060,003,266.56 B (torch.cuda.mem_get_info on an 80 GiB H100, vLLM PR #10511).
 *   Weights as loaded: 2 x 8,030,261,248 parameters = 16,060,522,496 B (vocabulary 128,256 is already a multiple of
 *   64) + the RoPE cache 131,072 positions x 128 x 2 B = 33,554,432 B -> 16,094,076,928 B.
 *   KV 131,072 B per token (32 layers x 2 x 8 heads x 128 x 2 B).
 *   SGLang 0.5.3 mem_fraction_static: nvidia-smi total 85,520,809,984 B = 81,559 MiB; reserve 512 + 8,192 x 1.5 +
 *   256 x 2 + 1/8 x 1,024 = 13,440 MiB; round((81,559 - 13,440) / 81,559, 3) = 0.835. SGLang KV = (total - CUDA
 *   context 0.51 GiB) x 0.835 - weights; tokens = floor(KV / 131,072) (page size 1); concurrency = tokens / 2,048.
 *   vLLM: budget = total x 0.9; KV = budget - weights - activation peak - non-torch, in 16-token blocks;
 *   concurrency = blocks / 128 (2,048 / 16).
 */
import { describe, expect, it } from 'vitest';
import { runCli } from './cli-run.js';

const GiB = 2 ** 30;
const TOTAL = 79.22 * GiB;
const WEIGHTS = 16_060_522_496 + 33_554_432;
const PER_TOKEN = 131_072;

const run = runCli;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function json(...argv: string[]): Promise<any> {
  const r = await run(...argv, '--json');
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out);
}

const M = 'meta-llama/Llama-3.1-8B-Instruct';
const base = ['throughput', M, '--gpu', 'h100', '--input-len', '1024', '--output-len', '1024'];

describe('throughput --engine', () => {
  it('sglang: KV = (total - context) x mem_fraction_static - weights, by hand; vllm subtracts activations too', async () => {
    const s = await json(...base, '--engine', 'sglang');
    const v = await json(...base);
    expect(s.capacity.engine).toBe('sglang');
    expect(v.capacity.engine).toBe('vllm');
    const sglangKv = (TOTAL - 0.51 * GiB) * 0.835 - WEIGHTS;
    expect(s.capacity.kv_cache_bytes_available).toBeCloseTo(sglangKv, 0);
    const tokens = Math.floor(sglangKv / PER_TOKEN);
    expect(s.capacity.max_kv_tokens).toBe(tokens);
    expect(s.max_concurrency).toBeCloseTo(tokens / 2048, 12);
    expect(s.capacity.max_concurrency).toBe(Math.round((tokens / 2048) * 100) / 100);
    // vLLM: 0.9 of the total, less the weights it loads and what its profile run and runtime hold.
    const vllmKv = v.capacity.kv_cache_bytes_available;
    expect(vllmKv).toBeLessThan(TOTAL * 0.9 - WEIGHTS);
    expect(v.capacity.max_kv_tokens).toBe(Math.floor(vllmKv / (PER_TOKEN * 16)) * 16);
    expect(v.max_concurrency).toBeCloseTo(Math.floor(vllmKv / (PER_TOKEN * 16)) / 128, 12);
    // The batch each engine runs is bounded by its own capacity (both are KV-bound here).
    expect(s.batch).toBe(Math.floor(tokens / 2048));
    expect(s.batch_limit).toBe('kv_capacity');
    expect(v.batch).toBe(Math.floor(v.max_concurrency));
    // The verdict is the same computation: it fits, and says which engine it asked.
    expect(s.fits && v.fits).toBe(true);
    expect(s.fit.engine).toBe('sglang');
    expect(s.capacity.uncertain_terms.map((u: { term: string }) => u.term)).toContain('activation_headroom');
    const t = await run(...base, '--engine', 'sglang');
    expect(t.out).toMatch(/max concurrency by KV \(sglang 0\.5\.3\)\s+│\s+\d+\.\d\dx/);
  });

  it('--gpu-memory-utilization moves vLLM capacity by exactly the budget change', async () => {
    const a = await json(...base, '--gpu-memory-utilization', '0.8');
    const b = await json(...base, '--gpu-memory-utilization', '0.9');
    expect(b.capacity.kv_cache_bytes_available - a.capacity.kv_cache_bytes_available).toBeCloseTo(
      0.1 * TOTAL,
      0,
    );
  });

  it('bad engine or version: exit 2 with a one-line message naming it', async () => {
    const r = await run(...base, '--engine', 'tgi');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--engine must be one of vllm, sglang, trtllm \(got 'tgi'\)/);
    const v = await run(...base, '--engine-version', 'banana');
    expect(v.code).toBe(2);
    expect(v.err).toMatch(/engine version must look like/);
  });
});

describe('perf --engine', () => {
  it('reports the engine capacity at input + output tokens beside the latency', async () => {
    const argv = ['perf', M, '--gpu', 'h100', '--input-len', '1024', '--output-len', '1024'];
    const j = await json(...argv, '--engine', 'sglang');
    const tokens = Math.floor(((TOTAL - 0.51 * GiB) * 0.835 - WEIGHTS) / PER_TOKEN);
    expect(j.capacity.engine).toBe('sglang');
    expect(j.capacity.max_concurrency).toBe(Math.round((tokens / 2048) * 100) / 100);
  });
});
