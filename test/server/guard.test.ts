/**
 * The edge (issue 15, cases 4, 5 and 8) over a real loopback server: framework errors carry `detail` and `error`,
 * security headers on every answer, the Host allow-list, JSON-only writes, the optional API key, DELETE of an
 * imported model, import quotas, and /popular ranking only the Hub's download counts.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { HubClient } from '../../src/hub/index.js';
import { hostName } from '../../src/server/guard.js';
import { startFakeHub, type FakeHub } from '../hub/fake-hub.js';
import { serveApp, type Served } from './listen.js';

const LLAMA = {
  model_type: 'llama',
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  vocab_size: 1000,
};

/** Writes `raw` on a fresh socket and reads the whole answer (the server closes after a framework error). */
function rawHttp(url: string, raw: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), hostname, () => sock.write(raw));
    let out = '';
    sock.on('data', (d) => (out += d.toString('utf8')));
    sock.on('end', () => resolve(out));
    sock.on('error', (e) => (out ? resolve(out) : reject(e)));
    sock.setTimeout(5000, () => sock.destroy(new Error('timeout')));
  });
}

function bodyOf(raw: string): { detail: string; error: string } {
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { detail: string; error: string };
}

let hub: FakeHub;
let store: Store;
let s: Served;
const KEY = 'test-key-0123456789';

beforeAll(async () => {
  hub = await startFakeHub();
  store = await openStore({ sqlitePath: ':memory:' });
  s = await serveApp({
    store,
    hub: new HubClient({ endpoint: hub.url, timeoutMs: 2000, retries: 0 }),
    guard: { apiKey: KEY },
    admission: { importsPerHour: 5 },
  });
}, 30_000);
afterAll(async () => {
  await s?.app.close();
  await store?.close();
  await hub?.close();
});

const auth = { authorization: `Bearer ${KEY}` };

describe('framework errors have detail and error', () => {
  it('a bad percent-encoding is 400', async () => {
    const raw = await rawHttp(
      s.url,
      'GET /models/%zz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
    );
    expect(raw.startsWith('HTTP/1.1 400')).toBe(true);
    const b = bodyOf(raw);
    expect(b.detail).toMatch(/url/);
    expect(b.error).toBe(b.detail);
  });
  it('a header block over 16 KiB is 431', async () => {
    const raw = await rawHttp(
      s.url,
      `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(raw.startsWith('HTTP/1.1 431')).toBe(true);
    expect(bodyOf(raw).detail).toMatch(/headers/);
  });
  it('a missing file under /docs is 404, a wrong method 405', async () => {
    const r = await s.send('GET', '/docs/static/nonexistent.js');
    expect(r.status).toBe(404);
    expect(r.json.detail).toBe(r.json.error);
    const m = await s.send('PUT', '/health');
    expect(m.status).toBe(405);
    expect(m.json.detail).toMatch(/not allowed/);
  });
});

describe('headers and hosts', () => {
  it('every answer carries CSP, nosniff and frame denial', async () => {
    for (const path of ['/', '/health', '/nothing-here']) {
      const r = await s.send('GET', path);
      expect(r.headers.get('content-security-policy'), path).toMatch(/default-src 'self'/);
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('x-frame-options')).toBe('DENY');
    }
  });
  it('a Host outside the allow-list is 403 (DNS rebinding); loopback names pass', async () => {
    const evil = await rawHttp(
      s.url,
      'GET /health HTTP/1.1\r\nHost: evil.example:8000\r\nConnection: close\r\n\r\n',
    );
    expect(evil.startsWith('HTTP/1.1 403')).toBe(true);
    expect(bodyOf(evil).detail).toMatch(/evil\.example/);
    const local = await rawHttp(
      s.url,
      'GET /health HTTP/1.1\r\nHost: localhost:1\r\nConnection: close\r\n\r\n',
    );
    expect(local.startsWith('HTTP/1.1 200')).toBe(true);
    expect(hostName('[::1]:8000')).toBe('[::1]');
    expect(hostName('Example.COM')).toBe('example.com');
  });
});

describe('writes', () => {
  it('need a JSON content type: no body, text/plain and forms are 415', async () => {
    const none = await fetch(`${s.url}/api/models/add/config`, { method: 'POST', headers: auth });
    expect(none.status).toBe(415);
    const form = await fetch(`${s.url}/api/models/add/config`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'model_id=a',
    });
    expect(form.status).toBe(415);
    expect(((await form.json()) as { detail: string }).detail).toMatch(/application\/json/);
  });
  it('need the API key when one is set; the calculators stay open', async () => {
    const no = await s.send('POST', '/api/models/add/config', { model_id: 'k/one', config: LLAMA });
    expect(no.status).toBe(401);
    expect(no.headers.get('www-authenticate')).toBe('Bearer');
    const wrong = await s.send(
      'POST',
      '/api/models/add/config',
      { model_id: 'k/one', config: LLAMA },
      {
        authorization: 'Bearer nope',
      },
    );
    expect(wrong.status).toBe(401);
    const ok = await s.send('POST', '/api/models/add/config', { model_id: 'k/one', config: LLAMA }, auth);
    expect(ok.status).toBe(200);
    const calc = await s.send('POST', '/api/models/calculate', { model_id: 'gpt2' });
    expect(calc.status).toBe(200);
  });
  it('DELETE /api/models/{id} removes an import (with the key), then 404', async () => {
    expect((await s.send('DELETE', '/api/models/k/one')).status).toBe(401);
    const d = await s.send('DELETE', '/api/models/k/one', undefined, auth);
    expect(d.status).toBe(200);
    expect(d.json).toEqual({ deleted: true, model_id: 'k/one' });
    expect((await s.send('GET', '/api/models/k/one/config')).status).toBe(404);
    const again = await s.send('DELETE', '/api/models/k/one', undefined, auth);
    expect(again.status).toBe(404);
    expect(again.json.detail).toMatch(/no imported model/);
  });
  it('a config over 256 KiB is 413; the sixth import in an hour is 429 with Retry-After', async () => {
    const big = { ...LLAMA, padding: 'x'.repeat(300 * 1024) };
    const r = await s.send('POST', '/api/models/add/config', { model_id: 'k/big', config: big }, auth);
    expect(r.status).toBe(413);
    // Five per hour: the one above, the two of the previous tests and the 401s count too (the limit is per client
    // and route, before authentication): send until refused and check the refusal.
    let last = r;
    for (let i = 0; i < 6 && last.status !== 429; i++)
      last = await s.send('POST', '/api/models/add/config', { model_id: `k/q${i}`, config: LLAMA }, auth);
    expect(last.status).toBe(429);
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(last.json.detail).toMatch(/too many requests/);
  });
});

describe('/popular', () => {
  it('ranks Hub download counts only: a config import claiming 1e15 downloads is not listed', async () => {
    await store.importModel({
      id: 'gamer/top',
      name: 'top',
      author: 'gamer',
      origin: 'config',
      config: LLAMA,
      metadata: { downloads: 1e15 },
      model_type: 'decoder-only',
      attention_type: 'mha',
      parameter_count: 1,
      tags: [],
    });
    const p = await s.send('GET', '/api/models/popular?limit=100');
    expect(p.status).toBe(200);
    expect(p.json.models.map((m: { model_id: string }) => m.model_id)).not.toContain('gamer/top');
  });
});
