/**
 * GPU size classes for "which card do I need": the nominal memory sizes cards are sold in (16, 24, 32, 40, 48, 80,
 * 94, 96, 141, 180, 192 … GB), each with the usable memory of its smallest member, and the smallest class that
 * holds a total. Usable = vLLM's budget, floor(visible × gpu_memory_utilization), less the CUDA context a process
 * holds from its start (vLLM V1 leaves that context outside its own accounting, yet it occupies the device).
 */
import { SERVING_DEFAULTS } from '../defaults.js';
import { RUNTIME_PROFILES } from '../memory/runtime.js';
import type { HardwareSpec } from './spec.js';

const GiB = 2 ** 30;

/** CUDA context and allocator of one process at start: PyTorch's measured 361 MiB (runtime.ts, 'pytorch'). */
export const STARTUP_CONTEXT_BYTES = RUNTIME_PROFILES.pytorch.contextBytes;

export interface SizeClass {
  /** The size the cards are sold as, in GB (an "80 GB" H100 has 80 GiB). */
  nominalGb: number;
  /** The member with the least visible memory: a class holds a total only if every card of it does. */
  device: HardwareSpec;
  usableBytes: number;
}

export function usableBytes(hw: HardwareSpec, util = SERVING_DEFAULTS.gpuMemoryUtilization): number {
  return Math.max(0, Math.floor(hw.visibleMemoryBytes * util) - STARTUP_CONTEXT_BYTES);
}

/** One class per nominal size among `devices`, smallest first. */
export function sizeClasses(devices: readonly HardwareSpec[]): SizeClass[] {
  const byNominal = new Map<number, HardwareSpec>();
  for (const d of devices) {
    const nominal = Math.round(d.memoryBytes / GiB);
    const prior = byNominal.get(nominal);
    if (!prior || d.visibleMemoryBytes < prior.visibleMemoryBytes) byNominal.set(nominal, d);
  }
  return [...byNominal.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([nominalGb, device]) => ({ nominalGb, device, usableBytes: usableBytes(device) }));
}

/**
 * The smallest class whose usable memory holds `totalBytes`; when none does, the largest class and how many of
 * its cards the bytes need (a lower bound: parallelism replicates some memory).
 */
export function smallestClassFor(
  totalBytes: number,
  classes: readonly SizeClass[],
): { cls: SizeClass; count: number } {
  if (classes.length === 0) throw new Error('no device size classes');
  const fit = classes.find((c) => c.usableBytes >= totalBytes);
  if (fit) return { cls: fit, count: 1 };
  const top = classes[classes.length - 1]!;
  return { cls: top, count: Math.ceil(totalBytes / top.usableBytes) };
}
