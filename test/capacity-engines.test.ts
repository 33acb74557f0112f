/**
 * Engine capacity against measured vLLM 0.19 startups (shared/reference/calibration/vllm-logs.json): each record
 * is run with its own launch settings, the expected figures are the log lines. Nothing was fitted to them
 * per record; the engine profile's constants carry their sources in src/core/memory/engines.
 *
 * Read plainly: the available-KV cases are a fit, not an independent test. The non-torch memory (0.27 GiB at TP1,
 * + 1.83 GiB per TP doubling) and the loader slack in engines/vllm.ts were read off these same records, so these
 * cases show the profile reproduces its own data. The independent checks are the KV layout (logged block counts
 * give the logged tokens and concurrency), the defaults and the weights by hand below, and test/core/planted-bugs
 * (R02's logged memory gives its logged block count through a page size derived by hand).
 */
import { describe, expect, it } from 'vitest';
import { findDevice, findModel, hardwareSpec, modelSpec } from '../src/catalog/index.js';
import { engineKvCapacity } from '../src/core/memory/engines/index.js';
import { vllmKvFromBlocks } from '../src/core/memory/engines/vllm-kv.js';
import {
  cudaGraphCaptureSizes,
  vllmSchedulerDefaults,
  vllmStageKvLayout,
} from '../src/core/memory/engines/vllm.js';
import { sglangDefaults } from '../src/core/memory/engines/sglang.js';
import { visionProfileBytes } from '../src/core/memory/engines/common.js';
import { InputError } from '../src/core/memory/inference.js';
import { GiB } from './helpers.js';
import { num, recordOptions, VLLM_LOGS, type VllmLogRecord } from './vllm-logs.js';
import { runCli } from './cli-run.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const spec = (id: string) => modelSpec(findModel(id));
const predictKv = (r: VllmLogRecord) =>
  engineKvCapacity(spec(r.model), h100, { engine: 'vllm', ...recordOptions(r) });

describe('vLLM 0.19 available KV cache memory, each record with its own settings (a fit, see above)', () => {
  it.each(VLLM_LOGS.map((r) => [`${r.id} ${r.model} tp${r.tp} pp${r.pp}`, r] as const))(
    '%s: within 10%, never more than 3% above the log',
    (_name, r) => {
      const measured = num(r.values['available_kv_cache_memory']!);
      const c = predictKv(r);
      const err = c.kv_cache_bytes_available / GiB / measured - 1;
      expect(Math.abs(err)).toBeLessThan(0.1);
      expect(err).toBeLessThanOrEqual(0.03);
      expect(c.fits).toBe(true);
    },
  );

  it('median error over the records is under 3%', () => {
    const errs = VLLM_LOGS.map((r) =>
      Math.abs(predictKv(r).kv_cache_bytes_available / GiB / num(r.values['available_kv_cache_memory']!) - 1),
    ).sort((a, b) => a - b);
    const mid = errs.length >> 1;
    const median = errs.length % 2 ? errs[mid]! : (errs[mid - 1]! + errs[mid]!) / 2;
    expect(median).toBeLessThan(0.03);
  });
});

/** "Engine 000: vllm cache_config_info with initialization after num_gpu_blocks is: N" in each record's log. */
const LOGGED_BLOCKS: Record<string, number> = {
  R01: 29751,
  R02: 65293,
  R03: 67207,
  R04: 59502,
  R05: 68500,
  R06: 26168,
  R07: 10518,
  R08: 94097,
  R09: 7335,
  R10: 15098,
  R11: 24027,
  R12: 29121,
  R13: 15269,
  R14: 1245,
  R15: 323972,
  R16: 34669,
};

