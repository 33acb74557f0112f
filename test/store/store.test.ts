/**
 * The store against both dialects: SQLite (a temp file) and a real PostgreSQL started by the test itself. The same
 * suite runs on each; PostgreSQL adds two server processes importing the same models at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { openStore, type NewModel, type Store } from '../../src/store/index.js';
import { referenceConfig } from '../helpers.js';
import { startFakeHub, type FakeHub } from '../hub/fake-hub.js';
import { startPostgres, type TestPostgres } from './postgres.js';

function model(id: string, over: Partial<NewModel> = {}): NewModel {
  return {
    id,
    name: id.split('/').pop()!,
    author: id.includes('/') ? id.split('/')[0]! : null,
    origin: 'config',
    config: { model_type: 'llama', hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4 },
    metadata: { downloads: 5 },
    model_type: 'decoder-only',
    attention_type: 'mha',
    parameter_count: 1_000_000,
    tags: ['llama', 'Text-Generation'],
    ...over,
  };
}

let pgServer: TestPostgres;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'infersim-store-'));
  pgServer = await startPostgres();
}, 90_000);

afterAll(() => {
  pgServer?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** A fresh, empty database of the dialect. */
let dbSeq = 0;
async function freshStore(dialect: 'sqlite' | 'postgres'): Promise<Store> {
  dbSeq++;
  if (dialect === 'sqlite') return openStore({ sqlitePath: join(tmp, `t${dbSeq}.db`) });
  const name = `t${dbSeq}_${process.pid}`;
  const c = new pg.Client({ connectionString: pgServer.url });
  await c.connect();
  await c.query(`create database ${name}`);
  await c.end();
  return openStore({ databaseUrl: pgServer.url.replace(/\/postgres$/, `/${name}`) });
}

describe.each(['sqlite', 'postgres'] as const)('store on %s', (dialect) => {
  let store: Store;
  beforeAll(async () => {
    store = await freshStore(dialect);
  });
  afterAll(() => store?.close());

  it('applies every versioned migration once', async () => {
    expect(store.dialect).toBe(dialect);
    expect(await store.appliedMigrations()).toEqual(Object.keys(MIGRATIONS).sort());
    await store.migrate();
    expect(await store.appliedMigrations()).toEqual(Object.keys(MIGRATIONS).sort());
  });

  it('imports idempotently: created, then already_existed; a different config is a conflict', async () => {
    const a = await store.importModel(model('org/alpha'));
    expect(a.status).toBe('created');
    expect(a.model.tags).toEqual(['llama', 'text-generation']);
    expect(a.model.parameter_count).toBe(1_000_000);
    const again = await store.importModel(model('org/alpha'));
    expect(again.status).toBe('already_existed');
    const caseOnly = await store.importModel(model('ORG/Alpha'));
    expect(caseOnly.status).toBe('already_existed');
    expect(caseOnly.model.id).toBe('org/alpha');
    const other = await store.importModel(model('org/alpha', { config: { model_type: 'gpt2' } }));
    expect(other.status).toBe('conflict');
    expect((await store.getModel('org/alpha'))!.config['model_type']).toBe('llama');
  });

  it('round-trips a real config exactly (large integers included)', async () => {
    const config = referenceConfig('deepseek-ai__DeepSeek-V3.json');
    await store.importModel(model('deepseek-ai/DeepSeek-V3', { config, parameter_count: 671_026_419_200 }));
    const m = (await store.getModel('deepseek-ai/deepseek-v3'))!;
    expect(m.config).toEqual(config);
    expect(m.parameter_count).toBe(671_026_419_200);
  });

  it('filters by author, parameter range and tags in the query layer', async () => {
    await store.importModel(model('acme/small', { parameter_count: 10, tags: ['tiny'] }));
    await store.importModel(model('acme/big', { parameter_count: 10_000_000_000, tags: ['huge', 'llama'] }));
    const ids = async (q: Parameters<Store['listModels']>[0]) => (await store.listModels(q)).map((m) => m.id);
    expect(await ids({ author: 'ACME' })).toEqual(['acme/big', 'acme/small']);
    expect(await ids({ author: 'acme', minParameters: 100 })).toEqual(['acme/big']);
    expect(await ids({ maxParameters: 100 })).toEqual(['acme/small']);
    expect(await ids({ tags: ['llama', 'HUGE'] })).toEqual(['acme/big']);
    expect(await ids({ tags: ['nothing'] })).toEqual([]);
  });

  it('never leaves a half-written model: a failing tag rolls the row back', async () => {
    await expect(store.importModel(model('org/broken', { tags: ['ok', 'x'.repeat(300)] }))).rejects.toThrow();
    expect(await store.getModel('org/broken')).toBeNull();
    const n = await store.db
      .selectFrom('model_tags')
      .selectAll()
      .where('model_key', '=', 'org/broken')
      .execute();
    expect(n).toEqual([]);
  });

  it('concurrent imports of one id: exactly one is created, none fails', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => store.importModel(model('race/one'))));
    expect(results.filter((r) => r.status === 'created')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'already_existed')).toHaveLength(19);
  });

  it('caches results by key and prunes the oldest beyond its size', async () => {
    expect(await store.cacheGet('k1')).toBeNull();
    await store.cacheSet('k1', 'models.calculate', '{"a":1}');
    await store.cacheSet('k1', 'models.calculate', '{"a":2}');
    expect(await store.cacheGet('k1')).toBe('{"a":1}');
    const small = await freshStore(dialect);
    try {
      (small as unknown as { cacheRows: number }).cacheRows = 3;
      for (let i = 0; i < 6; i++) {
        await small.cacheSet(`key${i}`, 'e', String(i));
        await new Promise((r) => setTimeout(r, 2));
      }
      await small.pruneCache();
      expect(await small.cacheCount()).toBe(3);
      expect(await small.cacheGet('key5')).toBe('5');
      expect(await small.cacheGet('key0')).toBeNull();
    } finally {
      await small.close();
    }
  });
});

