/**
 * A hardware profile measured on the machine itself (bench/engine-profile.ts times the engine's own forward at a
 * few shapes and fits these figures), turned into the HardwareSpec and Efficiency that core/perf and core/serving
 * time steps with. The measured figures are effective ones, so the efficiencies that scale them are 1: the
 * device's "peaks" are what the engine reached, and the fixed costs are its own per step and per sequence.
 */
import type { HardwareSpec } from '../hardware/spec.js';
import { IDEAL, type Efficiency } from './efficiency.js';

export interface MeasuredProfile {
  /** What was measured, e.g. 'cpu: AMD EPYC 9B14, 1 onnxruntime thread'. */
  name: string;
  /** Effective bytes/s of memory-bound operators (weights and KV read per decode step). */
  bytesPerS: number;
  /** Effective FLOP/s of matrix multiplications (fp32). */
  gemmFlopsPerS: number;
  /** Effective FLOP/s of attention and the other non-GEMM operators. */
  attentionFlopsPerS: number;
  /** Fixed cost of one forward (s): session calls, graph launch, host work independent of the batch. */
  stepS: number;
  /** Cost per sequence in the batch per forward (s): per-sequence attention calls, gathers, logits rows. */
  sequenceS: number;
  /** Memory the profile's process may use (bytes); sizes nothing the bench relies on (it passes KV tokens). */
  memoryBytes: number;
}

function positive(field: string, v: number, zeroOk = false): void {
  if (!Number.isFinite(v) || v < 0 || (!zeroOk && v === 0))
    throw new Error(
      `measured profile: ${field} must be a ${zeroOk ? 'non-negative' : 'positive'} number (got ${v})`,
    );
}

const NUMBER_KEYS = [
  'bytesPerS',
  'gemmFlopsPerS',
  'attentionFlopsPerS',
  'stepS',
  'sequenceS',
  'memoryBytes',
] as const;

/**
 * A profile read from JSON (the file bench/engine-profile.ts writes; `infersim simulate --hardware-profile`):
 * every key of MeasuredProfile, numbers in bytes, FLOPs and seconds. A missing, misspelt or unknown key, or a bad
 * value, is an error naming it and `source`.
 */
export function parseProfile(raw: unknown, source = 'profile'): MeasuredProfile {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error(`${source}: a hardware profile must be a JSON object`);
  const o = raw as Record<string, unknown>;
  const known = new Set<string>(['name', ...NUMBER_KEYS]);
  const unknown = Object.keys(o).filter((k) => !known.has(k));
  if (unknown.length)
    throw new Error(
      `${source}: unknown key(s) ${unknown.join(', ')}; a profile has ${[...known].join(', ')}`,
    );
  if (typeof o['name'] !== 'string' || o['name'] === '')
    throw new Error(`${source}: name must be a non-empty string`);
  for (const k of NUMBER_KEYS)
    if (typeof o[k] !== 'number')
      throw new Error(`${source}: ${k} must be a number (got ${JSON.stringify(o[k])})`);
  const p = o as unknown as MeasuredProfile;
  try {
    checkProfile(p);
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  return p;
}

export function checkProfile(p: MeasuredProfile): void {
  positive('bytesPerS', p.bytesPerS);
  positive('gemmFlopsPerS', p.gemmFlopsPerS);
  positive('attentionFlopsPerS', p.attentionFlopsPerS);
  positive('stepS', p.stepS, true);
  positive('sequenceS', p.sequenceS, true);
  positive('memoryBytes', p.memoryBytes);
}

/** The profile as a device: fp32 is its only format, peaks and bandwidth are the measured effective ones. */
export function profileHardware(p: MeasuredProfile): HardwareSpec {
  checkProfile(p);
  return {
    id: 'measured-cpu',
    name: p.name,
    vendor: 'measured',
    kind: 'cpu',
    architecture: 'measured',
    memoryBytes: p.memoryBytes,
    visibleMemoryBytes: p.memoryBytes,
    memoryBandwidthBytesPerS: p.bytesPerS,
    denseFlops: { fp32: p.gemmFlopsPerS },
    interconnectBytesPerS: null,
    tdpW: null,
  };
}

/**
 * Efficiencies for profileHardware's device: GEMMs and memory at the measured rates (1), attention at its ratio
 * to the GEMM rate (core/perf times non-GEMM operators at the device peak × attention), the measured fixed costs,
 * no per-kernel cost (inside the per-step one), and none of the GPU serving terms (request latency, waves).
 */
export function profileEfficiency(p: MeasuredProfile): Efficiency {
  checkProfile(p);
  return {
    ...IDEAL,
    attention: p.attentionFlopsPerS / p.gemmFlopsPerS,
    stepS: p.stepS,
    sequenceS: p.sequenceS,
  };
}
