/**
 * The CLI takes a Hub repo id the catalog does not have: it fetches only config.json from HF_ENDPOINT with HF_TOKEN,
 * caches it in the download cache (INFERSIM_CACHE_DIR), reads it from there afterwards (offline too), and says
 * clearly, when the Hub cannot be reached, that a config.json path works too. All against the local fake Hub.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/index.js';
import { fetchConfig, readCachedConfig, statedContext } from '../../src/hub/config-cache.js';
import { HubClient } from '../../src/hub/index.js';
import { startFakeHub, type FakeHub } from './fake-hub.js';
import { referenceConfig } from '../helpers.js';

let hub: FakeHub;
let cache: string;
const saved: Record<string, string | undefined> = {};
const ENV = ['HF_ENDPOINT', 'HF_TOKEN', 'INFERSIM_CACHE_DIR', 'HF_HUB_OFFLINE'] as const;

beforeAll(async () => {
  hub = await startFakeHub();
});
afterAll(() => hub.close());

beforeEach(() => {
  cache = mkdtempSync(join(tmpdir(), 'infersim-cli-config-'));
  for (const k of ENV) saved[k] = process.env[k];
  process.env['HF_ENDPOINT'] = hub.url;
  process.env['HF_TOKEN'] = 'hf_cli_test';
  process.env['INFERSIM_CACHE_DIR'] = cache;
  delete process.env['HF_HUB_OFFLINE'];
  hub.requests.length = 0;
});
afterEach(() => {
  for (const k of ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  rmSync(cache, { recursive: true, force: true });
});

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    return { code: await main(argv), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

/** An endpoint nothing listens on: a port just given up by a server of this process. */
async function closedEndpoint(): Promise<string> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  await new Promise((ok) => server.close(ok));
  return `http://127.0.0.1:${port}`;
}

/** Llama-2-7B's parameters, as Meta's paper and the module count give them (the fake Hub's llama-copy serves its config). */
const LLAMA2_7B = 6_738_415_616;

describe('a repo id the catalog does not have', () => {
  it('is fetched once (config.json only, with the token), cached, and read from the cache afterwards', async () => {
    const first = await run('params', 'test-org/llama-copy', '--json');
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.out).total_parameters).toBe(LLAMA2_7B);
    expect(hub.requests.map((r) => r.path)).toEqual(['/test-org/llama-copy/resolve/main/config.json']);
    expect(hub.requests[0]!.authorization).toBe('Bearer hf_cli_test');
    const file = join(cache, 'test-org--llama-copy', 'main', 'config.json');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(referenceConfig('meta-llama__Llama-2-7b-hf.json'));

    // Later runs, offline ones included, ask nothing.
    process.env['HF_HUB_OFFLINE'] = '1';
    const again = await run('memory', 'test-org/llama-copy', '--precision', 'bf16', '--json');
    expect(again.code).toBe(0);
    expect(hub.requests).toHaveLength(1);
  });

  it('a huggingface.co URL names the same repo', async () => {
    const r = await run('params', `https://huggingface.co/test-org/llama-copy`, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).total_parameters).toBe(LLAMA2_7B);
  });

  it('catalog ids and config paths never ask the Hub', async () => {
    expect((await run('params', 'meta-llama/Llama-3.1-8B-Instruct', '--json')).code).toBe(0);
    expect((await run('params', 'qwen/qwen2.5-7b-instruct', '--json')).code).toBe(0);
    expect(hub.requests).toEqual([]);
  });

  it('offline: says so and that a config.json path works, exit 2', async () => {
    process.env['HF_ENDPOINT'] = await closedEndpoint();
    const r = await run('params', 'test-org/llama-copy');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/could not be fetched \(could not reach the Hub at http:\/\/127\.0\.0\.1:\d+/);
    expect(r.err).toMatch(/config\.json works too/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(cache, 'test-org--llama-copy'))).toBe(false);

    process.env['HF_HUB_OFFLINE'] = '1';
    const off = await run('params', 'test-org/llama-copy');
    expect(off.code).toBe(2);
    expect(off.err).toMatch(/HF_HUB_OFFLINE.*config\.json works too/);
  });

  it('a repo the Hub does not have, a gated one and a bad config are one-line errors, and nothing is cached', async () => {
    const missing = await run('params', 'fault/missing');
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/unknown model 'fault\/missing': not in the catalog.*not on the Hub/);

    const gated = await run('params', 'fault/gated');
    expect(gated.code).toBe(2);
    expect(gated.err).toMatch(/gated.*HF_TOKEN.*config\.json works too/);

    const bad = await run('params', 'fault/badconfig');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/config\.json of fault\/badconfig on the Hub: /);

    const huge = await run('params', 'fault/hugelayers');
    expect(huge.code).toBe(2);
    expect(huge.err).toMatch(/num_hidden_layers = 1000000000/);

    for (const r of [missing, gated, bad, huge]) expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(readCachedConfig('fault/badconfig', { cacheDir: cache })).toBeNull();
    expect(readCachedConfig('fault/hugelayers', { cacheDir: cache })).toBeNull();
  });
});

describe('config cache', () => {
  it('fetches tokenizer_config.json only when config.json states no context length', async () => {
    const client = new HubClient({ endpoint: hub.url, timeoutMs: 2000, retries: 0 });
    const r = await fetchConfig(client, 'test-org/kjv-tiny', { cacheDir: cache });
    expect(r.cached).toBe(false);
    expect(statedContext(r.config)).toBe(512);
    expect(hub.requests.map((q) => q.path)).toEqual(['/test-org/kjv-tiny/resolve/main/config.json']);
    expect((await fetchConfig(client, 'test-org/kjv-tiny', { cacheDir: cache })).cached).toBe(true);
    expect(hub.requests).toHaveLength(1);
  });

  it('reads the context length where configs state it', () => {
    expect(statedContext({ max_position_embeddings: 4096 })).toBe(4096);
    expect(statedContext({ n_positions: 1024 })).toBe(1024);
    expect(statedContext({ text_config: { max_position_embeddings: 131072 } })).toBe(131072);
    expect(statedContext({ hidden_size: 8 })).toBeNull();
  });
});
