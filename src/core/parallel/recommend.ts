/**
 * A recommended parallel plan for a model on one device type: the fewest devices whose per-device memory fits,
 * then the fastest (offline throughput at input = output = seq/2), with the alternatives ranked the same way.
 */
import type { ModelSpec } from '../arch/spec.js';
import type { HardwareSpec } from '../hardware/spec.js';
import type { EngineId } from '../memory/engines/index.js';
import { inferenceMemory, InputError } from '../memory/inference.js';
import { offlineThroughput } from '../perf/throughput.js';
import { validatePlan, type ParallelPlan } from './plan.js';

export interface PlanOption {
  plan: ParallelPlan;
  devices: number;
  memory_per_device_bytes: number;
  fits: boolean;
  output_tokens_per_s: number;
  output_tokens_per_s_per_device: number;
  invalid_reason?: string;
}

export interface PlanOptions {
  precision: string;
  kvPrecision: string;
  seq: number;
  maxDevices?: number;
  gpuMemoryUtilization?: number;
  /** The engine whose KV capacity bounds each plan's throughput (default vllm), and its release. */
  engine?: EngineId;
  engineVersion?: string;
}

export function recommendPlans(spec: ModelSpec, hw: HardwareSpec, o: PlanOptions): PlanOption[] {
  const max = o.maxDevices ?? 64;
  const util = o.gpuMemoryUtilization ?? 0.9;
  const degrees = [1, 2, 4, 8, 16, 32, 64].filter((d) => d <= max);
  const moe = spec.groups.some((g) => g.mlp?.kind === 'moe');
  const out: PlanOption[] = [];
  for (const tp of degrees.filter((d) => d <= 8)) {
    for (const pp of degrees) {
      for (const ep of moe ? degrees : [1]) {
        const plan = { tp, pp, ep };
        const devices = tp * pp * ep;
        if (devices > max) continue;
        try {
          validatePlan(spec, plan);
        } catch {
          continue;
        }
        const mem = inferenceMemory(spec, {
          precision: o.precision,
          kvPrecision: o.kvPrecision,
          batch: 1,
          seq: o.seq,
          plan,
          runtime: 'vllm-v1',
        });
        const fits = mem.total_bytes <= hw.visibleMemoryBytes * util;
        let tput = 0;
        if (fits) {
          const half = Math.max(1, Math.floor(o.seq / 2));
          try {
            tput = offlineThroughput(spec, hw, {
              precision: o.precision,
              kvPrecision: o.kvPrecision,
              plan,
              inputLen: half,
              outputLen: half,
              gpuMemoryUtilization: util,
              engine: o.engine,
              engineVersion: o.engineVersion,
            }).output_tokens_per_s;
          } catch (e) {
            // The engine refuses this length (beyond the model's positions): no throughput, the plan still ranks.
            if (!(e instanceof InputError)) throw e;
          }
        }
        out.push({
          plan,
          devices,
          memory_per_device_bytes: mem.total_bytes,
          fits,
          output_tokens_per_s: tput,
          output_tokens_per_s_per_device: tput / devices,
        });
      }
    }
  }
  return out.sort(
    (a, b) =>
      Number(b.fits && b.output_tokens_per_s > 0) - Number(a.fits && a.output_tokens_per_s > 0) ||
      a.devices - b.devices ||
      b.output_tokens_per_s - a.output_tokens_per_s,
  );
}
