/**
 * Storage parity (issue 15, case 3): the same requests, over a real listening server, on SQLite and on a real
 * PostgreSQL, answer the same status. NUL bytes are refused at the edge with 422; numbers beyond the exact integer
 * range and text longer than the columns hold are 422 naming the field, never a PostgreSQL 500.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubClient } from '../../src/hub/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { startFakeHub, type FakeHub } from '../hub/fake-hub.js';
import { serveApp, type Served } from '../server/listen.js';
import { startPostgres, type TestPostgres } from './postgres.js';

const LLAMA = {
  model_type: 'llama',
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  vocab_size: 1000,
  max_position_embeddings: 512,
};

interface Case {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  status: number;
  /** The field the error must name. */
  field?: string;
}

/** Expected statuses by the error contract (errors.ts): 422, 400 on api-memory-calculator.md's routes. */
const CASES: Case[] = [
  { name: 'NUL in a path id', method: 'GET', path: '/models/x%00y', status: 422, field: 'url' },
  {
    name: 'NUL in a config path',
    method: 'GET',
    path: '/api/models/x%00y/config',
    status: 422,
    field: 'url',
  },
  { name: 'NUL in a query', method: 'GET', path: '/api/layers?model_id=x%00y', status: 422, field: 'url' },
  {
    name: 'NUL in a body id',
    method: 'POST',
    path: '/api/models/calculate',
    body: { model_id: 'x\u0000y' },
    status: 422,
    field: 'model_id',
  },
  {
    name: 'NUL in a body id (400 route)',
    method: 'POST',
    path: '/api/memory/inference',
    body: { model_name: 'x\u0000y' },
    status: 400,
    field: 'model_name',
  },
  {
    name: 'NUL in a metadata key',
    method: 'POST',
    path: '/api/models/add/config',
    body: { model_id: 'p/nulkey', config: LLAMA, metadata: { 'a\u0000': 1 } },
    status: 422,
    field: 'metadata.a',
  },
  {
    name: 'an integer beyond 2^53',
    method: 'POST',
    path: '/api/models/add/config',
    body: { model_id: 'p/huge-vocab', config: { ...LLAMA, vocab_size: 1e17 } },
    status: 422,
    field: 'config.vocab_size',
  },
  {
    name: 'counts whose parameter total overflows bigint',
    method: 'POST',
    path: '/api/models/add/config',
    body: {
      model_id: 'p/overflow',
      config: {
        ...LLAMA,
        hidden_size: 1e12,
        intermediate_size: 1e12,
        vocab_size: 1e12,
        num_hidden_layers: 1000,
      },
    },
    status: 422,
    field: 'parameter_count',
  },
  {
    name: 'a Hub config whose parameter total overflows bigint',
    method: 'POST',
    path: '/api/models/add/huggingface',
    body: { model_uri: 'fault/bigcounts' },
    status: 422,
    field: 'parameter_count',
  },
  {
    name: 'a Hub author over 200 characters',
    method: 'POST',
    path: '/api/models/add/huggingface',
    body: { model_uri: 'fault/longauthor' },
    status: 422,
    field: 'author',
  },
  {
    name: 'an id over 200 characters',
    method: 'POST',
    path: '/api/models/add/config',
    body: { model_id: 'a'.repeat(201), config: LLAMA },
    status: 422,
    field: 'model_id',
  },
  {
    name: 'a valid import',
    method: 'POST',
    path: '/api/models/add/config',
    body: { model_id: 'p/ok', config: LLAMA, metadata: { downloads: 5 } },
    status: 200,
  },
  { name: 'the list after it', method: 'GET', path: '/api/models/list', status: 200 },
  { name: 'the imported model', method: 'GET', path: '/api/models/p/ok/config', status: 200 },
];

let pgServer: TestPostgres;
let hub: FakeHub;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'infersim-parity-'));
  hub = await startFakeHub();
  pgServer = await startPostgres();
}, 90_000);

afterAll(async () => {
  await hub?.close();
  pgServer?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function storeOf(dialect: 'sqlite' | 'postgres'): Promise<Store> {
  if (dialect === 'sqlite') return openStore({ sqlitePath: join(tmp, 'parity.db') });
  const c = new pg.Client({ connectionString: pgServer.url });
  await c.connect();
  await c.query(`create database parity_${process.pid}`);
  await c.end();
  return openStore({ databaseUrl: pgServer.url.replace(/\/postgres$/, `/parity_${process.pid}`) });
}

const statuses: Record<string, Record<string, number>> = { sqlite: {}, postgres: {} };

describe.each(['sqlite', 'postgres'] as const)('edge and store limits on %s', (dialect) => {
  let s: Served;
  let store: Store;
  beforeAll(async () => {
    store = await storeOf(dialect);
    s = await serveApp({ store, hub: new HubClient({ endpoint: hub.url, timeoutMs: 2000, retries: 0 }) });
  }, 30_000);
  afterAll(async () => {
    await s?.app.close();
    await store?.close();
  });

  it.each(CASES)('$name: $status', async (c) => {
    const r = await s.send(c.method, c.path, c.body);
    statuses[dialect]![c.name] = r.status;
    expect(r.status, r.text.slice(0, 300)).toBe(c.status);
    if (r.status >= 400) {
      expect(r.json.detail).toBe(r.json.error);
      if (c.field) expect(r.json.detail).toContain(c.field);
    }
  });

  it('the stored row is the one valid import (nothing partial was written)', async () => {
    expect((await store.listSummaries()).map((m) => m.id)).toEqual(['p/ok']);
  });
});

describe('both stores', () => {
  it('answered every case with the same status', () => {
    expect(Object.keys(statuses['postgres']!)).toHaveLength(CASES.length);
    expect(statuses['postgres']).toEqual(statuses['sqlite']);
  });
});
