/** Which weight formats the planner tries, what it calls them, and whether a device computes in them. */
import type { ModelSpec } from '../arch/spec.js';
import { computeDtypeFor, type HardwareSpec } from '../hardware/spec.js';
import { modelDtype } from '../memory/inference.js';

/** The name a precision goes by in the output ('auto' becomes the checkpoint's format). */
export function precisionLabel(spec: ModelSpec, p: string): string {
  if (p !== 'auto') return p;
  return spec.checkpointQuant?.format ?? modelDtype(spec);
}

export function defaultPrecisions(spec: ModelSpec): string[] {
  return spec.checkpointQuant ? ['auto'] : [modelDtype(spec), 'fp8'];
}

/** Whether the device has tensor cores for a weight format the engines serve in it. */
export function supported(hw: HardwareSpec, precision: string, label: string): string | null {
  const p = label.toLowerCase();
  if ((p === 'nvfp4' || p === 'mxfp4') && !hw.denseFlops.fp4) return `${hw.name} has no FP4 tensor cores`;
  if (p.startsWith('fp8') && !hw.denseFlops.fp8) return `${hw.name} has no FP8 tensor cores`;
  if (computeDtypeFor(precision === 'auto' ? label : precision, hw) === null)
    return `${hw.name} has no tensor throughput for ${label}`;
  return null;
}
