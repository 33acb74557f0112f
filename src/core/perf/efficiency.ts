/**
 * The estimate's efficiencies: a few physically meaningful parameters per hardware generation (and host costs per
 * serving engine), shared by every model, fitted jointly to measured throughput and serving benchmarks by
 * `npm run calibrate` (scripts/calibrate.ts), which writes calibration.json beside this file.
 *
 * A GEMM's efficiency rises with its rows M (the tokens it multiplies) and saturates:
 *   eff(M) = peak · M / (M + M_half)
 * so a GEMM of M rows costs at least as much compute as one of M_half rows would at full efficiency (tile
 * quantisation, too few thread blocks to fill the SMs). Grouped expert GEMMs have their own curve over the tokens
 * one expert gets (T·k/E), low-precision GEMMs (FP8, NVFP4/MXFP4) reach a fraction of their own dense peak.
 * The ideal bound uses none of them: datasheet dense peak, full bandwidth, no fixed costs.
 */
import table from './calibration.json' with { type: 'json' };

export interface Efficiency {
  /** Fraction of dense peak that large GEMMs reach. */
  gemm: number;
  /** Rows at which a dense GEMM reaches half of `gemm` (0: flat). */
  gemmHalfM: number;
  /** Fraction of dense peak that MoE expert (grouped) GEMMs reach with many tokens per expert. */
  expertGemm: number;
  /** Tokens per expert at which the grouped GEMM reaches half of `expertGemm` (0: flat). */
  expertHalfM: number;
  /** Relative efficiency of FP8 GEMMs (of the FP8 dense peak) to 16-bit ones. */
  fp8: number;
  /** Relative efficiency of FP4 (NVFP4/MXFP4) GEMMs on FP4 tensor cores to 16-bit ones. */
  fp4: number;
  /** Fraction of dense peak that fused attention reaches. */
  attention: number;
  /** Fraction of datasheet memory bandwidth that streaming kernels reach. */
  memory: number;
  /** Fixed cost per kernel launch (s). */
  kernelS: number;
  /** Fixed cost per forward step: launch of the step, synchronisation, scheduling (s). */
  stepS: number;
  /** Cost per running sequence per step: scheduling, sampling, detokenising on the host (s). */
  sequenceS: number;
  /** Fraction of link bandwidth collectives reach. */
  link: number;
  /** Scale of the links' per-call latency (1 in the estimate, 0 in the ideal bound). */
  alpha: number;
  /** Serving only: fixed latency of a request before its first token beyond GPU steps (HTTP, tokenising, routing). */
  requestS: number;
  /**
   * Serving only: share of a closed loop's users that arrive in synchronised waves (identical requests finish
   * together and come back together) rather than spread out; a wave's prompts queue behind one another.
   */
  burst: number;
  /**
   * Serving only: waves last while the prompts of a wave take a small share of a request's cycle. With x = users ·
   * (time a wave's prompt takes) / (generation time of a request), the share in waves is burst · h / (h + x)
   * (0: no decay).
   */
  burstHalf: number;
}

export const IDEAL: Efficiency = {
  gemm: 1,
  gemmHalfM: 0,
  expertGemm: 1,
  expertHalfM: 0,
  fp8: 1,
  fp4: 1,
  attention: 1,
  memory: 1,
  kernelS: 0,
  stepS: 0,
  sequenceS: 0,
  link: 1,
  alpha: 0,
  requestS: 0,
  burst: 0,
  burstHalf: 0,
};

/** Serving engines whose host costs are calibrated apart. */
export type EngineId = 'vllm' | 'sglang' | 'trtllm';
export const ENGINES: readonly EngineId[] = ['vllm', 'sglang', 'trtllm'];

/** Host-side costs of one engine (scheduler, sampling, detokenising): they replace the class's own. */
export type EngineCosts = Pick<Efficiency, 'stepS' | 'sequenceS' | 'requestS' | 'burst'> & {
  burstHalf?: number;
};

export interface CalibrationTable {
  provenance: string;
  /** Measured rows behind each class and engine, by data set. */
  classes: Record<string, Efficiency & { rows?: number; serving_rows?: number }>;
  engines: Partial<Record<EngineId, EngineCosts & { rows?: number }>>;
  /** Weight formats and engines with measured rows, per class (the confidence flag reads it). */
  coverage?: Record<string, { formats: string[]; engines: string[] }>;
}

const T = table as unknown as CalibrationTable;

/** GEMM efficiency at M rows under this table (≤ peak ≤ 1, so never faster than the ideal). */
export function gemmEfficiency(eff: Efficiency, m: number, grouped: boolean): number {
  const peak = grouped ? eff.expertGemm : eff.gemm;
  const half = grouped ? eff.expertHalfM : eff.gemmHalfM;
  return half > 0 ? (peak * m) / (m + half) : peak;
}

/** The efficiencies of a hardware class, with the host costs of an engine when named and calibrated. */
export function efficiencyFor(hwClass: string, engine?: string, t: CalibrationTable = T): Efficiency {
  const base = Object.hasOwn(t.classes, hwClass) ? t.classes[hwClass]! : t.classes['default']!;
  const e = engine && Object.hasOwn(t.engines, engine) ? t.engines[engine as EngineId] : undefined;
  const out: Efficiency = {
    gemm: base.gemm,
    gemmHalfM: base.gemmHalfM,
    expertGemm: base.expertGemm,
    expertHalfM: base.expertHalfM,
    fp8: base.fp8,
    fp4: base.fp4,
    attention: base.attention,
    memory: base.memory,
    kernelS: base.kernelS,
    stepS: base.stepS,
    sequenceS: base.sequenceS,
    link: base.link,
    alpha: base.alpha,
    requestS: base.requestS ?? 0,
    burst: base.burst ?? 0,
    burstHalf: 0,
  };
  if (e) {
    out.stepS = e.stepS;
    out.sequenceS = e.sequenceS;
    out.requestS = e.requestS;
    out.burst = e.burst;
    out.burstHalf = e.burstHalf ?? 0;
  }
  return out;
}

export const CALIBRATION_PROVENANCE = T.provenance;
export const CALIBRATION = T;
