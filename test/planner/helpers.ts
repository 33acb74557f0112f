/** A catalog device for the planner tests, at a given price (null: none). */
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import type { PlanDevice } from '../../src/core/planner/index.js';

export const dev = (id: string, usd: number | null = null): PlanDevice => {
  const d = findDevice(id);
  const price =
    usd === null
      ? null
      : {
          usd_per_gpu_hour: usd,
          policy: 'override' as const,
          provider: 'given',
          offering: null,
          source_url: null,
          region: null,
          as_of: null,
          min_usd_per_gpu_hour: null,
          min_provider: null,
          median_usd_per_gpu_hour: null,
          providers: 0,
        };
  return { id: d.id, hw: hardwareSpec(d), price };
};
