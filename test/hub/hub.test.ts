import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubClient, HubError, parseRepoId } from '../../src/hub/index.js';
import { FAKE_SAFETENSORS_TOTAL, startFakeHub, type FakeHub, hubError } from './fake-hub.js';
import { referenceConfig } from '../helpers.js';

let hub: FakeHub;
let client: HubClient;

beforeAll(async () => {
  hub = await startFakeHub();
  client = new HubClient({ endpoint: hub.url, token: 'hf_test', timeoutMs: 300, retries: 2, backoffMs: 10 });
});
afterAll(() => hub.close());

describe('repo ids', () => {
  it('accepts org/name, legacy names and huggingface.co URLs', () => {
    expect(parseRepoId('meta-llama/Llama-2-7b-hf')).toBe('meta-llama/Llama-2-7b-hf');
    expect(parseRepoId('distilgpt2')).toBe('distilgpt2');
    expect(parseRepoId('https://huggingface.co/Qwen/Qwen3-8B')).toBe('Qwen/Qwen3-8B');
    expect(parseRepoId('https://huggingface.co/Qwen/Qwen3-8B/tree/main')).toBe('Qwen/Qwen3-8B');
  });
  it.each([
    'http://evil.example/org/name',
    'org/name/extra',
    '../etc/passwd',
    'org/..',
    'org/name?x=1',
    'a b/c',
    '',
    'org//name',
    'x'.repeat(300),
    'org/na--me',
    'ünïcode/model',
  ])('rejects %j with a 422', (id) => {
    expect(() => parseRepoId(id)).toThrow(HubError);
    try {
      parseRepoId(id);
    } catch (e) {
      expect((e as HubError).status).toBe(422);
    }
  });
});

describe('against the fake hub', () => {
  it('reads a real config.json and sends the token', async () => {
    const c = await client.config('meta-llama/Llama-2-7b-hf');
    expect(c).toEqual(referenceConfig('meta-llama__Llama-2-7b-hf.json'));
    const last = hub.requests.at(-1)!;
    expect(last.path).toBe('/meta-llama/Llama-2-7b-hf/resolve/main/config.json');
    expect(last.authorization).toBe('Bearer hf_test');
  });

  it('reads metadata: downloads, likes, tags, safetensors parameters and size', async () => {
    const m = await client.modelInfo('Qwen/Qwen3-0.6B');
    expect(m.id).toBe('Qwen/Qwen3-0.6B');
    expect(m.downloads).toBe(1000 + 'Qwen/Qwen3-0.6B'.length);
    expect(m.likes).toBe(10 + 'Qwen/Qwen3-0.6B'.length);
    expect(m.tags).toContain('text-generation');
    expect(m.safetensors_total).toBe(FAKE_SAFETENSORS_TOTAL);
    expect(m.size_bytes).toBe(FAKE_SAFETENSORS_TOTAL * 2);
    expect(m.gated).toBe(false);
  });

  it('validate says yes for a real repo and why not otherwise', async () => {
    expect(await client.validate('mistralai/Mistral-7B-v0.1')).toEqual({
      valid: true,
      id: 'mistralai/Mistral-7B-v0.1',
      error: null,
    });
    const v = await client.validate('fault/missing');
    expect(v.valid).toBe(false);
    expect(v.error).toMatch(/not found/);
    expect((await client.validate('http://x.y/z')).error).toMatch(/not a Hugging Face repo id/);
  });

  it('maps faults to clear errors', async () => {
    expect((await hubError(client.config('fault/missing'))).status).toBe(404);
    const gated = await hubError(client.config('fault/gated'));
    expect(gated.status).toBe(403);
    expect(gated.code).toBe('gated');
    expect(gated.message).toMatch(/gated/);
    const e500 = await hubError(client.config('fault/error500'));
    expect(e500.status).toBe(502);
    expect(e500.message).toMatch(/HTTP 500/);
    const trunc = await hubError(client.config('fault/truncated'));
    expect(trunc.status).toBe(502);
    expect(trunc.message).toMatch(/malformed or truncated JSON/);
    expect((await hubError(client.config('fault/notobject'))).code).toBe('malformed');
  });

  it('times out a slow hub with a 504 after its retries', async () => {
    const t0 = Date.now();
    const e = await hubError(client.config('fault/slow'));
    expect(e.status).toBe(504);
    expect(e.code).toBe('timeout');
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  it('retries a transient 503', async () => {
    const before = hub.requests.filter((r) => r.path.includes('fault/flaky/resolve')).length;
    const c = await client.config('fault/flaky');
    expect(c['model_type']).toBe('llama');
    expect(hub.requests.filter((r) => r.path.includes('fault/flaky/resolve')).length - before).toBe(2);
  });

  it('reports an unreachable endpoint as 502', async () => {
    const dead = new HubClient({ endpoint: 'http://127.0.0.1:9', timeoutMs: 300, retries: 0 });
    const e = await hubError(dead.config('org/name'));
    expect(e.status).toBe(502);
    expect(e.message).toMatch(/could not reach the Hub/);
  });

  it('honours HF_ENDPOINT and HF_TOKEN', () => {
    const saved = { e: process.env['HF_ENDPOINT'], t: process.env['HF_TOKEN'] };
    process.env['HF_ENDPOINT'] = 'http://127.0.0.1:1/';
    process.env['HF_TOKEN'] = 'hf_env';
    try {
      const c = new HubClient();
      expect(c.endpoint).toBe('http://127.0.0.1:1');
    } finally {
      if (saved.e === undefined) delete process.env['HF_ENDPOINT'];
      else process.env['HF_ENDPOINT'] = saved.e;
      if (saved.t === undefined) delete process.env['HF_TOKEN'];
      else process.env['HF_TOKEN'] = saved.t;
    }
  });
});
