/**
 * The Hub client's redirects and timeouts (issue 15, case 6) against the fake Hub: redirects only to the Hub's own
 * host or configured ones, at most 5, the token never sent off-origin, and timeout messages that say how many
 * attempts and how long in all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubClient, MAX_REDIRECTS } from '../../src/hub/index.js';
import { hubError, startFakeHub, type FakeHub } from './fake-hub.js';

let hub: FakeHub;
beforeAll(async () => {
  hub = await startFakeHub();
});
afterAll(() => hub?.close());

const seen = (fragment: string) => hub.requests.filter((r) => r.path.includes(fragment));

describe('redirects', () => {
  it('follows one on the Hub’s own host, token included', async () => {
    const c = new HubClient({ endpoint: hub.url, token: 'hf_secret', timeoutMs: 2000, retries: 0 });
    const cfg = await c.config('fault/redirect-same');
    expect(cfg['model_type']).toBe('llama');
    const followed = seen('/test-org/llama-copy/resolve/main/config.json').at(-1)!;
    expect(followed.authorization).toBe('Bearer hf_secret');
  });

  it('refuses one to another host: nothing is fetched there', async () => {
    const c = new HubClient({ endpoint: hub.url, token: 'hf_secret', timeoutMs: 2000, retries: 2 });
    const before = hub.requests.length;
    const e = await hubError(c.config('fault/redirect-offsite'));
    expect(e.status).toBe(502);
    expect(e.code).toBe('redirect');
    expect(e.message).toMatch(/localhost, which is not an allowed host/);
    // One request (the redirecting one), no retry, nothing at the other host.
    expect(hub.requests.length - before).toBe(1);
  });

  it('follows one to an allowed CDN host without the token', async () => {
    const c = new HubClient({
      endpoint: hub.url,
      token: 'hf_secret',
      timeoutMs: 2000,
      retries: 0,
      redirectHosts: ['localhost'],
    });
    const before = hub.requests.length;
    const cfg = await c.config('fault/redirect-offsite');
    expect(cfg['model_type']).toBe('llama');
    const mine = hub.requests.slice(before);
    expect(mine).toHaveLength(2);
    expect(mine[0]!.authorization).toBe('Bearer hf_secret');
    expect(mine[1]!.authorization).toBeUndefined();
  });

  it(`stops a loop after ${MAX_REDIRECTS} redirects (6 requests, not 63)`, async () => {
    const c = new HubClient({ endpoint: hub.url, timeoutMs: 2000, retries: 2 });
    const before = seen('fault/redirect-loop').length;
    const e = await hubError(c.modelInfo('fault/redirect-loop'));
    expect(e.message).toMatch(/more than 5 times/);
    expect(seen('fault/redirect-loop').length - before).toBe(MAX_REDIRECTS + 1);
  });
});

describe('timeouts', () => {
  it('say the attempts and the whole time taken', async () => {
    const c = new HubClient({ endpoint: hub.url, timeoutMs: 200, retries: 2, backoffMs: 50 });
    const t0 = performance.now();
    const e = await hubError(c.config('fault/slow'));
    const took = (performance.now() - t0) / 1000;
    expect(e.status).toBe(504);
    // 3 attempts of 200 ms plus 50 + 100 ms of backoff: at least 0.75 s.
    const m = /within 200 ms \(3 attempts, ([\d.]+) s in all\)/.exec(e.message);
    expect(m, e.message).not.toBeNull();
    const said = Number(m![1]);
    expect(said).toBeGreaterThanOrEqual(0.7);
    expect(Math.abs(said - took)).toBeLessThan(0.5);
  });
});
