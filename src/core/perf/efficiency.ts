/**
 * The estimate's efficiencies: a few physically meaningful parameters per hardware class, fitted to measured
 * throughput by `npm run calibrate` (scripts/calibrate.ts), which writes calibration.json beside this file.
 * The ideal bound uses none of them: datasheet dense peak, full bandwidth, no fixed costs.
 */
import table from './calibration.json' with { type: 'json' };

export interface Efficiency {
  /** Fraction of dense peak that large GEMMs reach. */
  gemm: number;
  /** Fraction of dense peak that MoE expert (grouped) GEMMs reach. */
  expertGemm: number;
  /** Fraction of dense peak that fused attention reaches. */
  attention: number;
  /** Fraction of datasheet memory bandwidth that streaming kernels reach. */
  memory: number;
  /** Fixed cost per kernel launch (s). */
  kernelS: number;
  /** Fixed cost per forward step: launch of the step, synchronisation (s). */
  stepS: number;
  /** Cost per running sequence per step: scheduling, sampling, detokenising on the host (s). */
  sequenceS: number;
  /** Fraction of link bandwidth collectives reach. */
  link: number;
  /** Scale of the links' per-call latency (1 in the estimate, 0 in the ideal bound). */
  alpha: number;
}

export const IDEAL: Efficiency = {
  gemm: 1,
  expertGemm: 1,
  attention: 1,
  memory: 1,
  kernelS: 0,
  stepS: 0,
  sequenceS: 0,
  link: 1,
  alpha: 0,
};

interface Table {
  provenance: string;
  classes: Record<string, Efficiency & { rows?: number }>;
}

const T = table as Table;

export function efficiencyFor(hwClass: string): Efficiency {
  return Object.hasOwn(T.classes, hwClass) ? T.classes[hwClass]! : T.classes['default']!;
}

export const CALIBRATION_PROVENANCE = T.provenance;
