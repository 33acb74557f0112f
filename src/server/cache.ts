/**
 * Results cache keyed by the canonical request: an in-process LRU in front of the store's results_cache table
 * (shared by every instance on one database). The key includes a fingerprint of the core and catalog sources,
 * so a changed formula or catalog never serves an old answer.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canonicalJson, sha256, type Store } from '../store/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function hashTree(dir: string, h: string[]): void {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const n of names) {
    const p = join(dir, n);
    const st = statSync(p);
    if (st.isDirectory()) hashTree(p, h);
    else if (/\.(ts|js|json)$/.test(n)) h.push(n, sha256(readFileSync(p, 'utf8')));
  }
}

let fingerprint: string | null = null;

const WRITE_DELAY_MS = 50;

/** Exponential moving average (weight 1/8 on the newest sample). */
function ewma(prev: number | undefined, x: number): number {
  return prev === undefined ? x : prev + (x - prev) / 8;
}

/** sha256 over the core (as running: src or dist), the catalog data and the server's adapters. */
export function codeFingerprint(): string {
  if (fingerprint) return fingerprint;
  const parts: string[] = [];
  hashTree(fileURLToPath(new URL('../core/', import.meta.url)), parts);
  hashTree(fileURLToPath(new URL('./routes/', import.meta.url)), parts);
  hashTree(join(ROOT, 'src', 'catalog'), parts);
  fingerprint = sha256(parts.join('\n')).slice(0, 16);
  return fingerprint;
}

export interface CacheStats {
  hits: number;
  storeHits: number;
  misses: number;
  size: number;
}

export class ResultCache {
  private readonly lru = new Map<string, unknown>();
  private readonly pending = new Set<Promise<void>>();
  private readonly json = new WeakMap<object, string>();
  private writes: { key: string; endpoint: string; response_json: string }[] = [];
  private timer: NodeJS.Timeout | null = null;
  readonly stats: CacheStats = { hits: 0, storeHits: 0, misses: 0, size: 0 };

  constructor(
    private readonly store: Store | null,
    private readonly maxEntries = 5000,
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {}

  /** The store's key: sha256 of the code fingerprint, the endpoint and the canonical request. */
  key(endpoint: string, request: unknown): string {
    return sha256(`${codeFingerprint()}\n${endpoint}\n${canonicalJson(request)}`);
  }

  /**
   * The cached answer to `request`, or `compute()`'s, remembered here and, when worth it, in the store.
   * The store is shared by every instance, but a round trip to it costs time too: an endpoint whose answers are
   * computed faster than the store answers (most of the core takes microseconds) is neither looked up nor written
   * there; its repeated questions are answered from this process's LRU. Both costs are measured as they happen.
   */
  async get<T>(endpoint: string, request: unknown, compute: () => T | Promise<T>): Promise<T> {
    // In process the canonical request itself is the key (the code cannot change under a running process).
    const local = `${endpoint}\n${canonicalJson(request)}`;
    const hit = this.lru.get(local);
    if (hit !== undefined) {
      this.lru.delete(local);
      this.lru.set(local, hit);
      this.stats.hits++;
      return hit as T;
    }
    const useStore = this.store !== null && this.worthStoring(endpoint);
    const key = useStore ? sha256(`${codeFingerprint()}\n${local}`) : '';
    if (useStore) {
      try {
        const t0 = performance.now();
        const json = await this.store!.cacheGet(key);
        this.storeMs = ewma(this.storeMs, performance.now() - t0);
        if (json !== null) {
          const value = JSON.parse(json) as T;
          this.remember(local, value);
          this.stats.storeHits++;
          return value;
        }
      } catch (e) {
        this.onError(e);
      }
    }
    this.stats.misses++;
    const t0 = performance.now();
    const value = await compute();
    this.computeMs.set(endpoint, ewma(this.computeMs.get(endpoint), performance.now() - t0));
    this.remember(local, value);
    if (useStore) this.queue(key, endpoint, value as object);
    return value;
  }

  /** Whether the endpoint's answers take longer to compute than a store lookup (unknown costs: yes). */
  private worthStoring(endpoint: string): boolean {
    const c = this.computeMs.get(endpoint);
    return c === undefined || this.storeMs === undefined || c >= this.storeMs;
  }

  /** Measured costs (ms, moving averages): store lookups, and computation per endpoint. */
  private storeMs: number | undefined;
  private readonly computeMs = new Map<string, number>();

  /** Store writes are batched: one multi-row insert per tick of `WRITE_DELAY_MS` (or per 200 entries). */
  private queue(key: string, endpoint: string, value: object): void {
    this.writes.push({ key, endpoint, response_json: this.serialized(value) });
    if (this.writes.length >= 200) this.drain();
    else if (!this.timer) this.timer = setTimeout(() => this.drain(), WRITE_DELAY_MS).unref();
  }

  private drain(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const rows = this.writes.splice(0);
    if (!rows.length || !this.store) return;
    const p: Promise<void> = this.store
      .cacheSetMany(rows)
      .catch(this.onError)
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private remember(key: string, value: unknown): void {
    this.lru.set(key, value);
    if (this.lru.size > this.maxEntries) this.lru.delete(this.lru.keys().next().value!);
    this.stats.size = this.lru.size;
  }

  /** JSON text of a cached answer, serialised once (hits skip the serialiser). */
  serialized(value: object): string {
    let s = this.json.get(value);
    if (s === undefined) this.json.set(value, (s = JSON.stringify(value)));
    return s;
  }

  /** Writes what is queued and waits for the store writes in flight (tests, shutdown). */
  async flush(): Promise<void> {
    this.drain();
    await Promise.all([...this.pending]);
  }
}
