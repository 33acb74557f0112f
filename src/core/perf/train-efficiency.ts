/**
 * The training estimate's one fitted number: the fraction of dense peak a step's compute reaches, per hardware
 * generation, precision class and dense/MoE (train-calibration.json, written by `npm run train:calibrate` from
 * the published runs in shared/reference/calibration/training.json). A group without runs falls back to its
 * precision and kind on any hardware, then to all runs. The overlap constants are judgement, not fitted.
 */
import table from './train-calibration.json' with { type: 'json' };

export interface TrainCalibration {
  /** "hardwareClass:precisionClass:dense|moe" or "*:precisionClass:dense|moe" or "*" → fraction of peak. */
  groups: Record<string, number>;
}

export const TRAIN_CALIBRATION: TrainCalibration = { groups: table.groups };

/** Share of each collective left exposed: Megatron overlaps TP (tp-comm-overlap) and EP (a2a overlap) in part. */
export const OVERLAP = {
  tpExposed: 0.3,
  epExposed: 0.5,
  /** Share of the last backward (gradients) or first forward (parameters) the DP collectives can hide under. */
  dpWindow: 0.8,
};

/**
 * Small models reach less of peak: their GEMMs are narrow (tile quantisation, fewer blocks per SM) and the
 * memory-bound kernels between them weigh more. Compute efficiency scales by hidden / (hidden + HALF_HIDDEN).
 */
export const HALF_HIDDEN = 512;

export function sizeFactor(hidden: number): number {
  return hidden / (hidden + HALF_HIDDEN);
}

/** fp32/fp16/bf16 share one class; FP8 and FP4 GEMMs run on their own peak with their own efficiency. */
export function precisionClass(precision: string): 'bf16' | 'fp8' | 'fp4' {
  const p = precision.toLowerCase();
  if (p.includes('fp4')) return 'fp4';
  if (p.includes('fp8')) return 'fp8';
  return 'bf16';
}

export function calibrationKeys(hwClass: string, precision: string, moe: boolean): string[] {
  const p = precisionClass(precision);
  const kind = moe ? 'moe' : 'dense';
  const keys = [`${hwClass}:${p}:${kind}`, `*:${p}:${kind}`];
  if (p === 'fp4') keys.push(`${hwClass}:fp8:${kind}`, `*:fp8:${kind}`);
  return [...keys, `*:bf16:${kind}`, '*'];
}

export function trainEfficiency(
  hwClass: string,
  precision: string,
  moe: boolean,
  cal: TrainCalibration = TRAIN_CALIBRATION,
): { efficiency: number; group: string } {
  for (const k of calibrationKeys(hwClass, precision, moe)) {
    const v = cal.groups[k];
    if (v !== undefined) return { efficiency: v, group: k };
  }
  return { efficiency: 0.5, group: 'default' };
}
