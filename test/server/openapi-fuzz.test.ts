/**
 * Issue 15: every POST/PUT/PATCH route in /openapi.json documents its body, and a fuzz driven by that document
 * (valid, boundary and malformed requests for every operation, seeded) never gets a 5xx (bar upstream 502/504)
 * and gets `detail` and `error` in every error body, on SQLite and on PostgreSQL, each request with the same
 * status on both. FUZZ_OPENAPI_REQUESTS sets the requests per store (default 2,000); FUZZ_OPENAPI_SEED the seed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { HubClient } from '../../src/hub/index.js';
import { buildApp } from '../../src/server/app.js';
import type { App, RouteModule } from '../../src/server/context.js';
import { registerEngineRoutes } from '../../src/server/routes/engine.js';
import { registerOpenAiRoutes } from '../../src/server/routes/openai.js';
import { openStore, type Store } from '../../src/store/index.js';
import { MODEL_DIR } from '../engine/helpers.js';
import { startFakeHub, type FakeHub } from '../hub/fake-hub.js';
import { startPostgres, type TestPostgres } from '../store/postgres.js';
import { Gen, operations, request, rng, type Mode, type Operation } from './openapi-fuzz-gen.js';

const COUNT = Number(process.env['FUZZ_OPENAPI_REQUESTS'] ?? 2000);
const SEED = Number(process.env['FUZZ_OPENAPI_SEED'] ?? 15);
/**
 * Documented 5xx: the Hub failing (502) or timing out (504), and a generation stopped at the deadline its
 * request set (timeout_s, 504).
 */
const UPSTREAM = new Set([502, 504]);
/** Writes that change shared state need the key; most requests carry it, some do not (401/403 then). */
const API_KEY = 'fuzz-key';

let engine: Engine;
let hub: FakeHub;
let pgServer: TestPostgres;
let tmp: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'infersim-fuzz-'));
  // A short context keeps generation cheap: the fuzz is after the routes' handling, not the model's speed.
  engine = await Engine.load(MODEL_DIR, { blockSize: 8, maxModelLen: 64, threads: 1 });
  hub = await startFakeHub();
  pgServer = await startPostgres();
}, 90_000);

afterAll(async () => {
  await engine?.close();
  await hub?.close();
  pgServer?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function storeOf(dialect: 'sqlite' | 'postgres'): Promise<Store> {
  if (dialect === 'sqlite') return openStore({ sqlitePath: join(tmp, 'fuzz.db') });
  const c = new pg.Client({ connectionString: pgServer.url });
  await c.connect();
  await c.query(`create database fuzz_${process.pid}`);
  await c.end();
  return openStore({ databaseUrl: pgServer.url.replace(/\/postgres$/, `/fuzz_${process.pid}`) });
}

async function appOn(store: Store): Promise<App> {
  const engineRoutes: RouteModule = (a) => {
    registerEngineRoutes(a as never, engine);
    registerOpenAiRoutes(a as never, engine);
  };
  const { app } = await buildApp({
    store,
    hub: new HubClient({ endpoint: hub.url, timeoutMs: 2000, retries: 0 }),
    routes: [engineRoutes],
    admission: { perMinute: 0, importsPerHour: 1_000_000 },
    guard: { apiKey: API_KEY },
  });
  return app;
}

/** Each request's status, by store: the same seed sends the same requests to both. */
const seen: Record<string, number[]> = { sqlite: [], postgres: [] };
const sent: string[] = [];

interface Failure {
  op: string;
  mode: Mode;
  payload?: string;
  status: number;
  body: string;
}

describe.each(['sqlite', 'postgres'] as const)('/openapi.json fuzz on %s', (dialect) => {
  let app: App;
  let store: Store;
  let ops: Operation[];
  beforeAll(async () => {
    store = await storeOf(dialect);
    app = await appOn(store);
    ops = operations((await app.inject({ url: '/openapi.json' })).json());
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await store?.close();
  });

  it('documents a request body for every POST, PUT and PATCH', () => {
    const writes = ops.filter((o) => ['POST', 'PUT', 'PATCH'].includes(o.method));
    // The engine's 14 POST routes and /v1's 2 are among them: the document covers the whole server.
    expect(writes.map((o) => o.path)).toEqual(
      expect.arrayContaining(['/generate', '/parallel/execute', '/cache/clear', '/v1/chat/completions']),
    );
    expect(writes.filter((o) => !o.body).map((o) => `${o.method} ${o.path}`)).toEqual([]);
  });

  it(`${COUNT} requests: no 5xx but upstream 502/504, every error with detail and error`, async () => {
    const g = new Gen(rng(SEED));
    const failures: Failure[] = [];
    const statuses: Record<string, number> = {};
    const modes: Mode[] = ['valid', 'boundary', 'malformed'];
    for (let i = 0; i < COUNT; i++) {
      // Round-robin over operations so each is hit COUNT / ops.length times; the mode at random.
      const op = ops[i % ops.length]!;
      const mode = g.pick(modes);
      const req = request(g, op, mode);
      // One session throughout, so /parallel/execute finds the split /parallel/tensor_split made before it.
      const auth = g.chance(0.9) ? { authorization: `Bearer ${API_KEY}` } : {};
      const r = await app.inject({
        method: req.method as 'GET',
        url: req.url,
        headers: { ...req.headers, ...auth, 'x-session-id': 'fuzz' },
        ...(req.payload === undefined ? {} : { payload: req.payload }),
      });
      statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1;
      seen[dialect]!.push(r.statusCode);
      if (dialect === 'sqlite') sent.push(`${req.method} ${req.url} ${req.payload?.slice(0, 200) ?? ''}`);
      let ok = r.statusCode < 500 || UPSTREAM.has(r.statusCode);
      if (ok && r.statusCode >= 400) {
        const body = (() => {
          try {
            return JSON.parse(r.body) as Record<string, unknown>;
          } catch {
            return null;
          }
        })();
        ok = typeof body?.['detail'] === 'string' && body['error'] !== undefined;
      }
      if (!ok)
        failures.push({
          op: `${op.method} ${req.url.slice(0, 120)}`,
          mode,
          payload: req.payload?.slice(0, 300),
          status: r.statusCode,
          body: r.body.slice(0, 300),
        });
    }
    console.log(`openapi fuzz on ${dialect}: ${COUNT} requests over ${ops.length} operations`, statuses);
    expect(failures.slice(0, 10), `${failures.length} failures`).toEqual([]);
    // Valid requests must get through somewhere: a fuzz that only ever hits validation proves little.
    expect(statuses['200'] ?? 0).toBeGreaterThan(COUNT / 10);
  }, 600_000);
});

describe('store parity under the fuzz', () => {
  it('every fuzzed request got the same status on SQLite and PostgreSQL', () => {
    expect(seen['postgres']).toHaveLength(COUNT);
    // A 504 from a generation's own deadline (timeout_s) is wall-clock time: it may pass on one run, not the other.
    const differ = seen['sqlite']!.flatMap((st, i) => {
      const other = seen['postgres']![i]!;
      return st === other || st === 504 || other === 504 ? [] : [`${sent[i]}: ${st} vs ${other}`];
    });
    expect(differ.slice(0, 10), `${differ.length} requests differ`).toEqual([]);
  });
});
