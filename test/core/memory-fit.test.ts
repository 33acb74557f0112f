/**
 * The fit verdict (src/core/memory/fit.ts) with specs built fresh in each test from the reference configs, so the
 * mutation suite covers it (the catalog's cached modelSpec() runs outside any test).
 *
 * Llama-3.1-8B (hidden 4096, 32 layers, 8 KV heads of 128, MLP 14336, vocabulary 128256), bf16:
 *   weights = 2 x 8,030,261,248 (published count) = 16,060,522,496 B; KV per token = 2·32·8·128·2 = 131,072 B;
 *   an 8,192-token profile step's activation = 8192 x (2·4096·2 + 3·14336·2) = 838,860,800 B.
 * H100 SXM visible memory 85,520,809,984 B (nvidia-smi 81,559 MiB); x 0.9 -> 76,968,728,985 B available.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import { inferenceFit, trainingFit } from '../../src/core/memory/fit.js';
import type { TrainingOptions } from '../../src/core/memory/training.js';
import { fitServe, referenceSpec } from '../helpers.js';

const llama = () => referenceSpec('meta-llama__Llama-3.1-8B.json');
const h100 = () => hardwareSpec(findDevice('h100-sxm-80gb'));
const VISIBLE = 85_520_809_984;
const WEIGHTS = 16_060_522_496;
const KV_TOKEN = 131_072;
const ACT = 838_860_800;
const AVAILABLE = 76_968_728_985;
const GiB = 2 ** 30;

const serve = fitServe;

describe('inferenceFit', () => {
  it('fits at 8K: budget floor(visible x 0.9), headroom in bytes and as a fraction', () => {
    const f = inferenceFit(llama(), h100(), serve(8192));
    const required = WEIGHTS + KV_TOKEN * 8192 + ACT; // 17,973,125,120
    expect(f).toMatchObject({
      fits: true,
      device: 'h100-sxm-80gb',
      visible_bytes: VISIBLE,
      gpu_memory_utilization: 0.9,
      available_bytes: AVAILABLE,
      required_bytes: required,
      headroom_bytes: AVAILABLE - required,
      reason: null,
      message: null,
      suggestions: [],
    });
    expect(f.headroom_fraction).toBeCloseTo((AVAILABLE - required) / AVAILABLE, 12);
    expect(f.memory.total_bytes).toBe(required);
  });

  it('utilization 1 is allowed; 0, negatives and > 1 are rejected', () => {
    expect(inferenceFit(llama(), h100(), serve(8192, { gpuMemoryUtilization: 1 })).available_bytes).toBe(
      VISIBLE,
    );
    for (const u of [0, -0.5, 1.01])
      expect(() => inferenceFit(llama(), h100(), serve(8192, { gpuMemoryUtilization: u }))).toThrow(
        `gpu_memory_utilization must be in (0, 1] (got ${u})`,
      );
  });

  it("4 requests of 131,072 tokens: vLLM's KV message for a batch, and the largest batch and sequence that fit", () => {
    const f = inferenceFit(llama(), h100(), serve(131_072, { batch: 4 }));
    // KV = 4 · 131,072 · 131,072 = 68,719,476,736 B = 64.00 GiB; KV available = 76,968,728,985 − 16,060,522,496 −
    // 838,860,800 = 60,069,345,689 B = 55.94 GiB.
    const kvAvail = AVAILABLE - WEIGHTS - ACT;
    expect(f.reason).toBe('kv_cache');
    expect(f.fits).toBe(false);
    expect(f.headroom_bytes).toBe(kvAvail - 4 * KV_TOKEN * 131_072);
    // Longest length for 4 requests: floor(60,069,345,689 / (4 · 131,072)) = 114,573.
    expect(f.message).toBe(
      'ValueError: To serve 4 requests of 131072 tokens, (64.00 GiB KV cache is needed, which is larger than the ' +
        'available KV cache memory (55.94 GiB). Based on the available memory, the estimated maximum model length ' +
        'is 114573. Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.',
    );
    const by = (key: string) => f.suggestions.find((s) => Object.keys(s.change).join() === key);
    expect(by('seq')).toEqual({
      change: { seq: 114_573 },
      description: 'at most 114573 tokens per sequence',
      fits: true,
      required_bytes: WEIGHTS + ACT + 4 * KV_TOKEN * 114_573,
      headroom_bytes: kvAvail - 4 * KV_TOKEN * 114_573,
    });
    // Batch: floor(60,069,345,689 / (131,072 · 131,072)) = 3 (3.497).
    expect(by('batch')).toMatchObject({
      change: { batch: 3 },
      description: 'at most 3 sequences at once',
      required_bytes: WEIGHTS + ACT + 3 * KV_TOKEN * 131_072,
    });
    expect(by('tp')).toMatchObject({ change: { tp: 2 }, description: 'tensor parallel 2', fits: true });
    expect(by('pp')).toMatchObject({ change: { pp: 2 }, description: 'pipeline parallel 2', fits: true });
    expect(by('kv_precision')).toMatchObject({
      description: 'KV cache in fp8',
      required_bytes: WEIGHTS + ACT + 2 * KV_TOKEN * 131_072, // fp8 halves 4 requests' KV to 2 requests' worth
    });
    // fp8 saves ~7.0 GB (6,979,321,856 linear weights at 1 B instead of 2) < the 8.65 GB shortfall; AWQ int4 saves
    // ~10.5 GB: the first lower format that fits is AWQ.
    expect(by('precision')?.description).toBe('weights in awq-int4-g128');
    for (const s of f.suggestions) {
      expect(s.fits).toBe(true);
      expect(s.headroom_bytes).toBe(AVAILABLE - s.required_bytes);
    }
  });

  it('2 requests that do not fit at 2 tokens less: the batch of 1 is worded in the singular', () => {
    // 2 · 250,000 · 131,072 = 65,536,000,000 > 60,069,345,689; one request (32,768,000,000) fits.
    const f = inferenceFit(llama(), h100(), serve(250_000, { batch: 2 }));
    expect(f.suggestions.find((s) => 'batch' in s.change)).toMatchObject({
      change: { batch: 1 },
      description: 'at most 1 sequence at once',
    });
  });

  it('fp8 KV is not offered when the KV cache is already 1 byte per element', () => {
    // fp8 KV: 65,536 B per token; 1,000,000 tokens = 65,536,000,000 > 60,069,345,689.
    const f = inferenceFit(llama(), h100(), serve(1_000_000, { kvPrecision: 'fp8' }));
    expect(f.reason).toBe('kv_cache');
    expect(f.suggestions.some((s) => 'kv_precision' in s.change)).toBe(false);
    // floor(60,069,345,689 / 65,536) = 916,585 tokens.
    expect(f.suggestions.find((s) => 'seq' in s.change)?.change).toEqual({ seq: 916_585 });
  });

  it('no KV memory left: weights load but the profile step takes the rest', () => {
    // Budget = weights + 400 MB: the weights load, the 838,860,800 B step leaves nothing for the cache.
    const u = (WEIGHTS + 400e6) / VISIBLE;
    const f = inferenceFit(llama(), h100(), serve(8192, { gpuMemoryUtilization: u }));
    expect(f.available_bytes).toBe(Math.floor(VISIBLE * u));
    expect(f.reason).toBe('no_kv_memory');
    expect(f.message).toBe(
      'ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when ' +
        'initializing the engine.',
    );
  });

  it('weights that do not load: CUDA out of memory in GiB with two decimals', () => {
    // Budget 0.15 · 85,520,809,984 = 12,828,121,497 B = 11.95 GiB < 16,060,522,496 B = 14.96 GiB of weights.
    const f = inferenceFit(llama(), h100(), serve(8192, { gpuMemoryUtilization: 0.15 }));
    expect(f.reason).toBe('weights');
    expect(f.message).toBe(
      `torch.OutOfMemoryError: CUDA out of memory: the weights (14.96 GiB) and the runtime ` +
        `(${(f.memory.overhead_bytes / GiB).toFixed(2)} GiB) do not load in the 11.95 GiB the engine may use on one ` +
        `${h100().name}`,
    );
    // No shorter context or smaller batch helps weights: none is offered.
    expect(f.suggestions.some((s) => 'seq' in s.change || 'batch' in s.change)).toBe(false);
    // fp8 (8 GB of linear weights at 1 B + 2.1 GB of 16-bit embeddings and head) fits 12.8 GB; TP 2 halves 16 GB.
    expect(f.suggestions.find((s) => 'precision' in s.change)?.change).toEqual({ precision: 'fp8' });
    expect(f.suggestions.find((s) => 'tp' in s.change)?.change).toEqual({ tp: 2 });
  });

  it('no single change fits: the fewest devices of TP x PP, larger TP first', () => {
    // Budget 0.008 · 85,520,809,984 = 684,166,479 B. TP 32 alone leaves 16 GB / 32 = 502 MB of weights + the step,
    // over it; TP 64 exceeds the 32 heads. TP 8 x PP 8, the last stage (4 layers, LM head, 1 of 8 KV heads):
    //   4 · 218,112,000 · 2 / 8 = 218,112,000 + head 128,256 · 4096 · 2 / 8 = 131,334,144
    //   + KV 8192 · 131,072 / 8 · 4/32 = 16,777,216 + step 8192 · (2·4096·2 + 3·1792·2) = 222,298,112
    //   = 588,521,472 B (+ the stage's whole norms) < 684,166,479. TP 8 x PP 4 (8 layers) is 823 MB, over it.
    const f = inferenceFit(llama(), h100(), serve(8192, { gpuMemoryUtilization: 0.008 }));
    expect(f.fits).toBe(false);
    expect(f.suggestions).toHaveLength(1);
    const s = f.suggestions[0]!;
    expect(s.change).toEqual({ tp: 8, pp: 8 });
    expect(s.description).toBe('tensor parallel 8 x pipeline parallel 8');
    expect(s.fits).toBe(true);
    expect(Math.abs(s.required_bytes - 588_521_472)).toBeLessThan(100_000);
  });
});

describe('trainingFit', () => {
  const full: TrainingOptions = { precision: 'bf16', optimizer: 'adamw', batch: 1, seq: 2048 };

  it('full fine-tuning of 8B: 16 B per parameter exceed the visible memory (no utilization margin)', () => {
    const f = trainingFit(llama(), h100(), full);
    expect(f.gpu_memory_utilization).toBe(1);
    expect(f.available_bytes).toBe(VISIBLE);
    expect(f.required_bytes).toBeGreaterThan(16 * 8_030_261_248);
    expect(f.reason).toBe('peak');
    expect(f.message).toBe(
      `torch.OutOfMemoryError: CUDA out of memory: the training step peaks at ${(f.required_bytes / GiB).toFixed(2)} GiB; ` +
        'GPU 0 has a total capacity of 79.65 GiB',
    );
    const by = (d: string) => f.suggestions.find((s) => s.description === d);
    expect(by('ZeRO-3 over 2 data-parallel ranks')?.change).toEqual({ dp: 2, zero: 3 });
    expect(by('LoRA rank 16 on all-linear layers')?.change).toEqual({
      lora_rank: 16,
      lora_targets: 'all-linear',
    });
    expect(by('QLoRA (4-bit NF4 base) with LoRA rank 16')?.change).toEqual({
      qlora: true,
      lora_rank: 16,
      lora_targets: 'all-linear',
    });
    expect(by('tensor parallel 2')?.change).toEqual({ tp: 2 });
    expect(
      f.suggestions.some((s) => 'recompute' in s.change || 'batch' in s.change || 'seq' in s.change),
    ).toBe(false);
    for (const s of f.suggestions) {
      expect(s.fits).toBe(true);
      expect(s.headroom_bytes).toBe(VISIBLE - s.required_bytes);
    }
  });

  it('a fitting step: no reason, no message, no suggestions', () => {
    const o: TrainingOptions = { ...full, lora: { rank: 8, targets: 'all-linear' } };
    const f = trainingFit(llama(), h100(), o);
    expect(f).toMatchObject({ fits: true, reason: null, message: null, suggestions: [] });
    expect(f.headroom_bytes).toBe(VISIBLE - f.required_bytes);
  });

  it('data parallel already: a higher ZeRO stage over the same ranks is offered', () => {
    // dp 2, no ZeRO: 16 B/parameter = 128.5 GB per rank. ZeRO-1 (2 + 2 + 12/2 = 10 B/parameter = 80.3 GB) plus
    // the activations is over 85.5 GB; ZeRO-2 (2 + 14/2 = 9 B = 72.3 GB) fits: the lowest stage that fits.
    const f = trainingFit(llama(), h100(), { ...full, dp: 2 });
    const z = f.suggestions.find((s) => s.description.startsWith('ZeRO stage'));
    expect(z?.description).toBe(`ZeRO stage ${z?.change['zero']} over the 2 data-parallel ranks`);
    expect(z?.change['zero']).toBe(2);
    // More ranks: dp 4 with ZeRO-3.
    expect(f.suggestions.find((s) => s.description === 'ZeRO-3 over 4 data-parallel ranks')?.change).toEqual({
      dp: 4,
      zero: 3,
    });
  });

  it('with LoRA set, LoRA is not offered again and QLoRA keeps its rank and targets', () => {
    const lora = { rank: 64, targets: ['q_proj', 'v_proj'] };
    const f = trainingFit(llama(), h100(), { ...full, lora, batch: 16, seq: 8192 } as TrainingOptions);
    expect(f.fits).toBe(false);
    expect(f.suggestions.some((s) => s.description.startsWith('LoRA'))).toBe(false);
    const q = f.suggestions.find((s) => 'qlora' in s.change);
    if (q) expect(q.change).toEqual({ qlora: true, lora_rank: 64, lora_targets: 'q_proj,v_proj' });
    const b = f.suggestions.find((s) => 'batch' in s.change);
    expect(b?.description).toBe(`micro-batch ${b?.change['batch']}`);
    const s = f.suggestions.find((x) => 'seq' in x.change);
    expect(s?.description).toBe(`sequences of at most ${s?.change['seq']} tokens`);
  });
});
