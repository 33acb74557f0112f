/**
 * One test per bug of issue 17's table: each was planted in a copy and passed every test before. Expected values
 * are derived by hand from the real config.json (../shared/reference/models) or read off engine logs.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, findModel, hardwareSpec, modelSpec } from '../../src/catalog/index.js';
import { kvCache } from '../../src/core/memory/kv.js';
import { trainingMemory } from '../../src/core/memory/training.js';
import { engineKvCapacity } from '../../src/core/memory/engines/index.js';
import { vllmKvCache } from '../../src/core/memory/engines/vllm-kv.js';
import { vllmStageKvLayout } from '../../src/core/memory/engines/vllm.js';
import { perf } from '../../src/core/perf/latency.js';
import { GiB, referenceSpec } from '../helpers.js';
import { num, recordOptions, VLLM_LOGS } from '../vllm-logs.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const llama2 = referenceSpec('meta-llama__Llama-2-7b-hf.json');
const kvOpts = { batch: 1, kvBytes: 2, blockSize: null, layerFilter: null, stateBytes: 2 };

describe('Mamba state is split by TP', () => {
  // mamba-130m: d_inner = 2 · 768 = 1536, d_state 16, d_conv 4, 24 layers. Per layer: conv 1536 · 3 · 2 B = 9,216;
  // SSM state fp32 1536 · 16 · 4 B = 98,304; so 107,520 B, x 24 = 2,580,480 B per sequence.
  const mamba = referenceSpec('state-spaces__mamba-130m-hf.json');
  it('tp=1 holds 2,580,480 B per sequence; tp=2 half of it per device', () => {
    expect(kvCache(mamba, { ...kvOpts, seq: 4096, tp: 1 }).stateBytes).toBe(2_580_480);
    expect(kvCache(mamba, { ...kvOpts, seq: 4096, tp: 2 }).stateBytes).toBe(1_290_240);
    expect(kvCache(mamba, { ...kvOpts, seq: 4096, tp: 1, batch: 3 }).stateBytes).toBe(3 * 2_580_480);
  });
});

describe('Gemma-3 global layers', () => {
  it('gemma-3-1b at 8K: layers 6, 12, 18, 24 are global, the other 22 keep a 512-token window', () => {
    // 1 KV head x 256 dims x (K + V) x 2 B = 1,024 B per token per layer.
    const spec = referenceSpec('google__gemma-3-1b-it.json');
    const r = kvCache(spec, { ...kvOpts, seq: 8192, tp: 1 });
    expect(r.kvCacheBytes).toBe(4 * 8192 * 1024 + 22 * 512 * 1024); // 45,088,768
    // Below the window every layer holds the whole context.
    expect(kvCache(spec, { ...kvOpts, seq: 300, tp: 1 }).kvCacheBytes).toBe(26 * 300 * 1024);
  });
});

describe('decode context includes the generated tokens', () => {
  it('Llama-2-7B, 1k in: 8k out reads 4,095 more tokens of KV per step than 2 out (mean context)', () => {
    // Mean decode context: 1024 + 8192/2 = 5120 against 1024 + 1 = 1025. KV per token: 2 · 32 layers · 4096 · 2 B
    // = 524,288 B. At batch 1 the step is memory-bound, so the ideal TPOT grows by 4095 · 524,288 B / bandwidth.
    const run = (outputLen: number) =>
      perf(llama2, h100, {
        precision: 'bf16',
        batch: 1,
        inputLen: 1024,
        outputLen,
        plan: { tp: 1, pp: 1, ep: 1 },
      });
    const extra = run(8192).ideal.tpot_s - run(2).ideal.tpot_s;
    const expected = (4095 * 524_288) / h100.memoryBandwidthBytesPerS;
    expect(extra / expected).toBeGreaterThan(0.99);
    expect(extra / expected).toBeLessThan(1.01);
  });
});

describe('pipeline prefill runs in micro-batches', () => {
  it('Llama-2-7B, batch 8 x 2048 at pp=2: 3 stage steps of 4 prompts over 16 layers, ~3/4 of pp=1', () => {
    // Two micro-batches of 4 through 2 stages take 3 steps, each 1/2 the batch over 1/2 the layers: 3/4 of the
    // one-device prefill (compute-bound, linear in tokens), plus a small activation send.
    const run = (pp: number) =>
      perf(llama2, h100, {
        precision: 'bf16',
        batch: 8,
        inputLen: 2048,
        outputLen: 2,
        plan: { tp: 1, pp, ep: 1 },
      }).ideal.ttft_s;
    const ratio = run(2) / run(1);
    expect(ratio).toBeGreaterThan(0.74);
    expect(ratio).toBeLessThan(0.77);
  });
});

describe('training gradients and K/V shards', () => {
  // Llama-2-7B: 6,738,415,616 parameters (published).
  const P = 6_738_415_616;
  it('fp16 mixed precision keeps 16-bit gradients: 2P, as bf16', () => {
    const r = trainingMemory(llama2, { precision: 'fp16', optimizer: 'AdamW', batch: 1, seq: 512 });
    expect(r.components.gradients).toBe(2 * P);
    expect(r.components.weights).toBe(2 * P);
    expect(r.components.master_weights).toBe(4 * P);
  });

  it('Llama-3.1-8B at tp=16: K/V projections split 8 ways only (8 KV heads), the rest 16 ways', () => {
    // Per layer: q, o 4096² each and gate/up/down 3 · 4096 · 14336 split by 16; k, v 4096 · 1024 each split by 8;
    // 2 norms of 4096 replicated. Embedding and head 128,256 · 4096 each, split by 16; final norm 4096.
    const perLayer = (2 * 4096 * 4096 + 3 * 4096 * 14336) / 16 + (2 * 4096 * 1024) / 8 + 2 * 4096;
    const params = 32 * perLayer + (2 * 128256 * 4096) / 16 + 4096; // 518,918,144
    const r = trainingMemory(referenceSpec('meta-llama__Llama-3.1-8B.json'), {
      precision: 'bf16',
      optimizer: 'AdamW',
      batch: 1,
      seq: 512,
      tp: 16,
    });
    expect(r.components.weights).toBe(2 * params);
    expect(r.components.gradients).toBe(2 * params);
  });
});

describe('TP in decode and in engine capacity', () => {
  it('Llama-2-7B batch-1 decode at tp=2 reads half the weights per device, plus two all-reduces per layer', () => {
    // Weights read per step: 2 B · (P − the 32000 · 4096 embedding table, a lookup); norms (65 · 4096 · 2 B) are
    // replicated, the rest halves. All-reduce of 1 token · 4096 · 2 B over NVLink 450 GB/s, 64 of them.
    const weights = 2 * (6_738_415_616 - 32000 * 4096);
    const norms = 65 * 4096 * 2;
    const memory = ((weights - norms) / 2 + norms) / h100.memoryBandwidthBytesPerS;
    const comm = (64 * 8192) / 4.5e11;
    const r = perf(llama2, h100, {
      precision: 'bf16',
      batch: 1,
      inputLen: 16,
      outputLen: 2,
      plan: { tp: 2, pp: 1, ep: 1 },
    });
    expect(r.ideal.tpot_s / (memory + comm)).toBeGreaterThan(0.999);
    expect(r.ideal.tpot_s / (memory + comm)).toBeLessThan(1.01);
  });

  const r02 = VLLM_LOGS.find((r) => r.id === 'R02')!;
  it('R02 (Llama-3.1-8B, TP2): the logged 63.76 GiB give the logged 65,293 blocks of 1 MiB', () => {
    // Page per layer: 16 tokens · 2 (K, V) · 4 KV heads per device · 128 · 2 B = 32,768 B; 32 layers = 1 MiB.
    const layout = vllmStageKvLayout(
      modelSpec(findModel(r02.model)),
      2,
      { tp: 2, pp: 1 },
      0,
      16,
      8192,
      8192,
    )!;
    expect(layout.pageBytes * layout.groupSize).toBe(2 ** 20);
    const blocks = vllmKvCache(layout, num(r02.values['available_kv_cache_memory']!) * GiB).numBlocks;
    // 63.76 is rounded to 0.01 GiB: +-0.005 GiB is +-5 blocks.
    expect(Math.abs(blocks - 65293)).toBeLessThanOrEqual(6);
  });

  it('R02: predicted max_concurrency within 10% of the logged 127.53x', () => {
    const c = engineKvCapacity(modelSpec(findModel(r02.model)), h100, {
      engine: 'vllm',
      ...recordOptions(r02),
    });
    expect(Math.abs(c.max_concurrency / 127.53 - 1)).toBeLessThan(0.1);
  });
});
