/**
 * `engine` / `engine_version` on /config/system-metrics (per phase request) and /api/calculate: each answers with
 * the named engine's capacity block (concurrency to two decimals, the engine used, its uncertain terms) and bad
 * values name the field (422; /api/calculate answers its spec's 400).
 *
 * Hand values, Llama-3.1-8B-Instruct in bf16 on one H100 SXM (derivation in test/cli-engine.test.ts): SGLang 0.5.3
 * KV = (79.22 GiB - 0.51 GiB) x 0.835 - 16,094,076,928 B; tokens = floor(KV / 131,072).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../server/helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

const GiB = 2 ** 30;
const M = 'meta-llama/Llama-3.1-8B-Instruct';
const SGLANG_KV = (79.22 * GiB - 0.51 * GiB) * 0.835 - (16_060_522_496 + 33_554_432);
const SGLANG_TOKENS = Math.floor(SGLANG_KV / 131_072);

describe('/config/system-metrics engine', () => {
  const decode = { model_id: M, hardware_id: 'h100-sxm-80gb', batch_size: 1, seq_len: 2047 };

  it('decode_req.engine sglang: the KV pool by hand at max_model_len = seq_len + 1', async () => {
    const r = await t.call('POST', '/config/system-metrics', { decode_req: { ...decode, engine: 'sglang' } });
    expect(r.status, r.text).toBe(200);
    const c = r.json.decode.capacity;
    expect(c.engine).toBe('sglang');
    expect(c.max_model_len).toBe(2048);
    expect(c.kv_cache_bytes_available).toBeCloseTo(SGLANG_KV, 0);
    expect(c.max_concurrency).toBe(Math.round((SGLANG_TOKENS / 2048) * 100) / 100);
    expect(c.uncertain_terms.length).toBeGreaterThan(0);
    // engine_version alone: vLLM at that release. Without either field the hot path answers capacity null.
    const v = await t.call('POST', '/config/system-metrics', {
      decode_req: { ...decode, engine_version: '0.19.0' },
    });
    expect(v.json.decode.capacity.engine).toBe('vllm');
    expect(v.json.decode.capacity.engine_version).toBe('0.19.0');
    const none = await t.call('POST', '/config/system-metrics', { decode_req: decode });
    expect(none.json.decode.capacity).toBeNull();
  });

  it('422 naming decode_req.engine / decode_req.engine_version', async () => {
    const e = await t.call('POST', '/config/system-metrics', { decode_req: { ...decode, engine: 'tgi' } });
    expect(e.status).toBe(422);
    expect(e.json.detail).toMatch(/^decode_req\.engine: /);
    const v = await t.call('POST', '/config/system-metrics', {
      decode_req: { ...decode, engine_version: '0.1.0' },
    });
    expect(v.status).toBe(422);
    expect(v.json.detail).toMatch(/^decode_req\.engine_version: vLLM 0\.1\.0 is not modelled/);
  });
});

describe('/api/calculate engine', () => {
  const body = { model_name: M, gpu: 'h100', precision: 'bf16', seq_length: 2048 };

  it('engine sglang: the same KV pool as system-metrics and the hand value', async () => {
    const r = await t.call('POST', '/api/calculate', { ...body, engine: 'sglang' });
    expect(r.status, r.text).toBe(200);
    expect(r.json.parallelism.num_gpus).toBe(1);
    const c = r.json.capacity;
    expect(c.engine).toBe('sglang');
    expect(c.kv_cache_bytes_available).toBeCloseTo(SGLANG_KV, 0);
    expect(c.max_kv_tokens).toBe(SGLANG_TOKENS);
    expect(c.max_concurrency).toBe(Math.round((SGLANG_TOKENS / 2048) * 100) / 100);
  });

  it('bad engine / engine_version: the spec route answers 400 naming the field', async () => {
    const e = await t.call('POST', '/api/calculate', { ...body, engine: 'tgi' });
    expect(e.status).toBe(400);
    expect(e.json.detail).toMatch(/^engine: /);
    const v = await t.call('POST', '/api/calculate', { ...body, engine: 'trtllm', engine_version: 'x' });
    expect(v.status).toBe(400);
    expect(v.json.detail).toMatch(/^engine_version: engine version must look like 1\.0\.0/);
  });
});
