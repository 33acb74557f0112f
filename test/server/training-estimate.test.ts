/**
 * POST /api/training/estimate: the step's figures follow from its own parts (tokens per step over step time,
 * the GPU count from the degrees, time to train from the token budget, cost from the given price), and bad input
 * is a 4xx naming the problem. The memory route keeps its shape.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

const BASE = {
  model: 'meta-llama/Meta-Llama-3-8B',
  gpu: 'h100-sxm-80gb',
  seq: 8192,
  dp: 4,
  cp: 2,
  global_batch: 128,
  zero: '1',
};

describe('POST /api/training/estimate', () => {
  it('answers the step, the rates, the time and the cost', async () => {
    const r = await t.call('POST', '/api/training/estimate', {
      ...BASE,
      tokens: 1e12,
      price_per_gpu_hour: 2,
    });
    expect(r.status).toBe(200);
    const j = r.json;
    expect(j.gpus).toBe(8); // dp 4 × cp 2
    expect(j.microbatches).toBe(32); // 128 sequences / (1 × 4)
    expect(j.tokens_per_step).toBe(128 * 8192);
    expect(j.tokens_per_s).toBeCloseTo((128 * 8192) / j.step_time_s, 6);
    expect(j.tokens_per_s_per_gpu).toBeCloseTo(j.tokens_per_s / 8, 6);
    expect(j.time_to_train_s).toBeCloseTo(1e12 / j.tokens_per_s, 3);
    expect(j.usd).toBeCloseTo((j.time_to_train_s / 3600) * 8 * 2, 3);
    expect(j.mfu).toBeLessThan(j.mfu_with_attention);
    expect(typeof j.fits).toBe('boolean');
    expect(Object.keys(j.exposed_communication_s).sort()).toEqual(['cp', 'dp', 'ep', 'pp', 'tp']);
  });
  it('a bad degree or an unknown GPU is a 4xx naming it', async () => {
    const ep = await t.call('POST', '/api/training/estimate', { ...BASE, ep: 2 });
    expect(ep.status).toBeGreaterThanOrEqual(400);
    expect(ep.status).toBeLessThan(500);
    expect(JSON.stringify(ep.json)).toMatch(/mixture-of-experts/);
    const gpu = await t.call('POST', '/api/training/estimate', { ...BASE, gpu: 'no-such-gpu' });
    expect(gpu.status).toBeGreaterThanOrEqual(400);
    expect(gpu.status).toBeLessThan(500);
    expect(JSON.stringify(gpu.json)).toMatch(/no-such-gpu/);
    const batch = await t.call('POST', '/api/training/estimate', { ...BASE, global_batch: 3 });
    expect(batch.status).toBeGreaterThanOrEqual(400);
    expect(batch.status).toBeLessThan(500);
    expect(JSON.stringify(batch.json)).toMatch(/not a multiple/);
  });
});
