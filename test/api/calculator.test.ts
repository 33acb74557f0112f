import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type BuiltApp } from '../../src/server/app.js';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';

let built: BuiltApp;
beforeAll(async () => {
  built = await buildApp({ store: null, hub: null });
});
afterAll(async () => {
  await built.app.close();
});
const post = (url: string, payload: unknown) =>
  built.app.inject({ method: 'POST', url, payload: payload as object });
const get = (url: string) => built.app.inject({ method: 'GET', url });

describe('api-inference-calculator.md', () => {
  it('POST /api/calculate: Llama-2-7B fp16 on H100 at 2048 tokens, every documented field from the core', async () => {
    const r = await post('/api/calculate', {
      model_name: 'llama2-7b',
      gpu: 'h100',
      seq_length: 2048,
      batch_size: 1,
      precision: 'fp16',
    });
    expect(r.statusCode).toBe(200);
    const j = r.json();
    expect(j.parameters_billions).toBe(6.74);
    // 2 B x 6,738,415,616 = 13.48 GB; KV 32 x 2 x 4096 x 2 B x 2048 tokens = 1,073,741,824 B = 1.07 GB
    expect(j.vram.model_base).toBe(13.48);
    expect(j.vram.kv_cache_base).toBe(1.07);
    for (const k of [
      'model_with_overhead',
      'total_base',
      'total_system_wide',
      'model_per_gpu',
      'total_per_gpu_with_component_overhead',
    ]) {
      expect(typeof j.vram[k]).toBe('number');
    }
    expect(j.vram.model_with_overhead).toBeGreaterThanOrEqual(j.vram.model_base);
    for (const k of ['attention', 'feedforward', 'prefill_total', 'per_token'])
      expect(j.flops[k]).toBeGreaterThan(0);
    // GEMM FLOPs per generated token are at least 2 x the non-embedding weights (6,607,343,616).
    expect(j.flops.per_token).toBeGreaterThanOrEqual(2 * (6738415616 - 32000 * 4096));
    expect(j.performance.tokens_per_second).toBeCloseTo(1 / j.performance.token_latency, 6);
    expect(j.performance.time_for_1000_tokens).toBeCloseTo(1000 * j.performance.token_latency, 9);
    expect(j.performance.ideal.token_latency).toBeLessThanOrEqual(j.performance.token_latency);
    // Ideal decode step, memory-bound: the 16-bit weights but the embedding table, 2 B x 6,607,343,616, plus at most
    // the 1,073,741,824 B of KV at 2048 tokens, read once at the device's bandwidth.
    const bw = hardwareSpec(findDevice('h100')).memoryBandwidthBytesPerS;
    expect(j.performance.ideal.token_latency).toBeGreaterThanOrEqual((2 * 6607343616) / bw);
    expect(j.performance.ideal.token_latency).toBeLessThan(((2 * 6607343616 + 1073741824) / bw) * 1.01);
    expect(Object.keys(j.performance.throughput_by_gpu).length).toBeGreaterThan(15);
    expect(j.parallelism.tensor_parallel_gpus).toBe(1);
    expect(Array.isArray(j.history)).toBe(true);
  });

  it('the custom model of the spec (hidden 4096, ff 11008, 32 layers, vocab 32000) is Llama-2-7B-shaped', async () => {
    const j = (
      await post('/api/calculate', { hidden_dim: 4096, ff_dim: 11008, num_layers: 32, vocab_size: 32000 })
    ).json();
    expect(j.parameters_billions).toBe(6.74);
    expect(j.warnings.join(' ')).toMatch(/32 heads/);
  });

  it('efficiency_factor replaces the calibrated efficiencies; ?explain=true fills history with formulas', async () => {
    const a = (
      await post('/api/calculate?explain=true', {
        model_name: 'llama2-7b',
        gpu: 'a100',
        efficiency_factor: 0.3,
      })
    ).json();
    expect(a.performance.efficiency_used.memory).toBe(0.3);
    expect(a.history.some((h: { formula?: string }) => typeof h.formula === 'string')).toBe(true);
  });

  it('errors are 400 with error and detail: unsupported precision, calculation type, missing custom fields', async () => {
    for (const body of [
      { model_name: 'llama2-7b', gpu: 't4', precision: 'bf16' },
      { calculation_type: 'training' },
      { hidden_dim: 4096 },
      { model_name: 'llama2-7b', batch_size: -1 },
    ]) {
      const r = await post('/api/calculate', body);
      expect(r.statusCode).toBe(400);
      expect(r.json().error).toBe(r.json().detail);
    }
    expect((await post('/api/calculate', { model_name: 'llama-9-7b' })).statusCode).toBe(404);
  });

  it('GET /api/available_models lists shapes and exact parameter counts', async () => {
    const j = (await get('/api/available_models')).json();
    const l2 = j.find((m: { id: string }) => m.id === 'meta-llama/Llama-2-7b-hf');
    expect(l2).toMatchObject({
      hidden_dim: 4096,
      ff_dim: 11008,
      num_layers: 32,
      vocab_size: 32000,
      seq_len: 4096,
      parameters: 6738415616,
    });
  });

  it('GET /api/available_gpus lists devices with their precisions', async () => {
    const j = (await get('/api/available_gpus')).json();
    const t4 = j.find((g: { id: string }) => g.id === 't4-16gb');
    expect(t4.supported_precisions).not.toContain('bf16');
  });

  it('POST /api/model_scaling_analysis: 16 GB cannot hold 7B at 2048 tokens in fp16 plus runtime; TP2 can', async () => {
    const r = await post('/api/model_scaling_analysis', {
      gpu_vram_gb: 14,
      batch_size: 1,
      sequence_length: 2048,
      hidden_dimensions: 4096,
      feedforward_dimensions: 11008,
      num_layers: 32,
      vocab_size: 32000,
      precision: 'fp16',
    });
    const j = r.json();
    expect(j.fits_on_single_gpu).toBe(false);
    expect(j.num_gpus_required).toBe(2);
    expect(j.scaling_details.single_gpu_memory_breakdown.model_weights_gb).toBe(13.48);
    expect(j.scaling_details.parallel_strategies.tensor_parallel.num_gpus).toBe(2);
    // TP2 halves the matrices: per GPU well under the 14 GB.
    expect(j.scaling_details.parallel_strategies.tensor_parallel.vram_per_gpu_gb).toBeLessThan(14);
    expect((await post('/api/model_scaling_analysis', { gpu_vram_gb: 16 })).statusCode).toBe(400);
  });
});
