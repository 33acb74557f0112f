/** POST /api/serving/simulate through fastify inject: figures, disaggregated mode, traces, the 422s, OpenAPI. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../server/helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

const BASE = {
  model: 'Qwen/Qwen3-8B',
  gpu: 'h100',
  engine: 'vllm',
  isl: 1024,
  osl: 128,
  concurrency: 8,
  num_requests: 40,
};

describe('POST /api/serving/simulate', () => {
  it('answers the figures, estimate and ideal, consistent with each other', async () => {
    const r = await t.call('POST', '/api/serving/simulate', BASE);
    expect(r.status).toBe(200);
    const j = r.json;
    for (const k of [
      'ttft_ms',
      'tpot_ms',
      'ttft_ms_p90',
      'ttft_ms_p99',
      'tpot_ms_p90',
      'tpot_ms_p99',
      'itl_ms',
      'e2e_ms',
    ])
      expect(j[k]).toBeGreaterThan(0);
    expect(j.ttft_ms_p99).toBeGreaterThanOrEqual(j.ttft_ms_p90);
    expect(j.ttft_ms_p90).toBeGreaterThanOrEqual(j.ttft_ms);
    expect(j.queue_ms + j.prefill_ms).toBeGreaterThan(0);
    expect(j.gpus).toBe(1);
    expect(j.completed).toBe(40);
    // every request has 128 output tokens: tokens/s = 40 · 128 / duration
    expect(j.output_tokens_per_s).toBeCloseTo((40 * 128) / j.duration_s, 6);
    expect(j.output_tokens_per_s_per_gpu).toBeCloseTo(j.output_tokens_per_s, 9);
    expect(j.output_tokens_per_s_per_user).toBeCloseTo(1000 / j.tpot_ms, 9);
    expect(j.ideal.tpot_ms).toBeLessThanOrEqual(j.tpot_ms);
    expect(j.ideal.ttft_ms).toBeLessThanOrEqual(j.ttft_ms);
  });

  it('goodput counts the requests within the limits', async () => {
    const all = await t.call('POST', '/api/serving/simulate', { ...BASE, slo_ttft_ms: 1e6 });
    const none = await t.call('POST', '/api/serving/simulate', { ...BASE, slo_tpot_ms: 0.001 });
    expect(all.json.goodput_requests_per_s).toBeCloseTo(all.json.request_throughput_per_s, 9);
    expect(none.json.goodput_requests_per_s).toBe(0);
  });

  it('disaggregated workers count their GPUs', async () => {
    const r = await t.call('POST', '/api/serving/simulate', {
      ...BASE,
      mode: 'disagg',
      prefill: { tp: 1, workers: 1 },
      decode: { tp: 2, workers: 2 },
    });
    expect(r.status).toBe(200);
    expect(r.json.gpus).toBe(5);
  });

  it('replays a trace with arrival times', async () => {
    const trace = ['arrival_s,input,output', '0,500,20', '0.1,800,30', '0.5,200,10'].join('\n');
    const r = await t.call('POST', '/api/serving/simulate', { model: 'Qwen/Qwen3-8B', gpu: 'h100', trace });
    expect(r.status).toBe(200);
    expect(r.json.completed).toBe(3);
  });

  it('names the field on bad input (422)', async () => {
    const bad = async (body: object, field: RegExp) => {
      const r = await t.call('POST', '/api/serving/simulate', body);
      expect(r.status).toBe(422);
      expect(r.json.detail).toMatch(field);
    };
    await bad({ ...BASE, tp: 0 }, /tp/);
    await bad({ ...BASE, engine: 'tgi' }, /engine/);
    await bad({ ...BASE, isl: undefined }, /isl/);
    await bad({ ...BASE, rate: 2 }, /concurrency/);
    await bad({ ...BASE, tp: 2, ep: 4 }, /ep/);
    await bad({ ...BASE, mode: 'disagg' }, /prefill/);
    await bad({ ...BASE, input_dist: { kind: 'uniform', min: 10, max: 5 } }, /input/);
    await bad({ ...BASE, kv_precision: 'fp7' }, /kv precision/);
    await bad({ ...BASE, concurrency: undefined, trace: '0 10' }, /trace line 1/);
    await bad({ ...BASE, bogus: 1 }, /bogus/);
  });

  it('an unknown model or GPU is a 404', async () => {
    expect((await t.call('POST', '/api/serving/simulate', { ...BASE, model: 'no/such-model' })).status).toBe(
      404,
    );
    expect((await t.call('POST', '/api/serving/simulate', { ...BASE, gpu: 'no-such-gpu' })).status).toBe(404);
  });

  it('is in the OpenAPI document', async () => {
    const r = await t.call('GET', '/openapi.json');
    const op = r.json.paths['/api/serving/simulate'].post;
    expect(op.tags).toContain('serving');
    expect(Object.keys(op.requestBody.content['application/json'].schema.properties)).toContain(
      'concurrency',
    );
  });
});
