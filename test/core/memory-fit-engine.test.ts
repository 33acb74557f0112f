/**
 * engineFit (src/core/memory/fit.ts): the verdict as the engine's start check, on engineKvCapacity. Specs are built
 * fresh in each test so the mutation suite covers the code.
 * Llama-3.1-8B, bf16 KV: 131,072 B per token (2·32·8·128·2); one 8,192-token request = 8192 · 131,072 = 1 GiB.
 * H100 SXM as CUDA reports it: 85,061,827,297.28 B (the catalog's total less the driver reserve).
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import { engineFit } from '../../src/core/memory/fit.js';
import { referenceSpec } from '../helpers.js';

const llama = () => referenceSpec('meta-llama__Llama-3.1-8B.json');
const h100 = () => hardwareSpec(findDevice('h100-sxm-80gb'));
const TOTAL = 85_061_827_297.28;
const GiB = 2 ** 30;

describe('engineFit on vLLM', () => {
  it('one request fits: budget floor(total x 0.9), required = before-KV + the cache share of one request', () => {
    const f = engineFit(llama(), h100(), { maxModelLen: 8192 });
    const c = f.capacity;
    // 0.9 · 85,061,827,297.28 = 76,555,644,567.55 -> 76,555,644,567.
    expect(f).toMatchObject({
      fits: true,
      device: 'h100-sxm-80gb',
      visible_bytes: TOTAL,
      gpu_memory_utilization: 0.9,
      available_bytes: 76_555_644_567,
      reason: null,
      message: null,
      suggestions: [],
    });
    expect(f.budget_note).toBeUndefined();
    const before = c.budget_bytes - c.kv_cache_bytes_available;
    expect(f.required_bytes).toBeCloseTo(before + c.kv_cache_bytes_available / c.max_concurrency, 3);
    // The share is one request's 512 blocks of 16 tokens (1 GiB) plus its part of the leftover (under one block).
    expect(f.required_bytes - before).toBeGreaterThanOrEqual(GiB);
    expect(f.required_bytes - before).toBeLessThan(GiB + 16 * 131_072);
    expect(f.headroom_bytes).toBe(f.available_bytes - f.required_bytes);
    expect(f.headroom_fraction).toBeCloseTo(f.headroom_bytes / 76_555_644_567, 12);
  });

  it('100 requests of 8,192 tokens: 100 GiB of KV against the cache; the changes that make it fit', () => {
    const f = engineFit(llama(), h100(), { maxModelLen: 8192 }, 100);
    const c = f.capacity;
    expect(f.fits).toBe(false);
    expect(f.reason).toBe('kv_cache');
    expect(f.headroom_bytes).toBeLessThan(0);
    // max_concurrency = blocks · 16 / 8192; the cache holds num_blocks · 16 · 131,072 B plus a part block.
    expect(c.max_concurrency).toBe((c.num_blocks * 16) / 8192);
    // Required: what the engine takes before the cache + 100 shares of it.
    const before = c.weights_bytes + c.activation_peak_bytes + c.non_torch_bytes + c.cuda_graph_bytes;
    expect(f.required_bytes).toBeCloseTo(before + (100 * c.kv_cache_bytes_available) / c.max_concurrency, 0);
    expect(f.message).toBe(
      `To serve 100 requests of 8192 tokens, 100.00 GiB KV cache is needed, which is larger than the available KV ` +
        `cache memory (${(c.kv_cache_bytes_available / GiB).toFixed(2)} GiB); it holds ` +
        `${((c.num_blocks * 16) / 8192).toFixed(2)} such requests.`,
    );
    const keys = f.suggestions.map((s) => Object.keys(s.change).join());
    expect(keys).toEqual(['tp', 'pp', 'kv_precision', 'seq']);
    expect(f.suggestions[0]).toMatchObject({ change: { tp: 2 }, description: 'tensor parallel 2' });
    expect(f.suggestions[1]).toMatchObject({ change: { pp: 2 }, description: 'pipeline parallel 2' });
    expect(f.suggestions[2]).toMatchObject({
      change: { kv_precision: 'fp8' },
      description: 'KV cache in fp8',
    });
    // 100 requests share the blocks: floor(num_blocks / 100) blocks of 16 tokens each.
    const seq = Math.floor(c.num_blocks / 100) * 16;
    expect(f.suggestions[3]).toMatchObject({
      change: { seq },
      description: `at most ${seq} tokens per request`,
    });
    for (const s of f.suggestions) {
      expect(s.fits).toBe(true);
      expect(s.headroom_bytes).toBe(f.available_bytes - s.required_bytes);
    }
  });

  it('weights over the budget: CUDA out of memory in the engine’s name', () => {
    // 0.15 · 85,061,827,297.28 = 12,759,274,094.6 B = 11.88 GiB.
    const f = engineFit(llama(), h100(), { maxModelLen: 8192, memoryFraction: 0.15 });
    expect(f.available_bytes).toBe(12_759_274_094);
    expect(f.reason).toBe('weights');
    expect(f.message).toBe(
      `torch.OutOfMemoryError: CUDA out of memory: the weights (${(f.capacity.weights_bytes / GiB).toFixed(2)} GiB per ` +
        `device) do not load in the 11.88 GiB vllm may use on one ${h100().name}`,
    );
    // No cache at all (max_concurrency 0): required = weights + step + non-torch + one request's
    // 8192 · 131,072 B = 1 GiB of KV.
    const c = f.capacity;
    expect(c.max_concurrency).toBe(0);
    expect(f.required_bytes).toBeCloseTo(
      c.weights_bytes + c.activation_peak_bytes + c.non_torch_bytes + GiB,
      0,
    );
    expect(f.headroom_fraction).toBe(f.headroom_bytes / f.available_bytes);
    // The weights, 16 GB: TP 2 (8 GB + the step) is over 12.76 GB with the runtime, TP 4 fits; no shorter context.
    expect(f.suggestions.map((s) => s.description)).toEqual([
      'tensor parallel 4',
      'pipeline parallel 2',
      'weights in fp8',
    ]);
  });

  it('weights load but no cache is left: vLLM’s own error', () => {
    // 0.2 · total = 17,012,365,459 B: over the 16.2 GB of weights, under weights + the 2 GB profile step.
    const f = engineFit(llama(), h100(), { maxModelLen: 8192, memoryFraction: 0.2 });
    expect(f.reason).toBe('no_kv_memory');
    expect(f.message).toBe(
      'No available memory for the cache blocks. Try increasing gpu_memory_utilization when initializing the engine.',
    );
    expect(f.required_bytes).toBeGreaterThanOrEqual(f.available_bytes + 1);
  });

  it('fp8 weights and KV at 131,072 tokens: two requests need 16 GiB; AWQ is the lower format left, no fp8 KV', () => {
    // 131,072 tokens · 65,536 B = 8 GiB per request.
    const f = engineFit(
      llama(),
      h100(),
      { maxModelLen: 131_072, memoryFraction: 0.3, precision: 'fp8', kvCacheDtype: 'fp8' },
      2,
    );
    expect(f.reason).toBe('kv_cache');
    expect(f.message).toMatch(/^To serve 2 requests of 131072 tokens, 16\.00 GiB KV cache is needed/);
    const changes = f.suggestions.map((s) => s.change);
    expect(changes.some((c) => 'kv_precision' in c)).toBe(false);
    const w = f.suggestions.find((s) => 'precision' in s.change);
    if (w) expect(w.change).toEqual({ precision: 'awq-int4-g128' });
    // Two requests in the cache: floor(num_blocks / 2) · 16 tokens.
    const seq = Math.floor(f.capacity.num_blocks / 2) * 16;
    expect(changes).toContainEqual({ seq });
  });
});

describe('engineFit budget notes', () => {
  it('TensorRT-LLM and SGLang say what their budget is', () => {
    const t = engineFit(llama(), h100(), { maxModelLen: 8192, engine: 'trtllm' });
    expect(t.fits).toBe(true);
    expect(t.budget_note).toBe('memory free after loading; kv_cache_free_gpu_mem_fraction 0.9 of it is KV');
    const s = engineFit(llama(), h100(), { maxModelLen: 8192, engine: 'sglang' });
    expect(s.budget_note).toBe(
      `memory free at start x mem_fraction_static ${s.gpu_memory_utilization}, weights + KV pool`,
    );
  });
});
