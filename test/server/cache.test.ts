/**
 * The results cache: repeated questions come from the process's LRU; the shared store is used only for answers
 * that take longer to compute than a store lookup, so cheap endpoints never pay a database round trip.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ResultCache } from '../../src/server/cache.js';
import { openStore, type Store } from '../../src/store/index.js';

let store: Store;
let lookups: number;

/** Busy-waits `ms` (a computation or a store of a known cost). */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

beforeEach(async () => {
  store = await openStore({ sqlitePath: ':memory:' });
  // The first query of a fresh database prepares its statement: not part of what a lookup costs afterwards.
  await store.cacheGet('warm-up');
  lookups = 0;
  const get = store.cacheGet.bind(store);
  store.cacheGet = async (key: string) => {
    lookups++;
    spin(2);
    return get(key);
  };
});

afterEach(async () => {
  await store.close();
});

describe('results cache', () => {
  it('a repeated question is answered from memory without computing again', async () => {
    const cache = new ResultCache(store);
    let computed = 0;
    const f = () => ({ n: ++computed });
    expect(await cache.get('e', { a: 1, b: 2 }, f)).toEqual({ n: 1 });
    // Key order does not matter: the key is the canonical request.
    expect(await cache.get('e', { b: 2, a: 1 }, f)).toEqual({ n: 1 });
    expect(computed).toBe(1);
    expect(cache.stats).toMatchObject({ hits: 1, misses: 1 });
  });

  it('answers computed faster than a store lookup skip the store after the first', async () => {
    const cache = new ResultCache(store);
    for (let i = 0; i < 5; i++) await cache.get('cheap', { i }, () => ({ i }));
    await cache.flush();
    // Only the first question (costs unknown) went to the store; it was written there, the others were not.
    expect(lookups).toBe(1);
    expect(await store.cacheGet(cache.key('cheap', { i: 0 }))).toBe('{"i":0}');
    expect(await store.cacheGet(cache.key('cheap', { i: 1 }))).toBeNull();
  });

  it('answers that cost more than a lookup are shared through the store with another instance', async () => {
    const a = new ResultCache(store);
    const slow = (i: number) => () => {
      spin(20);
      return { i };
    };
    for (let i = 0; i < 3; i++) await a.get('slow', { i }, slow(i));
    await a.flush();
    expect(lookups).toBe(3);
    const b = new ResultCache(store);
    let computed = 0;
    const r = await b.get('slow', { i: 2 }, () => ({ i: ++computed }));
    expect(r).toEqual({ i: 2 });
    expect(computed).toBe(0);
    expect(b.stats.storeHits).toBe(1);
  });
});
