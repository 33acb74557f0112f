/**
 * POST /api/web/plan under context parallelism, sequence parallelism and data-parallel replicas: the KV cache of a
 * long sequence derived by hand from the model's config, the device count, the aggregate rate, and the 422s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

/** Qwen3-0.6B: 28 layers, 8 KV heads of 128, bf16 KV (2 B); one sequence of 30720 + 2048 = 32768 tokens. */
const BASE = {
  model_id: 'Qwen/Qwen3-0.6B',
  hardware_id: 'h100-sxm-80gb',
  precision: 'bf16',
  batch_size: 1,
  input_len: 30720,
  output_len: 2048,
};
const KV_PER_TOKEN = 2 * 28 * 8 * 128 * 2;
const TOKENS = 30720 + 2048;

describe('POST /api/web/plan with cp, sp and dp', () => {
  it('CP 2 halves the per-device KV cache of a long sequence', async () => {
    const one = await t.call('POST', '/api/web/plan', BASE);
    const two = await t.call('POST', '/api/web/plan', { ...BASE, cp: 2 });
    expect(one.status).toBe(200);
    expect(two.status).toBe(200);
    expect(one.json.memory_per_device.kv_cache_bytes).toBe(KV_PER_TOKEN * TOKENS);
    expect(two.json.memory_per_device.kv_cache_bytes).toBe((KV_PER_TOKEN * TOKENS) / 2);
    expect(two.json.memory_per_device.kv_cache_bytes_per_token).toBe(KV_PER_TOKEN / 2);
    // The weights are not split by CP; the activations of the halved sequence are smaller.
    expect(two.json.memory_per_device.weights_bytes).toBe(one.json.memory_per_device.weights_bytes);
    expect(two.json.memory_per_device.activation_bytes).toBeLessThan(
      one.json.memory_per_device.activation_bytes,
    );
    expect(two.json.plan).toEqual({ tp: 1, pp: 1, ep: 1, cp: 2, sp: false, dp: 1 });
    expect(two.json.devices).toBe(2);
    // The engine profiles size the KV cache per TP rank and do not model CP: the capacity is counted as at cp 1
    // (never more than the engine would hold) and the term is named as uncertain.
    expect(two.json.capacity.max_concurrency).toBe(one.json.capacity.max_concurrency);
    const terms = (r: typeof two) => r.json.capacity.uncertain_terms.map((u: { term: string }) => u.term);
    expect(terms(two)).toContain('context_parallel');
    expect(terms(one)).not.toContain('context_parallel');
  });

  it('SP shards the residual activations over the TP group; DP multiplies devices and the aggregate rate', async () => {
    const tp2 = await t.call('POST', '/api/web/plan', { ...BASE, tp: 2 });
    const sp = await t.call('POST', '/api/web/plan?explain=true', { ...BASE, tp: 2, sp: true, cp: 2, dp: 3 });
    expect(sp.status).toBe(200);
    expect(sp.json.devices).toBe(2 * 2 * 3);
    expect(sp.json.replica_devices).toBe(4);
    expect(sp.json.memory_per_device.activation_bytes).toBeLessThan(
      tp2.json.memory_per_device.activation_bytes,
    );
    const p = sp.json.performance;
    expect(p.data_parallel).toBe(3);
    expect(p.aggregate_tokens_per_s.estimate).toBeCloseTo(3 * p.estimate.tokens_per_s, 9);
    expect(p.aggregate_tokens_per_s.ideal).toBeCloseTo(3 * p.ideal.tokens_per_s, 9);
    const agg = sp.json.trace.performance.find(
      (e: { figure: string }) => e.figure === 'aggregate_tokens_per_s (estimate)',
    );
    expect(agg.inputs.dp).toBe(3);
    expect(agg.formula).toMatch(/dp · tokens_per_s of one replica/);
  });

  it('sp with tp 1 is a 422 naming sp; cp 0 and dp 0 are 422s naming the field', async () => {
    const r = await t.call('POST', '/api/web/plan', { ...BASE, sp: true });
    expect(r.status).toBe(422);
    expect(r.json.detail).toMatch(/^sp: /);
    expect(r.json.errors[0].field).toBe('sp');
    for (const field of ['cp', 'dp']) {
      const bad = await t.call('POST', '/api/web/plan', { ...BASE, [field]: 0 });
      expect(bad.status).toBe(422);
      expect(bad.json.detail).toMatch(new RegExp(`^${field}: `));
    }
  });
});
