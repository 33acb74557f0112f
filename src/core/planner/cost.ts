/**
 * Cost: one price per device out of the providers' prices, and what a million output tokens costs at a
 * throughput. Pure: the prices come in as data (src/catalog/prices).
 */
import { InputError } from '../memory/inference.js';

/** A provider's on-demand price of one GPU for an hour, with where it was read (the catalog's entry shape). */
export interface Price {
  device: string;
  provider: string;
  offering?: string;
  usd_per_gpu_hour: number;
  region: string;
  as_of: string;
  source_url: string;
  via?: string;
}

export type PricePolicy = 'median' | 'min';

/** The price used for a device, which provider it is, and the spread it was chosen from. */
export interface PriceChoice {
  usd_per_gpu_hour: number;
  /** 'override' when the user gave the price (--price-per-gpu-hour). */
  policy: PricePolicy | 'override';
  provider: string;
  offering: string | null;
  source_url: string | null;
  region: string | null;
  as_of: string | null;
  /** Across providers (each provider's cheapest offer): the cheapest, the median, how many providers. */
  min_usd_per_gpu_hour: number | null;
  min_provider: string | null;
  median_usd_per_gpu_hour: number | null;
  providers: number;
}

/**
 * The price of a device: each provider's cheapest offer counts once; 'min' takes the cheapest provider,
 * 'median' the provider at the median (the lower of the two middle ones when their number is even, so that the
 * price used is one a provider really asks). An override replaces both. null: no price for the device.
 */
export function choosePrice(
  prices: readonly Price[],
  device: string,
  o: { policy?: PricePolicy; override?: number } = {},
): PriceChoice | null {
  const perProvider = new Map<string, Price>();
  for (const p of prices) {
    if (p.device !== device) continue;
    const prior = perProvider.get(p.provider);
    if (!prior || p.usd_per_gpu_hour < prior.usd_per_gpu_hour) perProvider.set(p.provider, p);
  }
  const sorted = [...perProvider.values()].sort(
    (a, b) => a.usd_per_gpu_hour - b.usd_per_gpu_hour || a.provider.localeCompare(b.provider),
  );
  const n = sorted.length;
  const median =
    n === 0
      ? null
      : n % 2
        ? sorted[n >> 1]!.usd_per_gpu_hour
        : (sorted[n / 2 - 1]!.usd_per_gpu_hour + sorted[n / 2]!.usd_per_gpu_hour) / 2;
  const spread = {
    min_usd_per_gpu_hour: n ? sorted[0]!.usd_per_gpu_hour : null,
    min_provider: n ? sorted[0]!.provider : null,
    median_usd_per_gpu_hour: median,
    providers: n,
  };
  if (o.override !== undefined) {
    if (!(Number.isFinite(o.override) && o.override > 0))
      throw new InputError(`price per GPU-hour must be a positive number (got ${o.override})`);
    return {
      usd_per_gpu_hour: o.override,
      policy: 'override',
      provider: 'given',
      offering: null,
      source_url: null,
      region: null,
      as_of: null,
      ...spread,
    };
  }
  if (n === 0) return null;
  const policy = o.policy ?? 'median';
  const used = policy === 'min' ? sorted[0]! : sorted[(n - 1) >> 1]!;
  return {
    usd_per_gpu_hour: used.usd_per_gpu_hour,
    policy,
    provider: used.provider,
    offering: used.offering ?? null,
    source_url: used.source_url,
    region: used.region,
    as_of: used.as_of,
    ...spread,
  };
}

/** USD for a million output tokens: $/hour × 1e6 / (output tokens/s × 3600 s/hour). */
export function usdPerMillionOutputTokens(usdPerHour: number, outputTokensPerS: number): number {
  if (!(outputTokensPerS > 0)) return Infinity;
  return (usdPerHour * 1e6) / (outputTokensPerS * 3600);
}