describe('vLLM KV layout: logged block counts give the printed tokens and concurrency exactly', () => {
  it.each(VLLM_LOGS.map((r) => [r.id, r] as const))('%s', (_id, r) => {
    const o = recordOptions(r);
    const kvBytes = o.kvCacheDtype === 'fp8' ? 1 : 2;
    const layout = vllmStageKvLayout(
      spec(r.model),
      kvBytes,
      { tp: r.tp, pp: r.pp },
      0,
      16,
      r.max_model_len,
      8192,
    )!;
    const kv = vllmKvFromBlocks(layout, LOGGED_BLOCKS[r.id]!);
    expect(kv.tokens).toBe(num(r.values['gpu_kv_cache_size']!));
    // vLLM prints "%.2fx"; the unrounded figure is what we return.
    expect(kv.concurrency.toFixed(2)).toBe(num(r.values['max_concurrency']!).toFixed(2));
  });

  it('gemma-2-27b: 23 sliding + 23 full layers make two groups of 23; a request needs 512 + 513 blocks', () => {
    const l = vllmStageKvLayout(spec('google/gemma-2-27b-it'), 2, { tp: 1, pp: 1 }, 0, 16, 8192, 8192)!;
    // 16 KV heads x 128 dims x 2 (K, V) x 2 B x 16 tokens per page.
    expect(l).toMatchObject({ groupSize: 23, numGroups: 2, pageBytes: 16 * 128 * 2 * 2 * 16, hybrid: true });
    // Full: cdiv(8192, 16) = 512; sliding 4096: cdiv(min(4095 + 8192, 8192), 16) + 1 = 513.
    expect(l.blocksPerRequest).toBe(1025);
  });
});

describe('vLLM defaults and version rules', () => {
  it('H100 80 GB under `vllm serve`: max_num_seqs 1024, max_num_batched_tokens 8192, as every record logs', () => {
    for (const r of VLLM_LOGS) {
      const c = predictKv(r);
      expect(c.settings.max_num_seqs).toBe(num(r.max_num_seqs));
      expect(c.settings.max_num_batched_tokens).toBe(num(r.max_num_batched_tokens));
    }
  });

  it('A100 and devices under 70 GiB keep 256 / 2048 (vLLM test_defaults_with_usage_context)', () => {
    const a100 = hardwareSpec(findDevice('a100-sxm-80gb'));
    expect(vllmSchedulerDefaults(79 * GiB, a100, 'openai_api_server')).toEqual({
      maxNumSeqs: 256,
      maxNumBatchedTokens: 2048,
    });
    expect(vllmSchedulerDefaults(22 * GiB, h100, 'llm_class')).toEqual({
      maxNumSeqs: 256,
      maxNumBatchedTokens: 8192,
    });
    expect(vllmSchedulerDefaults(79 * GiB, h100, 'llm_class')).toEqual({
      maxNumSeqs: 1024,
      maxNumBatchedTokens: 16384,
    });
  });

  it('CUDA-graph capture sizes: 51 graphs, largest 512, as the 0.19 log "PIECEWISE=51 (largest=512)"', () => {
    const s = cudaGraphCaptureSizes(1024);
    expect(s.length).toBe(51);
    expect(s[s.length - 1]).toBe(512);
  });

  it('CUDA-graph memory is only subtracted from 0.21 on (0.19 estimates it and says so)', () => {
    const r = VLLM_LOGS[0]!;
    const o = { engine: 'vllm' as const, ...recordOptions(r) };
    const v19 = engineKvCapacity(spec(r.model), h100, o);
    const v21 = engineKvCapacity(spec(r.model), h100, { ...o, engineVersion: '0.21.0' });
    expect(v19.cuda_graph_bytes).toBe(0);
    expect(v21.cuda_graph_bytes).toBeGreaterThan(0);
    expect(v21.kv_cache_bytes_available).toBeCloseTo(v19.kv_cache_bytes_available - v21.cuda_graph_bytes, 0);
    expect(v21.uncertain_terms.map((u) => u.term)).toContain('cuda_graph_memory');
  });

  it('multimodal: the vision tower runs on max_num_batched_tokens worth of images, by hand for gemma-3-27b', () => {
    const g3 = spec('google/gemma-3-27b-it');
    // 8192 / 256 = 32 images of (896 / 14)^2 = 4096 patches; SigLIP hidden 1152, MLP 4304 (fc1 out + GELU out).
    const m = visionProfileBytes(g3, 8192, 2);
    expect(m.towerPeak).toBe(32 * 4096 * (3 * 1152 + 2 * 4304) * 2);
    // 32 x 256 image tokens of the 5376-wide language model stay cached.
    expect(m.encoderCache).toBe(32 * 256 * 5376 * 2);
    const c = engineKvCapacity(g3, h100, { maxModelLen: 8192 });
    expect(c.activation_peak_bytes).toBeGreaterThanOrEqual(m.towerPeak);
    expect(c.uncertain_terms.map((u) => u.term)).toContain('mm_encoder_profile');
  });

  it('weights as loaded, by hand: Llama-3.1-8B at --dtype float32 is 4 B x 8,030,261,248 parameters', () => {
    const c = engineKvCapacity(spec('meta-llama/Llama-3.1-8B-Instruct'), h100, {
      maxModelLen: 8192,
      dtype: 'fp32',
    });
    // + the RoPE cache (131,072 positions x 128 dims x 4 B) + the 2 MiB per layer loader allowance x 32 layers.
    expect(c.weights_bytes).toBe(4 * 8030261248 + 131072 * 128 * 4 + 32 * 2 * 2 ** 20);
    expect(c.settings.kv_cache_dtype).toBe('fp32');
  });

  it('names the terms it is unsure of', () => {
    const moe = predictKv(VLLM_LOGS.find((r) => r.model === 'Qwen/Qwen3-30B-A3B')!);
    const terms = moe.uncertain_terms.map((u) => u.term);
    expect(terms).toContain('moe_workspace');
    expect(terms).toContain('non_torch');
  });

  it('too long a context does not fit, with the engine-style reason', () => {
    const a10g = hardwareSpec(findDevice('a10g-24gb'));
    const c = engineKvCapacity(spec('meta-llama/Llama-3.1-8B-Instruct'), a10g, { maxModelLen: 131072 });
    expect(c.fits).toBe(false);
    expect(c.error).toMatch(/max seq len \(131072\)/);
  });

  it.each([
    [{ engineVersion: '0.5.0' }, /not modelled/],
    [{ engineVersion: 'latest' }, /engine version/],
    [{ memoryFraction: 1.5 }, /gpu_memory_utilization/],
    [{ maxModelLen: 10_000_000 }, /max_position_embeddings/],
    [{ maxNumSeqs: 0 }, /max_num_seqs/],
    [{ kvCacheDtype: 'int3' }, /kv cache dtype/],
  ])('bad setting %j is an InputError naming it', (bad, msg) => {
    expect(() => engineKvCapacity(spec('Qwen/Qwen3-8B'), h100, bad)).toThrow(InputError);
    expect(() => engineKvCapacity(spec('Qwen/Qwen3-8B'), h100, bad)).toThrow(msg);
  });
});

