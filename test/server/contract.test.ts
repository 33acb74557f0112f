/** The error contract, limits, health, the catalog lists and the offline docs. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog } from '../../src/catalog/index.js';
import { LIMITS } from '../../src/server/limits.js';
import { testApp, type TestApp } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

describe('service', () => {
  it('GET /health', async () => {
    const r = await t.call('GET', '/health');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      status: 'ok',
      health: 'healthy',
      service: 'infersim',
      database: { dialect: 'sqlite', ok: true },
    });
  });
  it('GET /models and GET /hardware list the catalogs', async () => {
    const m = await t.call('GET', '/models');
    expect(m.json.count).toBe(catalog().models.items.length);
    expect(m.json.models[0]).toHaveProperty('total_parameters');
    const h = await t.call('GET', '/hardware');
    expect(h.json.devices).toHaveLength(catalog().devices.items.length);
    const h100 = h.json.devices.find((d: { id: string }) => d.id === 'h100-sxm-80gb');
    expect(h100.memory_bytes).toBe(80 * 2 ** 30);
    expect(h.json.systems.map((s: { id: string }) => s.id)).toContain('nvidia_nvl72_rack');
  });
});

describe('errors', () => {
  it('unknown route 404, wrong method 405 with Allow', async () => {
    const nf = await t.call('GET', '/api/nothing-here');
    expect(nf.status).toBe(404);
    expect(nf.json.detail).toBe(nf.json.error);
    const put = await t.call('PUT', '/health');
    expect(put.status).toBe(405);
    expect(put.headers['allow']).toMatch(/GET/);
    const patch = await t.call('PATCH', '/api/models/calculate');
    expect(patch.status).toBe(405);
    expect((await t.call('GET', '/api/models/calculate')).status).not.toBe(500);
  });
  it('malformed bodies are 4xx: invalid JSON, wrong content type, too deep, too large', async () => {
    const bad = await t.app.inject({
      method: 'POST',
      url: '/api/models/calculate',
      headers: { 'content-type': 'application/json' },
      payload: '{"model_id": ',
    });
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body).detail).toMatch(/invalid JSON/);
    const text = await t.app.inject({
      method: 'POST',
      url: '/api/models/calculate',
      headers: { 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expect(text.statusCode).toBe(415);
    const deep = await t.app.inject({
      method: 'POST',
      url: '/api/models/add/config',
      headers: { 'content-type': 'application/json' },
      payload: '{"model_id":"a","config":' + '['.repeat(5000) + ']'.repeat(5000) + '}',
    });
    expect(deep.statusCode).toBe(400);
    expect(JSON.parse(deep.body).detail).toMatch(/deeper than/);
    const big = await t.app.inject({
      method: 'POST',
      url: '/api/models/add/config',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ model_id: 'a', config: { x: 'y'.repeat(LIMITS.bodyBytes) } }),
    });
    expect(big.statusCode).toBe(413);
  });
  it('list lengths and numbers have upper bounds', async () => {
    const many = await t.call('POST', '/api/models/compare', {
      models: Array.from({ length: LIMITS.compareItems + 1 }, () => ({ model_id: 'gpt2' })),
    });
    expect(many.status).toBe(422);
    expect(many.json.detail).toMatch(/^models/);
    const batch = await t.call('POST', '/api/models/calculate', {
      model_id: 'gpt2',
      batch_size: LIMITS.batch + 1,
    });
    expect(batch.status).toBe(422);
    const layers = await t.call('POST', '/api/models/add/config', {
      model_id: 'x/many-layers',
      config: { model_type: 'llama', hidden_size: 8, num_hidden_layers: 10 ** 9, num_attention_heads: 2 },
    });
    expect(layers.status).toBe(422);
    expect(layers.json.detail).toMatch(/at most 1024 layers/);
  });
});

describe('docs, offline', () => {
  it('GET /openapi.json documents every endpoint', async () => {
    const r = await t.call('GET', '/openapi.json');
    expect(r.status).toBe(200);
    const paths = Object.keys(r.json.paths);
    for (const p of [
      '/health',
      '/api/models/validate',
      '/api/models/calculate',
      '/api/models/compare',
      '/api/models/analyze',
      '/api/models/popular',
      '/api/models/list',
      '/api/models/filter',
      '/api/models/add/huggingface',
      '/api/models/add/config',
      '/api/models',
      '/api/memory/inference',
      '/api/memory/training',
      '/api/memory/compare',
      '/api/config/options',
      '/models',
      '/hardware',
    ])
      expect(paths, p).toContain(p);
    expect(r.json.paths['/api/models/calculate'].post.requestBody).toBeDefined();
  });
  it('Swagger UI at /docs and ReDoc at /redoc load nothing from other hosts', async () => {
    const docs = await t.call('GET', '/docs');
    expect(docs.status).toBe(200);
    expect(docs.text).not.toMatch(/src="https?:|href="https?:/);
    const bundle = await t.app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
    expect(bundle.statusCode).toBe(200);
    const redoc = await t.call('GET', '/redoc');
    expect(redoc.status).toBe(200);
    expect(redoc.text).toContain('<script src="/redoc/redoc.standalone.js">');
    expect(redoc.text).not.toMatch(/https?:\/\//);
    const js = await t.app.inject({ method: 'GET', url: '/redoc/redoc.standalone.js' });
    expect(js.statusCode).toBe(200);
    expect(js.body.length).toBeGreaterThan(500_000);
    expect(js.body).not.toContain('cdn.redoc.ly');
  });
});
