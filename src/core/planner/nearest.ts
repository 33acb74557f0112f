/** When nothing meets the request: the nearest options (more GPUs, a lower precision, shorter requests). */
import { modelDtype } from '../memory/inference.js';
import { memoryFit } from './bounds.js';
import type { PlanDevice, PlanRequest, Suggestion } from './types.js';
import { defaultPrecisions, supported } from './precisions.js';
import { layouts, type Layout } from './space.js';

/**
 * What would make a plan possible: the fewest GPUs of each device that hold the model and one request, a lower
 * weight precision that fits within the GPUs given, the longest request that fits within them; and when some
 * configuration fits but none meets the limits, that the limits are the obstacle.
 */
export function nearestOptions(r: PlanRequest, anyFits: boolean): Suggestion[] {
  const out: Suggestion[] = [];
  const tokens = r.isl + r.osl;
  const engine = r.engines[0]!;
  const fitsWith = (dev: PlanDevice, layout: Layout, precision: string, t: number) =>
    memoryFit(r.spec, dev.hw, {
      engine,
      plan: layout.plan,
      precision,
      kvPrecision: modelDtype(r.spec),
      tokens: t,
    });
  if (anyFits) {
    out.push({
      change: 'relax-limits',
      description: `configurations of up to ${r.maxGpus} GPUs fit but none meets the limits; raise --max-gpus or the limits (see rejected)`,
    });
    return out;
  }
  const precision = (r.precisions?.length ? r.precisions : defaultPrecisions(r.spec))[0]!;
  for (const dev of r.devices) {
    const big = layouts(r.spec, 1024, dev.perNode ?? 8).filter((l) => l.gpus > r.maxGpus);
    const first = big.find((l) => fitsWith(dev, l, precision, tokens).fits);
    if (first)
      out.push({
        change: 'more-gpus',
        description: `${first.gpus}× ${dev.id} (${first.name}) hold the model and one ${tokens}-token request`,
      });
  }
  const small = r.devices.flatMap((dev) =>
    layouts(r.spec, r.maxGpus, dev.perNode ?? 8).map((l) => ({ dev, l })),
  );
  for (const p of ['fp8', 'int4-g32', 'nvfp4']) {
    if (r.precisions?.includes(p)) continue;
    const hit = small.find(({ dev, l }) => !supported(dev.hw, p, p) && fitsWith(dev, l, p, tokens).fits);
    if (hit) {
      out.push({
        change: 'lower-precision',
        description: `--precision ${p} fits on ${hit.l.gpus}× ${hit.dev.id} (${hit.l.name})`,
      });
      break;
    }
  }
  let longest = 0;
  let where = '';
  for (const { dev, l } of small) {
    const m = fitsWith(dev, l, precision, Math.min(tokens, 1024));
    if (m.kvTokens > longest) {
      longest = Math.floor(m.kvTokens);
      where = `${l.gpus}× ${dev.id}`;
    }
  }
  if (longest > 0 && longest < tokens)
    out.push({
      change: 'shorter-context',
      description: `requests of at most ${longest} tokens (ISL + OSL) fit on ${where}`,
    });
  if (out.length === 0)
    out.push({
      change: 'more-gpus',
      description: `nothing of up to 1024 GPUs of the devices given holds the model`,
    });
  return out;
}
