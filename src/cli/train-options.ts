/** Parsers and price lookup for `train` and `plan --train`: token counts with SI suffixes, prices per GPU-hour. */
import { InvalidArgumentError } from 'commander';
import { loadPrices } from '../catalog/prices/index.js';
import { choosePrice, type PriceChoice, type PricePolicy } from '../core/planner/cost.js';

const SUFFIX: Record<string, number> = { k: 1e3, m: 1e6, b: 1e9, g: 1e9, t: 1e12 };

/** "2e9", "2B", "15T", "500M": a positive count of tokens. */
export function tokenCount(name: string) {
  return (v: string): number => {
    const m = /^\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([kmbgt]?)\s*$/i.exec(v);
    const n = m ? Number(m[1]) * (m[2] ? SUFFIX[m[2].toLowerCase()]! : 1) : NaN;
    if (!(Number.isFinite(n) && n > 0))
      throw new InvalidArgumentError(`${name} must be a positive count such as 2e9, 2B or 15T (got '${v}')`);
    return n;
  };
}

export function positiveNumber(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!(Number.isFinite(n) && n > 0))
      throw new InvalidArgumentError(`${name} must be a positive number (got '${v}')`);
    return n;
  };
}

/** The price of a device per GPU-hour: the user's, else the catalog's (or --prices file's) by policy; null if none. */
export function trainPrice(
  device: string,
  o: { pricePerGpuHour?: number; prices?: string; pricePolicy?: PricePolicy },
): PriceChoice | null {
  return choosePrice(loadPrices(o.prices), device, { policy: o.pricePolicy, override: o.pricePerGpuHour });
}
