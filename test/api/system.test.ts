import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type BuiltApp } from '../../src/server/app.js';

let built: BuiltApp;
beforeAll(async () => {
  built = await buildApp({ store: null, hub: null });
});
afterAll(async () => {
  await built.app.close();
});

const layers = {
  attention: { tensor_parallel: 8, context_parallel: 1, dtype: 'fp8' },
  feedforward: { tensor_parallel: 8, sequence_parallel: 1, dtype: 'fp8' },
  norm: { tensor_parallel: 1, dtype: 'fp8' },
  embedding: { tensor_parallel: 1, dtype: 'fp8' },
};
const req = {
  model_id: 'llama_3.3_70b',
  hardware_id: 'nvidia_nvl72_rack',
  batch_size: 128,
  seq_len: 1024,
  layers,
};

describe('api-system-metrics.md', () => {
  it('GET /models/{id}: Llama-3.3-70B has 80 attention and 80 MLP layers, 64 heads of 128, 8 KV heads', async () => {
    const j = (await built.app.inject({ method: 'GET', url: '/models/llama_3.3_70b' })).json();
    const attn = j.layer_types.find((l: { name: string }) => l.name === 'attention');
    expect(attn).toMatchObject({
      count: 80,
      specs: { hidden_size: 8192, num_heads: 64, num_kv_heads: 8, head_dim: 128 },
    });
    expect(j.layer_types.find((l: { name: string }) => l.name === 'feedforward')).toMatchObject({
      count: 80,
      specs: { intermediate_size: 28672 },
    });
  });

  it('GET /hardware/nvidia_nvl72_rack: 72 chips; GET /hardware/nvidia_h100_80gb: 1', async () => {
    const rack = (await built.app.inject({ method: 'GET', url: '/hardware/nvidia_nvl72_rack' })).json();
    expect(rack.num_chips).toBe(72);
    expect(rack.compute.bf16).toBeGreaterThan(0);
    expect(
      (await built.app.inject({ method: 'GET', url: '/hardware/nvidia_h100_80gb' })).json().num_chips,
    ).toBe(1);
    expect((await built.app.inject({ method: 'GET', url: '/hardware/nvidia_h1000' })).statusCode).toBe(404);
  });

  it('GET /api/layers lists the parallelism each layer supports', async () => {
    const j = (await built.app.inject({ method: 'GET', url: '/api/layers?model_id=llama_3.3_70b' })).json();
    expect(j.layers.find((l: { name: string }) => l.name === 'attention').available_parallelism).toEqual([
      'tensor_parallel',
      'context_parallel',
    ]);
    const moe = (
      await built.app.inject({ method: 'GET', url: '/api/layers?model_id=mistralai/Mixtral-8x7B-v0.1' })
    ).json();
    expect(moe.layers.find((l: { name: string }) => l.name === 'moe').available_parallelism).toContain(
      'expert_parallel',
    );
  });

  it('POST /config/system-metrics: the spec example, prefill and decode on 8 of 72 chips', async () => {
    const r = await built.app.inject({
      method: 'POST',
      url: '/config/system-metrics',
      payload: { prefill_req: req, decode_req: req },
    });
    expect(r.statusCode).toBe(200);
    const j = r.json();
    expect(j.system.num_chips).toBe(72);
    expect(j.system.fits_on_hardware).toBe(true);
    expect(j.prefill.chips_used).toBe(8);
    expect(j.prefill.memory_gb).toBeCloseTo(j.prefill.memory_per_chip_gb * 8, 1);
    // The prefill runs every non-embedding weight over 128 x 1024 tokens: at least 2 x 69.5e9 x 131072 FLOPs.
    expect(j.prefill.flops).toBeGreaterThan(2 * (70553706496 - 2 * 128256 * 8192) * 131072);
    expect(j.system.total_time_ms).toBeCloseTo(j.prefill.latency_ms + j.decode.latency_ms, 6);
    expect(j.system.throughput_tokens_s).toBeCloseTo(128 / (j.decode.latency_ms / 1e3), 6);
    expect(j.decode.ideal_latency_ms).toBeLessThanOrEqual(j.decode.latency_ms);
    expect(['compute', 'memory', 'communication']).toContain(j.system.bottleneck);
  });

  it('per-layer settings the core cannot model are 422 naming the field', async () => {
    const bad = { ...req, layers: { ...layers, feedforward: { tensor_parallel: 4, dtype: 'fp8' } } };
    const r = await built.app.inject({
      method: 'POST',
      url: '/config/system-metrics',
      payload: { prefill_req: bad },
    });
    expect(r.statusCode).toBe(422);
    expect(r.json().error).toMatch(/feedforward.tensor_parallel/);
    expect(
      (await built.app.inject({ method: 'POST', url: '/config/system-metrics', payload: {} })).statusCode,
    ).toBe(422);
    const tp3 = { ...req, layers: { attention: { tensor_parallel: 3 } } };
    expect(
      (
        await built.app.inject({
          method: 'POST',
          url: '/config/system-metrics',
          payload: { decode_req: tp3 },
        })
      ).statusCode,
    ).toBe(422);
  });
});
