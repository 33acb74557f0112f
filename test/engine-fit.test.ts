/**
 * engineFit: the fit verdict as the engine's own start check, on the same capacity that bounds the batch. It fits
 * exactly when the engine starts and holds `batch` requests of max_model_len (max_concurrency >= batch); the bytes
 * are the engine's budget against what it takes before the KV cache plus the KV of those requests.
 * Llama-3.1-8B-Instruct, bf16, one H100: 131,072 B of KV per token; 8,192 tokens = 512 blocks of 16.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, findModel, hardwareSpec, modelSpec } from '../src/catalog/index.js';
import { engineFit } from '../src/core/memory/fit.js';

const spec = modelSpec(findModel('meta-llama/Llama-3.1-8B-Instruct'));
const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const o = { maxModelLen: 8192 };

describe('engineFit', () => {
  it('fits up to floor(max_concurrency) requests, and not one more', () => {
    const one = engineFit(spec, h100, o);
    const c = one.capacity;
    expect(one.fits).toBe(true);
    expect(one.available_bytes).toBe(Math.floor(c.budget_bytes));
    // One request: what the engine takes before KV + the cache's share per request (cache / max_concurrency), so the
    // verdict and the concurrency agree exactly; that share is 512 blocks x 16 tokens x 131,072 B to within the
    // leftover of a part block (under one 2 MiB block spread over ~58 requests).
    const before = c.budget_bytes - c.kv_cache_bytes_available;
    const share = one.required_bytes - before;
    expect(share).toBeCloseTo(c.kv_cache_bytes_available / c.max_concurrency, 3);
    expect(share).toBeGreaterThanOrEqual(512 * 16 * 131_072);
    expect(share - 512 * 16 * 131_072).toBeLessThan((16 * 131_072) / c.max_concurrency);
    const n = Math.floor(c.max_concurrency);
    expect(engineFit(spec, h100, o, n).fits).toBe(true);
    const over = engineFit(spec, h100, o, n + 1);
    expect(over.fits).toBe(false);
    expect(over.reason).toBe('kv_cache');
    expect(over.headroom_bytes).toBeLessThan(0);
    expect(over.message).toContain(`it holds ${c.max_concurrency.toFixed(2)} such requests`);
    // Every suggestion is re-measured by the engine profile and fits.
    for (const s of over.suggestions) expect(s.fits).toBe(true);
    expect(over.suggestions.map((s) => Object.keys(s.change)[0])).toContain('kv_precision');
  });

  it("SGLang's budget is not visible x utilization: the verdict says what it is", () => {
    const f = engineFit(spec, h100, { ...o, engine: 'sglang' });
    expect(f.fits).toBe(true);
    expect(f.budget_note).toMatch(/mem_fraction_static 0\.835/);
    expect(engineFit(spec, h100, o).budget_note).toBeUndefined();
  });
});