describe('SGLang and TensorRT-LLM profiles', () => {
  it('SGLang >= 0.5.3 default mem_fraction_static on an H100 at TP1, by hand from PR #10975', () => {
    // gpu_mem 81,559 MiB; reserve 512 + 8192 x 1.5 + 256 x 2 + 1/8 x 1024 = 13,440 MiB.
    expect(sglangDefaults(81559, 1, 1, [0, 5, 3]).memFractionStatic).toBe(
      Math.round(((81559 - 13440) / 81559) * 1000) / 1000,
    );
    expect(sglangDefaults(81559, 2, 1, [0, 4, 9]).memFractionStatic).toBe(0.87);
    // 0.5.0-0.5.2: (9.5 + 4 / 2) GiB reserved under 90 GiB at TP4.
    expect(sglangDefaults(81559, 4, 1, [0, 5, 1]).memFractionStatic).toBe(
      Math.round(((81559 - 11.5 * 1024) / 81559) * 1000) / 1000,
    );
  });

  it('SGLang: the KV pool is free memory x mem_fraction_static less the weights', () => {
    const s = spec('meta-llama/Llama-3.1-8B-Instruct');
    const base = { engine: 'sglang' as const, maxModelLen: 8192, deviceTotalBytes: 79.19 * GiB };
    const a = engineKvCapacity(s, h100, { ...base, memoryFraction: 0.8 });
    const b = engineKvCapacity(s, h100, { ...base, memoryFraction: 0.9 });
    // 0.1 x (79.19 GiB - 0.51 GiB context) more for the pool, weights unchanged.
    expect(b.kv_cache_bytes_available - a.kv_cache_bytes_available).toBeCloseTo(
      0.1 * (79.19 - 0.51) * GiB,
      -3,
    );
    expect(a.max_kv_tokens).toBe(Math.floor(a.kv_cache_bytes_available / (32 * 2 * 8 * 128 * 2)));
  });

  it('SGLang, Qwen3-235B-A22B-FP8 on 4 x H100 at --mem-fraction-static 0.93: 367,404 KV tokens logged', () => {
    // vllm-project/vllm issue #21348 (2025-07-22) quotes SGLang's "KV Cache is allocated. #tokens: 367404,
    // K size: 8.23 GB, V size: 8.23 GB" for `--tp 4 --mem-fraction-static 0.93` on H100s.
    const c = engineKvCapacity(spec('Qwen/Qwen3-235B-A22B-FP8'), h100, {
      engine: 'sglang',
      engineVersion: '0.4.9',
      plan: { tp: 4, pp: 1, ep: 1 },
      memoryFraction: 0.93,
    });
    const err = c.max_kv_tokens / 367404 - 1;
    expect(Math.abs(err)).toBeLessThan(0.03);
    // 94 layers x 1 KV head per rank x 128 x (K, V) x 2 B per token.
    expect(c.kv_cache_bytes_per_token).toBe(94 * 128 * 2 * 2);
  });

  it('TensorRT-LLM: kv_cache_free_gpu_mem_fraction scales what is free after loading', () => {
    const s = spec('Qwen/Qwen3-8B');
    const base = { engine: 'trtllm' as const, maxModelLen: 8192, deviceTotalBytes: 79.19 * GiB };
    const half = engineKvCapacity(s, h100, { ...base, memoryFraction: 0.45 });
    const full = engineKvCapacity(s, h100, base);
    expect(full.settings.memory_fraction).toBe(0.9);
    expect(full.kv_cache_bytes_available).toBeCloseTo(2 * half.kv_cache_bytes_available, -3);
    expect(full.settings.block_size).toBe(32);
  });
});

