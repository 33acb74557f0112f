import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { catalogPrices, loadPrices, parsePrices } from '../../src/catalog/prices/index.js';
import { choosePrice, usdPerMillionOutputTokens, type Price } from '../../src/core/planner/cost.js';

const p = (provider: string, usd: number, device = 'h100-sxm-80gb'): Price => ({
  device,
  provider,
  usd_per_gpu_hour: usd,
  region: 'r',
  as_of: '2026-01-01',
  source_url: `https://${provider}.example/pricing`,
});

describe('USD per million output tokens', () => {
  it('is $/hour × 1e6 / (tokens/s × 3600)', () => {
    // 8 GPUs at $2.50 = $20/h; 1000 tokens/s = 3.6e6 tokens/h; $20 / 3.6 = $5.555... per million.
    expect(usdPerMillionOutputTokens(20, 1000)).toBeCloseTo(20 / 3.6, 12);
    // $3.99/h serving 2,500 tokens/s: 9e6 tokens/h → $0.44333... per million.
    expect(usdPerMillionOutputTokens(3.99, 2500)).toBeCloseTo(0.443333333333, 10);
    expect(usdPerMillionOutputTokens(1, 0)).toBe(Infinity);
  });
});

describe('choosePrice', () => {
  const prices = [p('a', 4), p('a', 3), p('b', 2), p('c', 6), p('d', 5), p('e', 1, 'b200')];

  it('counts each provider once at its cheapest offer; median is the lower middle of an even count', () => {
    // Providers a 3, b 2, c 6, d 5 → sorted 2, 3, 5, 6: min 2 (b), median (3 + 5) / 2 = 4, used: a at 3.
    const c = choosePrice(prices, 'h100-sxm-80gb')!;
    expect(c.providers).toBe(4);
    expect(c.min_usd_per_gpu_hour).toBe(2);
    expect(c.min_provider).toBe('b');
    expect(c.median_usd_per_gpu_hour).toBe(4);
    expect(c.policy).toBe('median');
    expect(c.provider).toBe('a');
    expect(c.usd_per_gpu_hour).toBe(3);
    expect(c.source_url).toBe('https://a.example/pricing');
  });

  it('min takes the cheapest provider; an odd count has a true middle', () => {
    expect(choosePrice(prices, 'h100-sxm-80gb', { policy: 'min' })!.usd_per_gpu_hour).toBe(2);
    const odd = choosePrice([p('x', 1), p('y', 7), p('z', 2)], 'h100-sxm-80gb')!;
    expect([odd.usd_per_gpu_hour, odd.provider, odd.median_usd_per_gpu_hour]).toEqual([2, 'z', 2]);
  });

  it('an override is used as given, with the spread still shown; no price is null, never a guess', () => {
    const o = choosePrice(prices, 'h100-sxm-80gb', { override: 2.25 })!;
    expect([o.usd_per_gpu_hour, o.policy, o.min_usd_per_gpu_hour]).toEqual([2.25, 'override', 2]);
    expect(choosePrice(prices, 'l4-24gb')).toBeNull();
    expect(choosePrice(prices, 'l4-24gb', { override: 0.5 })!.usd_per_gpu_hour).toBe(0.5);
    expect(() => choosePrice(prices, 'l4-24gb', { override: -1 })).toThrow(/positive/);
  });
});

describe('prices catalog', () => {
  it('every entry names a catalog device, a source and a date', () => {
    const all = catalogPrices();
    expect(all.length).toBeGreaterThan(40);
    for (const e of all) {
      expect(e.source_url).toMatch(/^https:\/\//);
      expect(e.as_of).toMatch(/^\d{4}/);
    }
    // Spot check against the provider's listing (RunPod Community Cloud H100 SXM, 2026-09-25).
    expect(all.find((e) => e.provider === 'RunPod' && e.device === 'h100-sxm-80gb')!.usd_per_gpu_hour).toBe(
      2.69,
    );
  });

  it('a user file replaces the catalog for the devices it names; aliases resolve', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prices-'));
    const f = join(dir, 'p.json');
    writeFileSync(
      f,
      JSON.stringify([
        { device: 'h200', provider: 'mine', usd_per_gpu_hour: 1.5, as_of: '2026-12', source_url: 'x' },
      ]),
    );
    const merged = loadPrices(f);
    const h200 = merged.filter((e) => e.device === 'h200-sxm-141gb');
    expect(h200.map((e) => e.provider)).toEqual(['mine']);
    expect(merged.some((e) => e.device === 'h100-sxm-80gb')).toBe(true);
  });

  it('bad files name the problem', () => {
    expect(() => parsePrices('{', 'f.json')).toThrow(/f\.json: not JSON/);
    expect(() =>
      parsePrices(
        '[{"device":"h100","provider":"x","usd_per_gpu_hour":-2,"as_of":"2026","source_url":"u"}]',
        'f',
      ),
    ).toThrow(/0\.usd_per_gpu_hour/);
    expect(() =>
      parsePrices(
        '[{"device":"nope-9000","provider":"x","usd_per_gpu_hour":2,"as_of":"2026","source_url":"u"}]',
        'f',
      ),
    ).toThrow(/prices\.0\.device unknown hardware 'nope-9000'/);
  });
});
