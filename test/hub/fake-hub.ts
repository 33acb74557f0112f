/**
 * A local fake of the Hugging Face Hub on 127.0.0.1: the real configs of ../shared/reference/models/ under their
 * repo ids, model info in the Hub API's shape, and fault modes under the org `fault`:
 * slow (answers after 3 s), error500 (always 500), flaky (503 once, then fine), gated (401 GatedRepo),
 * missing (404 RepoNotFound), truncated (config.json cut in half), notobject (config.json is an array),
 * badconfig (a config without its sizes), hugelayers (10^9 layers), longauthor (an author of 300 characters),
 * bigcounts (sizes of 10^12: a parameter count beyond exact integers), redirect-same (302 to
 * test-org/llama-copy on this host), redirect-offsite (302 to the same files under the host name `localhost`),
 * redirect-loop (302 to itself). `distilgpt2` (a legacy id) serves GPT-2's config with 6 layers, and
 * `test-org/llama-copy` Llama-2-7B's config under an id the catalog does not have (`test-org/novel-arch` the same
 * with an unknown model_type; `HuggingFaceH4/zephyr-7b-beta` Mistral-7B's).
 * Whole checkpoints for downloads (file list at /api/models/{id}/revision/main, files at /{id}/resolve/main/{f}):
 * `test-org/kjv-tiny` (the shipped model), `test-org/sharded` (a two-shard fixture), `test-org/bin-only` (no
 * safetensors), `fault/brokenweights` (its weights answer 500), `fault/cutweights` (the weights stop halfway).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { HubError } from '../../src/hub/index.js';
import { REFERENCE } from '../helpers.js';

export interface FakeHub {
  url: string;
  /** Requests seen: path and authorization header. */
  requests: { path: string; authorization: string | undefined }[];
  /** Repo ids it serves (real configs). */
  ids: string[];
  close: () => Promise<void>;
}

export const FAKE_SAFETENSORS_TOTAL = 123_456_789;

function loadConfigs(): Map<string, Record<string, unknown>> {
  const dir = join(REFERENCE, 'models');
  const sources = JSON.parse(readFileSync(join(dir, '_sources.json'), 'utf8')) as Record<
    string,
    { hf_repo?: string }
  >;
  const out = new Map<string, Record<string, unknown>>();
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json') || f.startsWith('_')) continue;
    const base = f.slice(0, -5);
    const id = sources[base]?.hf_repo ?? base.replace('__', '/');
    out.set(id.toLowerCase(), { id, ...JSON.parse(readFileSync(join(dir, f), 'utf8')) });
  }
  const gpt2 = out.get('openai-community/gpt2');
  if (gpt2) out.set('distilgpt2', { ...gpt2, id: 'distilgpt2', n_layer: 6 });
  // A repo only the Hub has (not in infersim's catalog).
  const llama = out.get('meta-llama/llama-2-7b-hf');
  if (llama) out.set('test-org/llama-copy', { ...llama, id: 'test-org/llama-copy' });
  // A Llama config under a model_type no adapter knows (read as llama, with a warning).
  if (llama)
    out.set('test-org/novel-arch', { ...llama, id: 'test-org/novel-arch', model_type: 'novel_arch' });
  // Zephyr-7B-beta is a Mistral-7B fine-tune: its config.json is Mistral-7B-v0.1's.
  const mistral = out.get('mistralai/mistral-7b-v0.1');
  if (mistral) out.set('huggingfaceh4/zephyr-7b-beta', { ...mistral, id: 'HuggingFaceH4/zephyr-7b-beta' });
  return out;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KJV = join(ROOT, 'models', 'kjv-llama-tiny');
const SHARDED = join(ROOT, 'test', 'engine', 'fixtures', 'mistral-sharded');

/** Repos served file by file: name -> where the file's bytes come from. */
function fileRepos(): Map<string, Map<string, string | Buffer>> {
  const dirFiles = (dir: string, skip: (f: string) => boolean = () => false) =>
    new Map<string, string | Buffer>(
      readdirSync(dir)
        .filter((f) => !skip(f))
        .map((f) => [f, join(dir, f)]),
    );
  const kjv = dirFiles(KJV);
  const sharded = dirFiles(SHARDED, (f) => f === 'golden.json');
  sharded.set('tokenizer.json', join(KJV, 'tokenizer.json'));
  const binOnly = new Map<string, string | Buffer>([
    ['config.json', join(KJV, 'config.json')],
    ['tokenizer.json', join(KJV, 'tokenizer.json')],
    ['pytorch_model.bin', Buffer.alloc(64)],
  ]);
  return new Map([
    ['test-org/kjv-tiny', kjv],
    ['test-org/sharded', sharded],
    ['test-org/bin-only', binOnly],
    ['fault/brokenweights', kjv],
    ['fault/cutweights', kjv],
  ]);
}