const run = runCli;

describe('capacity through the CLI', () => {
  it.each(['R01', 'R15'])('%s with its launch flags', async (id) => {
    const r = VLLM_LOGS.find((x) => x.id === id)!;
    const res = await run(
      'capacity',
      r.model,
      '--gpu',
      'h100',
      '--engine',
      'vllm',
      '--engine-version',
      '0.19.0',
      '--tp',
      String(r.tp),
      '--max-model-len',
      String(r.max_model_len),
      '--gpu-memory-utilization',
      String(r.gpu_memory_utilization),
      '--device-memory-gib',
      String(r.gpu_memory_gib),
      '--json',
    );
    expect(res.code).toBe(0);
    const j = JSON.parse(res.out);
    const err = j.kv_cache_bytes_available / GiB / num(r.values['available_kv_cache_memory']!) - 1;
    expect(Math.abs(err)).toBeLessThan(0.03);
    // Concurrency is the engine's float, not rounded down.
    expect(Number.isInteger(j.max_concurrency)).toBe(false);
    expect(Math.abs(j.max_concurrency / num(r.values['max_concurrency']!) - 1)).toBeLessThan(0.03);
  });

  it.each(['sglang', 'trtllm'])(
    '--engine %s answers with its own fraction and names its uncertain terms',
    async (e) => {
      const r = await run(
        'capacity',
        'Qwen/Qwen3-8B',
        '--gpu',
        'h100',
        '--engine',
        e,
        '--max-model-len',
        '8192',
        '--json',
      );
      expect(r.code).toBe(0);
      const j = JSON.parse(r.out);
      expect(j.engine).toBe(e);
      expect(j.fits).toBe(true);
      expect(j.max_kv_tokens).toBeGreaterThan(8192);
      expect(j.max_concurrency).toBeCloseTo(j.max_kv_tokens / 8192, 10);
      expect(j.uncertain_terms.length).toBeGreaterThan(0);
    },
  );

  it('prints concurrency as vLLM does ("58.xx x"), and refuses another engine\'s fraction flag', async () => {
    const t = await run(
      'capacity',
      'meta-llama/Llama-3.1-8B-Instruct',
      '--gpu',
      'h100',
      '--max-model-len',
      '8192',
    );
    expect(t.out).toMatch(/maximum concurrency for 8,192 tokens per request\s*│\s*\d+\.\d\dx/);
    const bad = await run(
      'capacity',
      'gpt2',
      '--gpu',
      'h100',
      '--engine',
      'sglang',
      '--gpu-memory-utilization',
      '0.9',
    );
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--mem-fraction-static/);
  });
});
