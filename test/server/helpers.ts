/** A test app: in-memory SQLite store and the fake hub; `call` injects a request and parses the JSON answer. */
import { buildApp, type BuiltApp } from '../../src/server/app.js';
import { HubClient } from '../../src/hub/index.js';
import { openStore } from '../../src/store/index.js';
import { startFakeHub, type FakeHub } from '../hub/fake-hub.js';

/** Parsed JSON answers, read freely in assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface TestApp extends BuiltApp {
  hub: FakeHub;
  call: (
    method: string,
    url: string,
    body?: unknown,
  ) => Promise<{ status: number; json: Json; headers: Record<string, unknown>; text: string }>;
  close: () => Promise<void>;
}

export async function testApp(): Promise<TestApp> {
  const hub = await startFakeHub();
  const store = await openStore({ sqlitePath: ':memory:' });
  const built = await buildApp({
    store,
    hub: new HubClient({ endpoint: hub.url, timeoutMs: 1000, retries: 0 }),
  });
  const call: TestApp['call'] = async (method, url, body) => {
    const r = await built.app.inject({
      method: method as 'GET',
      url,
      ...(body === undefined
        ? {}
        : { payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    let json: Json = null;
    try {
      json = JSON.parse(r.body);
    } catch {
      // not JSON (docs pages)
    }
    return { status: r.statusCode, json, headers: r.headers, text: r.body };
  };
  return {
    ...built,
    hub,
    call,
    close: async () => {
      await built.app.close();
      await store.close();
      await hub.close();
    },
  };
}