describe('sqlite default location', () => {
  it('creates infersim.db under INFERSIM_DATA_DIR in WAL mode', async () => {
    const dir = join(tmp, 'datadir');
    const saved = { d: process.env['INFERSIM_DATA_DIR'], u: process.env['DATABASE_URL'] };
    process.env['INFERSIM_DATA_DIR'] = dir;
    delete process.env['DATABASE_URL'];
    try {
      const s = await openStore();
      const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(s.db);
      expect(mode.rows[0]!.journal_mode).toBe('wal');
      expect(s.location).toBe(join(dir, 'infersim.db'));
      await s.close();
      expect(existsSync(join(dir, 'infersim.db'))).toBe(true);
    } finally {
      if (saved.d === undefined) delete process.env['INFERSIM_DATA_DIR'];
      else process.env['INFERSIM_DATA_DIR'] = saved.d;
      if (saved.u !== undefined) process.env['DATABASE_URL'] = saved.u;
    }
  });
});

/** Starts `src/server/main.ts` in its own process; resolves with its URL once it listens. */
function startServer(env: Record<string, string>): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 90_000);
    proc.once('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        const j = JSON.parse(line) as { listening?: string };
        if (j.listening) {
          clearTimeout(timer);
          resolve({ url: j.listening, proc });
        }
      } catch {
        // not the start line
      }
    });
  });
}

describe('two server processes on one PostgreSQL', () => {
  let hub: FakeHub;
  const procs: ChildProcess[] = [];
  afterAll(async () => {
    for (const p of procs) p.kill('SIGTERM');
    await hub?.close();
  });

  it('import the same models concurrently: no duplicates, no errors', async () => {
    hub = await startFakeHub();
    const db = `two_servers_${process.pid}`;
    const c = new pg.Client({ connectionString: pgServer.url });
    await c.connect();
    await c.query(`create database ${db}`);
    await c.end();
    const env = { DATABASE_URL: pgServer.url.replace(/\/postgres$/, `/${db}`), HF_ENDPOINT: hub.url };
    // Both start (and migrate) at the same time.
    const servers = await Promise.all([startServer(env), startServer(env)]);
    procs.push(...servers.map((s) => s.proc));

    const hfIds = ['meta-llama/Llama-3.1-8B', 'test-org/llama-copy', 'mistralai/Mixtral-8x7B-v0.1'];
    const configIds = Array.from({ length: 6 }, (_, i) => `team/custom-${i}`);
    const llama = referenceConfig('meta-llama__Llama-3.2-1B-Instruct.json');
    const post = async (base: string, path: string, body: unknown) => {
      const r = await fetch(base + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: r.status, body: (await r.json()) as { already_existed?: boolean; detail?: string } };
    };
    const calls: Promise<{
      id: string;
      status: number;
      body: { already_existed?: boolean; detail?: string };
    }>[] = [];
    for (let round = 0; round < 3; round++) {
      for (const s of servers) {
        for (const id of configIds)
          calls.push(
            post(s.url, '/api/models/add/config', { model_id: id, config: llama }).then((r) => ({
              id,
              ...r,
            })),
          );
        for (const id of hfIds)
          calls.push(
            post(s.url, '/api/models/add/huggingface', { model_uri: id }).then((r) => ({ id, ...r })),
          );
      }
    }
    const results = await Promise.all(calls);
    for (const r of results) expect(r.status, `${r.id}: ${JSON.stringify(r.body)}`).toBe(200);
    for (const id of [...configIds, ...hfIds]) {
      const mine = results.filter((r) => r.id === id);
      expect(
        mine.filter((r) => r.body.already_existed === false),
        id,
      ).toHaveLength(1);
    }
    const check = new pg.Client({ connectionString: env.DATABASE_URL });
    await check.connect();
    const rows = await check.query('select key, count(*)::int as n from models group by key');
    await check.end();
    expect(rows.rows).toHaveLength(configIds.length + 3);
    for (const r of rows.rows as { n: number }[]) expect(r.n).toBe(1);
    // Each server sees the other's imports.
    const list = (await (await fetch(`${servers[1]!.url}/api/models/list`)).json()) as {
      database_count: number;
    };
    expect(list.database_count).toBe(configIds.length + 3);
  }, 180_000);
});
