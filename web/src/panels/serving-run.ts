/**
 * The Serving view's sweep: one POST /api/serving/simulate per concurrency, one after another (each a closed loop of
 * N users), with the answers kept by request so a redraw or a return to the tab does not simulate again.
 */
import { postJson, type ServingResponse } from '../api';
import type { State } from '../state';

export const SERVING_URL = '/api/serving/simulate?explain=true';
export const MAX_POINTS = 16;
export const MAX_CONCURRENCY = 4096;

/** '1, 2,4' → [1, 2, 4] (sorted, without repeats); an error naming the entry that is not a valid concurrency. */
export function parseConcurrencies(text: string): number[] {
  const parts = text
    .split(/[\s,]+/)
    .map((p) => p.trim())
    .filter(Boolean);
  if (!parts.length) throw new Error('give at least one concurrency');
  const out = new Set<number>();
  for (const p of parts) {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n < 1 || n > MAX_CONCURRENCY)
      throw new Error(`'${p}' is not a concurrency (an integer from 1 to ${MAX_CONCURRENCY})`);
    out.add(n);
  }
  if (out.size > MAX_POINTS) throw new Error(`at most ${MAX_POINTS} concurrencies`);
  return [...out].sort((a, b) => a - b);
}

/** The request body for one concurrency (the CLI's flags, snake_case); defaults are left to the server. */
export function servingRequest(s: State, concurrency: number): Record<string, unknown> {
  if (s.model.startsWith('pasted:'))
    throw new Error(
      'The serving simulation needs a catalog or imported model (the route takes an id, not a config).',
    );
  return {
    model: s.model,
    gpu: s.hw,
    engine: s.sEngine,
    tp: s.sTp,
    ep: s.sEp,
    attention_dp: s.sAdp,
    precision: s.sPrecision,
    ...(s.sKv !== 'auto' ? { kv_precision: s.sKv } : {}),
    isl: s.sIsl,
    osl: s.sOsl,
    concurrency,
    ...(s.sloTtft > 0 ? { slo_ttft_ms: s.sloTtft } : {}),
    ...(s.sloTpot > 0 ? { slo_tpot_ms: s.sloTpot } : {}),
  };
}

export interface ServingPoint {
  concurrency: number;
  request: Record<string, unknown>;
  result: ServingResponse;
}

const cache = new Map<string, ServingResponse>();
const CACHE_LIMIT = 256;

/**
 * Simulates each concurrency in turn, calling `progress` before each and after the last; stops at the first error
 * (thrown) or when `signal` aborts (returns the points so far).
 */
export async function runSweep(
  s: State,
  concurrencies: number[],
  signal: AbortSignal,
  progress: (done: ServingPoint[], next: number | null) => void,
): Promise<ServingPoint[]> {
  const done: ServingPoint[] = [];
  for (const c of concurrencies) {
    if (signal.aborted) return done;
    progress(done, c);
    const request = servingRequest(s, c);
    const key = JSON.stringify(request);
    let result = cache.get(key);
    if (!result) {
      result = await postJson<ServingResponse>(SERVING_URL, request, signal);
      if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
      cache.set(key, result);
    }
    done.push({ concurrency: c, request, result });
  }
  progress(done, null);
  return done;
}
