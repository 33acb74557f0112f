/**
 * The devices a plan searches, with their links and one price each: shared by the CLI and the API so that the
 * same question gets the same answer. `gpus` is a list of device or system ids, 'all' (every GPU in the catalog),
 * or nothing (every GPU with a price).
 */
import { catalog, findDevice, hardwareSpec, systemLinks } from '../index.js';
import { choosePrice, type PlanDevice, type PricePolicy } from '../../core/planner/index.js';
import { loadPrices } from './index.js';

export interface PlanDeviceOptions {
  /** Prices file laid over the catalog's (default env INFERSIM_PRICES). */
  pricesFile?: string;
  pricePerGpuHour?: number;
  pricePolicy?: PricePolicy;
}

export function planDevices(
  gpus: readonly string[] | 'all' | undefined,
  o: PlanDeviceOptions = {},
): PlanDevice[] {
  const prices = loadPrices(o.pricesFile);
  const price = (id: string) =>
    choosePrice(prices, id, { policy: o.pricePolicy, override: o.pricePerGpuHour });
  if (gpus === undefined || gpus === 'all') {
    const all = catalog().devices.items.filter((d) => d.kind === 'gpu');
    return all
      .map((d) => ({ id: d.id, hw: hardwareSpec(d), price: price(d.id) }))
      .filter((d) => gpus === 'all' || d.price !== null);
  }
  const seen = new Set<string>();
  const out: PlanDevice[] = [];
  for (const name of gpus) {
    const d = findDevice(name);
    const links = systemLinks(name) ?? undefined;
    const key = `${d.id}|${links ? name : ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      id: d.id,
      hw: hardwareSpec(d),
      links,
      price: price(d.id),
      perNode: links?.devicesPerNode,
    });
  }
  return out;
}
