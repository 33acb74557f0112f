/**
 * GPU prices as data: on-demand USD per GPU-hour per device and provider (prices.json beside this module), each
 * with its source, region and date. A user's file (--prices FILE or env INFERSIM_PRICES) replaces the catalog's
 * entries for the devices it lists. The choice of one price per device is core/planner's (cost.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CatalogError, findDevice } from '../index.js';
import { priceFile, type PriceEntry } from './schema.js';

export type { PriceEntry };

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const PRICES_FILE = join(ROOT, 'src', 'catalog', 'prices', 'prices.json');

/** Parse and check a prices file's text; device names become catalog ids. `name` is for messages. */
export function parsePrices(text: string, name: string): PriceEntry[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CatalogError(`prices file ${name}: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const r = priceFile.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new CatalogError(`prices file ${name}: ${issue.path.join('.') || '(top)'} ${issue.message}`);
  }
  const entries = Array.isArray(r.data) ? r.data : r.data.prices;
  return entries.map((e, i) => {
    try {
      return { ...e, device: findDevice(e.device).id };
    } catch (err) {
      throw new CatalogError(
        `prices file ${name}: prices.${i}.device ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  });
}

let builtin: PriceEntry[] | null = null;

/** The catalog's prices. */
export function catalogPrices(): PriceEntry[] {
  return (builtin ??= parsePrices(readFileSync(PRICES_FILE, 'utf8'), 'prices.json'));
}

/**
 * The catalog's prices with a user's file laid over them: for every device the file names, only the file's
 * entries count. `file` defaults to env INFERSIM_PRICES.
 */
export function loadPrices(file: string | undefined = process.env.INFERSIM_PRICES): PriceEntry[] {
  const base = catalogPrices();
  if (!file) return base;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new CatalogError(`cannot read prices file ${file}`);
  }
  const own = parsePrices(text, file);
  const devices = new Set(own.map((e) => e.device));
  return [...base.filter((e) => !devices.has(e.device)), ...own];
}
