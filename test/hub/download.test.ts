/**
 * Checkpoint downloads for the engine from the fake Hub: the files the engine needs, byte for byte, progress that
 * adds up, a cache that is reused without the Hub, clear errors, and nothing left behind by a failed download.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { downloadModel, type DownloadProgress } from '../../src/hub/download.js';
import { HubClient } from '../../src/hub/index.js';
import { engineModelDir } from '../../src/server/engine-model.js';
import { serve } from '../../src/server/main.js';
import { startFakeHub, type FakeHub, hubError } from './fake-hub.js';

let hub: FakeHub;
let client: HubClient;
let cache: string;
const KJV = join(__dirname, '..', '..', 'models', 'kjv-llama-tiny');
const SHARDED = join(__dirname, '..', 'engine', 'fixtures', 'mistral-sharded');

beforeAll(async () => {
  hub = await startFakeHub();
  client = new HubClient({ endpoint: hub.url, timeoutMs: 2000, retries: 1, backoffMs: 10 });
});
afterAll(async () => {
  await hub.close();
});
beforeEach(() => {
  cache = mkdtempSync(join(tmpdir(), 'infersim-cache-'));
  return () => rmSync(cache, { recursive: true, force: true });
});

/** Everything under the cache folder, hidden entries included. */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

describe('downloadModel', () => {
  it('fetches config, tokenizer and weights byte for byte, with progress up to the total', async () => {
    const seen: DownloadProgress[] = [];
    const r = await downloadModel(client, 'test-org/kjv-tiny', {
      cacheDir: cache,
      onProgress: (p) => seen.push(p),
    });
    expect(r.cached).toBe(false);
    expect(r.dir).toBe(join(cache, 'test-org--kjv-tiny', 'main'));
    // README.md and training.json are in the repo but the engine does not need them.
    expect([...r.files].sort()).toEqual([
      'config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    let expected = 0;
    for (const f of r.files) {
      const want = readFileSync(join(KJV, f));
      expect(readFileSync(join(r.dir, f)).equals(want), f).toBe(true);
      expected += want.byteLength;
    }
    expect(r.bytes).toBe(expected);
    const last = seen[seen.length - 1]!;
    expect(last.receivedBytes).toBe(expected);
    expect(last.totalBytes).toBe(expected);
    for (let i = 1; i < seen.length; i++)
      expect(seen[i]!.receivedBytes).toBeGreaterThanOrEqual(seen[i - 1]!.receivedBytes);

    // The engine runs the downloaded checkpoint.
    const engine = await Engine.load(r.dir, { threads: 1, maxModelLen: 64 });
    try {
      const g = await engine.generate('And God said', { maxTokens: 5, temperature: 0 });
      expect(g.completionTokens).toBeGreaterThan(0);
    } finally {
      await engine.close();
    }
  });

  it('a second download is served from the cache without asking the Hub', async () => {
    await downloadModel(client, 'test-org/kjv-tiny', { cacheDir: cache });
    const before = hub.requests.length;
    const again = await downloadModel(client, 'test-org/kjv-tiny', { cacheDir: cache });
    expect(again.cached).toBe(true);
    expect(hub.requests.length).toBe(before);
    // Nor with the Hub gone: the cache is enough offline.
    const offline = new HubClient({ endpoint: 'http://127.0.0.1:9', timeoutMs: 200, retries: 0 });
    expect((await downloadModel(offline, 'test-org/kjv-tiny', { cacheDir: cache })).cached).toBe(true);
  });

  it('a sharded checkpoint: the index and every shard it names', async () => {
    const r = await downloadModel(client, 'test-org/sharded', { cacheDir: cache });
    expect(r.files).toEqual(
      expect.arrayContaining([
        'model.safetensors.index.json',
        'model-00001-of-00002.safetensors',
        'model-00002-of-00002.safetensors',
      ]),
    );
    for (const f of ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'])
      expect(readFileSync(join(r.dir, f)).equals(readFileSync(join(SHARDED, f)))).toBe(true);
  });

  it('errors name the problem and leave nothing in the cache', async () => {
    const noWeights = await hubError(downloadModel(client, 'test-org/bin-only', { cacheDir: cache }));
    expect(noWeights.status).toBe(404);
    expect(noWeights.message).toMatch(/no safetensors weights/);
    const gated = await hubError(downloadModel(client, 'fault/gated', { cacheDir: cache }));
    expect(gated.status).toBe(403);
    expect(gated.message).toMatch(/HF_TOKEN/);
    const missing = await hubError(downloadModel(client, 'fault/missing', { cacheDir: cache }));
    expect(missing.status).toBe(404);
    const broken = await hubError(downloadModel(client, 'fault/brokenweights', { cacheDir: cache }));
    expect(broken.status).toBe(502);
    expect(broken.message).toMatch(/HTTP 500/);
    const cut = await hubError(downloadModel(client, 'fault/cutweights', { cacheDir: cache }));
    expect(cut.status).toBe(502);
    expect(cut.message).toMatch(/model\.safetensors/);
    const bad = await hubError(downloadModel(client, 'https://example.com/x/y', { cacheDir: cache }));
    expect(bad.status).toBe(422);
    // No model folder, no partial download: only the empty org folders may remain.
    for (const entry of tree(cache)) expect(entry).not.toMatch(/partial|\.safetensors|config\.json/);
  });
});

describe('the engine serves a Hub model: infersim serve --model <repo>', () => {
  it('a directory is used as it is; a repo id is downloaded into the cache; anything else is a clear error', async () => {
    const lines: string[] = [];
    const out = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
    expect(await engineModelDir(KJV, { out })).toEqual({ dir: KJV, name: undefined });
    const hubModel = await engineModelDir('test-org/kjv-tiny', { client, cacheDir: cache, out });
    expect(hubModel).toEqual({ dir: join(cache, 'test-org--kjv-tiny', 'main'), name: 'test-org/kjv-tiny' });
    expect(lines.join('')).toMatch(/downloading test-org\/kjv-tiny: model\.safetensors/);
    await expect(engineModelDir(join(cache, 'nothing', 'here', 'x..y'), { out })).rejects.toThrow(
      /neither a checkpoint directory nor a Hugging Face repo id/,
    );
    await expect(engineModelDir(cache, { out })).rejects.toThrow(/no config\.json/);
  });

  it('serve({ model }) downloads from HF_ENDPOINT and generates', async () => {
    const set = {
      HF_ENDPOINT: hub.url,
      INFERSIM_CACHE_DIR: cache,
      INFERSIM_DATA_DIR: cache,
      LOG_LEVEL: 'silent',
    };
    const saved = Object.fromEntries(Object.keys(set).map((k) => [k, process.env[k]]));
    Object.assign(process.env, set);
    const stdout = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    let server: Awaited<ReturnType<typeof serve>> | null = null;
    try {
      server = await serve({ port: 0, logger: false, model: 'test-org/kjv-tiny' });
      const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { id: string }[] };
      expect(models.data.map((m) => m.id)).toEqual(['test-org/kjv-tiny']);
      const r = await fetch(`${server.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: 'And God said', max_tokens: 4, temperature: 0 }),
      });
      expect(r.status).toBe(200);
      const j = (await r.json()) as { usage: { completion_tokens: number } };
      expect(j.usage.completion_tokens).toBeGreaterThan(0);
    } finally {
      process.stdout.write = stdout;
      await server?.close();
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });
});
