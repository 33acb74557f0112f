/**
 * `engine` / `engine_version` on POST /api/web/plan: the capacity block is the named engine's KV cache, with
 * concurrency to two decimals as engines print it, the engine used and its uncertain terms; bad values are 422s
 * naming the field.
 *
 * Hand values, Llama-3.1-8B-Instruct in bf16 on one H100 SXM (derivation in test/cli-engine.test.ts): CUDA total
 * 79.22 GiB (vLLM PR #10511); weights as loaded 16,094,076,928 B; KV 131,072 B per token; SGLang 0.5.3
 * mem_fraction_static 0.835 and CUDA context 0.51 GiB.
 * vLLM 0.19.0 log (shared/reference/calibration/vllm-logs.json R01, total_memory 79.19 GiB, utilization 0.95,
 * max_model_len 8,192): "Maximum concurrency for 8,192 tokens per request: 58.11x".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS, fromUrl, toQuery } from '../../web/src/state.js';
import { testApp, type TestApp } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

const GiB = 2 ** 30;
const BASE = {
  model_id: 'meta-llama/Llama-3.1-8B-Instruct',
  hardware_id: 'h100-sxm-80gb',
  precision: 'bf16',
  input_len: 1024,
  output_len: 1024,
};

describe('POST /api/web/plan engine', () => {
  it('default vllm: concurrency as vLLM prints it, near the 0.19 log for 8,192 tokens', async () => {
    const r = await t.call('POST', '/api/web/plan', {
      ...BASE,
      input_len: 4096,
      output_len: 4096,
      gpu_memory_utilization: 0.95,
    });
    expect(r.status, r.text).toBe(200);
    const c = r.json.capacity;
    expect(c.engine).toBe('vllm');
    expect(c.engine_version).toBe('0.19.0');
    expect(c.max_model_len).toBe(8192);
    // Two decimals, as printed.
    expect(Math.round(c.max_concurrency * 100)).toBeCloseTo(c.max_concurrency * 100, 9);
    // The log's GPU reports 79.19 GiB, the catalog's 79.22: within 0.5% of 58.11x, never more than 3% above.
    expect(Math.abs(c.max_concurrency / 58.11 - 1)).toBeLessThan(0.005);
    expect(c.uncertain_terms.map((u: { term: string }) => u.term)).toContain('non_torch');
  });

  it('sglang: KV = (total - context) x 0.835 - weights, by hand', async () => {
    const r = await t.call('POST', '/api/web/plan', { ...BASE, engine: 'sglang' });
    expect(r.status, r.text).toBe(200);
    const c = r.json.capacity;
    expect(c.engine).toBe('sglang');
    expect(c.engine_version).toBe('0.5.3');
    expect(c.memory_fraction).toBe(0.835);
    const kv = (79.22 * GiB - 0.51 * GiB) * 0.835 - (16_060_522_496 + 33_554_432);
    expect(c.kv_cache_bytes_available).toBeCloseTo(kv, 0);
    const tokens = Math.floor(kv / 131_072);
    expect(c.max_kv_tokens).toBe(tokens);
    expect(c.max_concurrency).toBe(Math.round((tokens / 2048) * 100) / 100);
  });

  it('engine_version picks the release; a later vLLM subtracts CUDA graphs (less KV)', async () => {
    const a = await t.call('POST', '/api/web/plan', BASE);
    const b = await t.call('POST', '/api/web/plan', { ...BASE, engine: 'vllm', engine_version: '0.21.0' });
    expect(b.status, b.text).toBe(200);
    expect(b.json.capacity.engine_version).toBe('0.21.0');
    expect(b.json.capacity.cuda_graph_bytes).toBeGreaterThan(0);
    expect(a.json.capacity.cuda_graph_bytes).toBe(0);
    expect(b.json.capacity.kv_cache_bytes_available).toBeLessThan(a.json.capacity.kv_cache_bytes_available);
  });

  it('422 naming engine or engine_version for bad values', async () => {
    const e = await t.call('POST', '/api/web/plan', { ...BASE, engine: 'tgi' });
    expect(e.status).toBe(422);
    expect(e.json.detail).toMatch(/^engine: /);
    const v = await t.call('POST', '/api/web/plan', { ...BASE, engine_version: 'banana' });
    expect(v.status).toBe(422);
    expect(v.json.detail).toMatch(/^engine_version: engine version must look like 0\.19\.0/);
    expect(v.json.errors[0].field).toBe('engine_version');
    const old = await t.call('POST', '/api/web/plan', { ...BASE, engine: 'sglang', engine_version: '0.3.0' });
    expect(old.status).toBe(422);
    expect(old.json.detail).toMatch(/^engine_version: SGLang 0\.3\.0 is not modelled/);
  });

  it('a length beyond the model leaves the page standing, with the engine reason in capacity', async () => {
    const r = await t.call('POST', '/api/web/plan', { ...BASE, input_len: 200_000 });
    expect(r.status, r.text).toBe(200);
    expect(r.json.capacity.fits).toBe(false);
    expect(r.json.capacity.error).toMatch(/max_model_len 201024 is longer than/);
  });
});

describe('OpenAPI documents the engine fields', () => {
  it('engine (enum) and engine_version on /api/web/plan, /api/calculate and /config/system-metrics', async () => {
    const r = await t.call('GET', '/openapi.json');
    expect(r.status).toBe(200);
    const body = (path: string) => r.json.paths[path].post.requestBody.content['application/json'].schema;
    for (const props of [
      body('/api/web/plan').properties,
      body('/api/calculate').properties,
      body('/config/system-metrics').properties.decode_req.properties,
    ]) {
      expect(props.engine.enum).toEqual(['vllm', 'sglang', 'trtllm']);
      expect(props.engine_version.type).toBe('string');
    }
  });
});

describe('web page state: the engine in the URL like the other settings', () => {
  it('eng and ev round-trip; the defaults (vllm, modelled release) stay out of the URL', () => {
    expect(DEFAULTS.engine).toBe('vllm');
    expect(toQuery(DEFAULTS)).toBe('');
    const s = fromUrl('?eng=sglang&ev=0.5.3');
    expect(s.engine).toBe('sglang');
    expect(s.engineVersion).toBe('0.5.3');
    expect(toQuery(s)).toBe('?eng=sglang&ev=0.5.3');
  });
});
