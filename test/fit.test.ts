/**
 * The fit verdict of the core (src/core/memory/fit.ts), with every expected number derived by hand here.
 *
 * Llama-3.1-8B (config: hidden 4096, 32 layers, 32 heads, 8 KV heads of 128, MLP 14336, vocabulary 128256):
 *   weights bf16 = 2 x 8,030,261,248 (published count)                          = 16,060,522,496 B
 *   KV per token = 2 (K, V) x 32 layers x 8 heads x 128 x 2 B                     = 131,072 B
 *   activation of a T-token step = residual 2·T·4096·2 + the MLP's gate/up/act 3·T·14336·2 = T x 102,400 B
 *     (the MLP transient is the largest of the layer: attention's q,k,v,o is T·(4096+2048+4096)·2 = T x 20,480)
 * H100 SXM visible memory: 85,520,809,984 B (catalog, nvidia-smi 81,559 MiB);
 *   x gpu_memory_utilization 0.9 = 76,968,728,985.6 -> 76,968,728,985 B available.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, findModel, hardwareSpec, modelSpec } from '../src/catalog/index.js';
import { inferenceFit, trainingFit } from '../src/core/memory/fit.js';
import { trainingMemory, type TrainingOptions } from '../src/core/memory/training.js';
import { fitServe } from './helpers.js';

const spec = modelSpec(findModel('meta-llama/Llama-3.1-8B'));
const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const P = 8_030_261_248;
const WEIGHTS = 2 * P;
const KV_TOKEN = 131_072;
const AVAILABLE = 76_968_728_985;
/** Norm weights stay whole on every TP rank: 32 x 2 x 4096 + 4096 parameters at 2 B. */
const NORMS = (32 * 2 * 4096 + 4096) * 2;

const serve = fitServe;

describe('inference fit', () => {
  it('fits at 8K tokens: headroom in bytes and as a fraction of the budget', () => {
    expect(h100.visibleMemoryBytes).toBe(85_520_809_984);
    const f = inferenceFit(spec, h100, serve(8192));
    const required = WEIGHTS + KV_TOKEN * 8192 + 8192 * 102_400;
    expect(required).toBe(17_973_125_120);
    expect(f).toMatchObject({
      fits: true,
      device: 'h100-sxm-80gb',
      available_bytes: AVAILABLE,
      required_bytes: required,
      headroom_bytes: AVAILABLE - required,
      reason: null,
      message: null,
      suggestions: [],
    });
    expect(f.headroom_fraction).toBeCloseTo(58_995_603_865 / AVAILABLE, 12);
  });

  it("500K tokens: vLLM's KV-cache error, and each suggestion is the exact bytes of that change", () => {
    const seq = 500_000;
    const nonKv = WEIGHTS + 8192 * 102_400; // 16,899,383,296
    const kv = KV_TOKEN * seq; // 65,536,000,000 = 61.04 GiB
    const f = inferenceFit(spec, h100, serve(seq));
    expect(f.fits).toBe(false);
    expect(f.required_bytes).toBe(nonKv + kv);
    expect(f.headroom_bytes).toBe(AVAILABLE - nonKv - kv); // -5,466,654,311
    expect(f.reason).toBe('kv_cache');
    // KV available = 76,968,728,985 - 16,899,383,296 = 60,069,345,689 B = 55.94 GiB; / 131,072 = 458,292.7 tokens.
    expect(f.message).toBe(
      "ValueError: To serve at least one request with the models's max seq len (500000), (61.04 GiB KV cache is " +
        'needed, which is larger than the available KV cache memory (55.94 GiB). Based on the available memory, ' +
        'the estimated maximum model length is 458292. Try increasing `gpu_memory_utilization` or decreasing ' +
        '`max_model_len` when initializing the engine.',
    );
    const by = (key: string) => f.suggestions.find((s) => key in s.change);
    // TP 2: the weights but the norms halve, the 8 KV heads split 4 + 4, the MLP transient halves.
    const tp2 =
      (WEIGHTS - NORMS) / 2 + NORMS + (KV_TOKEN / 2) * seq + 2 * 8192 * 4096 * 2 + 8192 * 7168 * 3 * 2;
    expect(by('tp')).toMatchObject({ change: { tp: 2 }, fits: true, required_bytes: tp2 });
    expect(tp2).toBe(41_285_066_752);
    // PP 2: the worse stage is the last: 16 layers (218,112,000 parameters each), the LM head and the final norm.
    const pp2 = 16 * 218_112_000 * 2 + 128_256 * 4096 * 2 + 4096 * 2 + (KV_TOKEN / 2) * seq + 8192 * 102_400;
    expect(by('pp')).toMatchObject({ change: { pp: 2 }, fits: true, required_bytes: pp2 });
    // A KV cache in fp8 halves it.
    expect(by('kv_precision')).toMatchObject({
      change: { kv_precision: 'fp8' },
      required_bytes: nonKv + kv / 2,
    });
    // fp8 weights: 6,979,321,856 linear weights at 1 B (+ scales); embeddings, head and norms stay 16-bit.
    const fp8 = by('precision')!;
    expect(fp8.change).toEqual({ precision: 'fp8' });
    const fp8Floor = 6_979_321_856 + 2 * 128_256 * 4096 * 2 + NORMS + kv + 8192 * 102_400;
    expect(fp8.required_bytes).toBeGreaterThanOrEqual(fp8Floor);
    expect(fp8.required_bytes - fp8Floor).toBeLessThan(1e6);
    // The longest sequence: floor(60,069,345,689 / 131,072) = 458,292 tokens.
    expect(by('seq')).toMatchObject({ change: { seq: 458_292 }, required_bytes: nonKv + KV_TOKEN * 458_292 });
    expect(by('batch')).toBeUndefined(); // one sequence already
    for (const s of f.suggestions) expect(s.headroom_bytes).toBe(AVAILABLE - s.required_bytes);
  });

  it('weights larger than the budget: CUDA out of memory, and no shorter context is offered', () => {
    const f = inferenceFit(spec, h100, serve(8192, { precision: 'fp32', kvPrecision: 'fp32' }));
    // fp32: 4 x 8,030,261,248 = 32,121,044,992 B of weights fit; use a budget of 0.3 x 85.5 GB = 25.66 GB instead.
    expect(f.fits).toBe(true);
    const g = inferenceFit(spec, h100, serve(8192, { precision: 'fp32', gpuMemoryUtilization: 0.3 }));
    expect(g.available_bytes).toBe(Math.floor(85_520_809_984 * 0.3));
    expect(g.reason).toBe('weights');
    expect(g.message).toMatch(/^torch\.OutOfMemoryError: CUDA out of memory: the weights \(29\.92 GiB\)/);
    expect(g.suggestions.some((s) => 'seq' in s.change)).toBe(false);
    // bf16 halves the weights and fits: the first lower format tried is fp8 (a fp32 checkpoint has no bf16 entry
    // in the list of lower formats; fp8 and AWQ are what vLLM serves).
    expect(g.suggestions.find((s) => 'precision' in s.change)?.change).toEqual({ precision: 'fp8' });
  });

  it('rejects a gpu_memory_utilization outside (0, 1]', () => {
    expect(() => inferenceFit(spec, h100, serve(8192, { gpuMemoryUtilization: 1.5 }))).toThrow(
      /gpu_memory_utilization must be in \(0, 1\]/,
    );
  });
});