export async function startFakeHub(): Promise<FakeHub> {
  const configs = loadConfigs();
  const requests: FakeHub['requests'] = [];
  const seen = new Map<string, number>();
  const repos = fileRepos();
  const server: Server = createServer((req: IncomingMessage, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    requests.push({ path, authorization: req.headers.authorization });
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(body);
    };
    const listing = /^\/api\/models\/(.+)\/revision\/main$/.exec(path);
    const file = /^\/(.+)\/resolve\/main\/([^/]+)$/.exec(path);
    const files = repos.get((listing?.[1] ?? file?.[1] ?? '').toLowerCase());
    const bytes = (f: string) => {
      const src = files!.get(f)!;
      return typeof src === 'string' ? readFileSync(src) : src;
    };
    if (files && listing)
      return send(
        200,
        JSON.stringify({
          id: listing[1],
          siblings: [...files.keys()].map((f) => ({ rfilename: f, size: bytes(f).byteLength })),
        }),
      );
    if (files && file) {
      const name = file[2]!;
      if (!files.has(name))
        return send(404, '{"error":"Entry not found"}', { 'x-error-code': 'EntryNotFound' });
      const body = bytes(name);
      const weights = name.endsWith('.safetensors');
      if (weights && file[1] === 'fault/brokenweights') return send(500, '{"error":"internal"}');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.byteLength });
      if (weights && file[1] === 'fault/cutweights') {
        res.write(body.subarray(0, body.byteLength >> 1));
        setTimeout(() => res.destroy(), 20).unref();
        return;
      }
      return void res.end(body);
    }
    const info = /^\/api\/models\/(.+)$/.exec(path);
    const cfg = /^\/(.+)\/resolve\/main\/config\.json$/.exec(path);
    const repo = (info?.[1] ?? cfg?.[1] ?? '').toLowerCase();
    const n = (seen.get(path) ?? 0) + 1;
    seen.set(path, n);
    if (!repo) return send(404, '{"error":"not found"}');
    if (repo.startsWith('fault/')) {
      const mode = repo.slice('fault/'.length).split('/')[0]!;
      const port = (server.address() as AddressInfo).port;
      const target = info
        ? '/api/models/test-org/llama-copy'
        : '/test-org/llama-copy/resolve/main/config.json';
      if (mode === 'redirect-same') return send(302, '', { location: target });
      if (mode === 'redirect-offsite')
        return send(302, '', { location: `http://localhost:${port}${target}` });
      if (mode === 'redirect-loop') return send(302, '', { location: req.url ?? '/' });
      if (mode === 'slow') {
        setTimeout(() => send(200, '{}'), 3000).unref();
        return;
      }
      if (mode === 'error500') return send(500, '{"error":"internal"}');
      if (mode === 'flaky' && n === 1) return send(503, '{"error":"unavailable"}');
      if (mode === 'gated')
        return send(401, '{"error":"Access to model fault/gated is restricted."}', {
          'x-error-code': 'GatedRepo',
        });
      if (mode === 'missing')
        return send(404, '{"error":"Repository not found"}', { 'x-error-code': 'RepoNotFound' });
      if (info && mode === 'longauthor')
        return send(
          200,
          JSON.stringify({ id: `fault/${mode}`, author: 'a'.repeat(300), downloads: 1, tags: [] }),
        );
      if (info) return send(200, JSON.stringify({ id: `fault/${mode}`, downloads: 1, likes: 0, tags: [] }));
      const llama = configs.get('meta-llama/llama-2-7b-hf')!;
      if (mode === 'truncated') return send(200, JSON.stringify(llama).slice(0, 200));
      if (mode === 'notobject') return send(200, '[1, 2, 3]');
      if (mode === 'badconfig') return send(200, JSON.stringify({ model_type: 'llama' }));
      if (mode === 'hugelayers') return send(200, JSON.stringify({ ...llama, num_hidden_layers: 1e9 }));
      if (mode === 'flaky' || mode === 'longauthor') return send(200, JSON.stringify(llama));
      if (mode === 'bigcounts')
        return send(
          200,
          JSON.stringify({
            ...llama,
            hidden_size: 1e12,
            intermediate_size: 1e12,
            vocab_size: 1e12,
            num_hidden_layers: 1000,
          }),
        );
      return send(404, '{"error":"Repository not found"}', { 'x-error-code': 'RepoNotFound' });
    }
    const config = configs.get(repo);
    if (!config) return send(404, '{"error":"Repository not found"}', { 'x-error-code': 'RepoNotFound' });
    const { id, ...body } = config;
    if (info) {
      return send(
        200,
        JSON.stringify({
          id,
          author: String(id).includes('/') ? String(id).split('/')[0] : undefined,
          downloads: 1000 + String(id).length,
          likes: 10 + String(id).length,
          tags: ['transformers', 'safetensors', 'text-generation', String(body['model_type'] ?? '')],
          pipeline_tag: 'text-generation',
          library_name: 'transformers',
          gated: false,
          safetensors: { parameters: { BF16: FAKE_SAFETENSORS_TOTAL }, total: FAKE_SAFETENSORS_TOTAL },
          lastModified: '2024-01-01T00:00:00.000Z',
        }),
      );
    }
    return send(200, JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    ids: [...configs.values()].map((c) => String(c['id'])),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The HubError `p` rejects with (the test fails if it resolves or rejects with anything else). */
export async function hubError(p: Promise<unknown>): Promise<HubError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(HubError);
    return e as HubError;
  }
  throw new Error('expected a HubError');
}