describe('training fit', () => {
  const full: TrainingOptions = { precision: 'bf16', optimizer: 'adamw', batch: 1, seq: 2048 };

  it('full fine-tuning of 8B with AdamW needs 16 B per parameter before activations: does not fit one H100', () => {
    const f = trainingFit(spec, h100, full);
    expect(f.gpu_memory_utilization).toBe(1);
    expect(f.available_bytes).toBe(85_520_809_984);
    expect(f.required_bytes).toBeGreaterThan(16 * P); // 2 weights + 4 master + 2 gradients + 8 Adam moments
    expect(f.fits).toBe(false);
    expect(f.reason).toBe('peak');
    expect(f.message).toMatch(/^torch\.OutOfMemoryError: CUDA out of memory: the training step peaks at/);
    expect(f.message).toContain('GPU 0 has a total capacity of 79.65 GiB'); // 85,520,809,984 / 2^30
    const changes = f.suggestions.map((s) => s.change);
    // Recomputation cannot help: the 128.5 GB of states alone exceed the device.
    expect(changes.some((c) => 'recompute' in c)).toBe(false);
    // ZeRO-3 over 2 ranks shards the 16 B/parameter in two: 64.2 GB + activations.
    expect(changes).toContainEqual({ dp: 2, zero: 3 });
    expect(changes).toContainEqual({ lora_rank: 16, lora_targets: 'all-linear' });
    expect(changes).toContainEqual({ qlora: true, lora_rank: 16, lora_targets: 'all-linear' });
    expect(changes).toContainEqual({ tp: 2 });
    // Every suggestion is the peak of that setup, recomputed, and it fits.
    for (const s of f.suggestions) {
      expect(s.fits).toBe(true);
      expect(s.required_bytes).toBeLessThanOrEqual(85_520_809_984);
    }
    const z3 = f.suggestions.find((s) => s.change['zero'] === 3)!;
    expect(z3.required_bytes).toBe(trainingMemory(spec, { ...full, dp: 2, zero: 3 }).peak_bytes);
    expect(z3.required_bytes).toBeGreaterThan(8 * P);
  });

  it('LoRA on 4 x 4,096 tokens: activations dominate; the lightest recomputation that fits is offered', () => {
    const o: TrainingOptions = { ...full, lora: { rank: 16, targets: 'all-linear' }, batch: 4, seq: 4096 };
    const f = trainingFit(spec, h100, o);
    expect(f.fits).toBe(false);
    // Selective recomputation (no attention scores to drop under flash attention) is not enough; full is.
    expect(trainingMemory(spec, { ...o, recompute: 'selective' }).peak_bytes).toBeGreaterThan(85_520_809_984);
    const rec = f.suggestions.find((s) => 'recompute' in s.change);
    expect(rec?.change).toEqual({ recompute: 'full' });
    expect(rec!.required_bytes).toBe(trainingMemory(spec, { ...o, recompute: 'full' }).peak_bytes);
    // The largest micro-batch that fits is 3 (LoRA's frozen weights + 3/4 of the activations).
    expect(f.suggestions.find((s) => 'batch' in s.change)?.change).toEqual({ batch: 3 });
    // QLoRA saves about 11.5 GB of weights (NF4 instead of bf16), less than the shortfall: not offered.
    expect(f.suggestions.some((s) => 'qlora' in s.change)).toBe(false);
    // LoRA is already on: it is not offered again.
    expect(f.suggestions.some((s) => 'lora_rank' in s.change && !('qlora' in s.change))).toBe(false);
  });
});
