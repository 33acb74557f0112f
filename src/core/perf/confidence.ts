/**
 * Whether a prediction rests on measured rows: the calibration (calibration.json `coverage`) records, per hardware
 * class, the weight formats and serving engines it was fitted on. Anything else borrows parameters fitted
 * elsewhere (another generation's table, another format's factor, another engine's host costs): extrapolated.
 */
import { CALIBRATION, type CalibrationTable } from './efficiency.js';

export type ConfidenceLevel = 'calibrated' | 'extrapolated';

export interface Confidence {
  level: ConfidenceLevel;
  /** Why, in a sentence (empty reasons are never returned for 'extrapolated'). */
  reason: string;
}

/** The family a weight format is calibrated as: FP8 variants alike, 16-bit alike, 4-bit integer schemes alike. */
export function formatFamily(format: string): string {
  const f = format.trim().toLowerCase();
  if (f.startsWith('fp8')) return 'fp8';
  if (f === 'bf16' || f === 'fp16' || f === 'float16' || f === 'bfloat16') return 'bf16';
  if (f === 'fp4') return 'nvfp4';
  if (/^(int4|awq-int4|gptq-int4)/.test(f)) return 'int4';
  return f;
}

/** 'calibrated' when measured rows cover this class, format and (if named) engine; else why not. */
export function confidenceFor(
  hwClass: string,
  format: string,
  engine?: string | null,
  table: CalibrationTable = CALIBRATION,
): Confidence {
  const cov = table.coverage ?? {};
  const c = Object.hasOwn(cov, hwClass) ? cov[hwClass] : undefined;
  if (!c) {
    return {
      level: 'extrapolated',
      reason: `no measured rows on ${hwClass} hardware: its efficiencies are ${Object.hasOwn(table.classes, hwClass) ? 'borrowed in part' : 'those of the default class'}`,
    };
  }
  const fam = formatFamily(format);
  if (!c.formats.includes(fam)) {
    return {
      level: 'extrapolated',
      reason: `no measured ${fam} rows on ${hwClass} (measured: ${c.formats.join(', ')})`,
    };
  }
  if (engine && !c.engines.includes(engine)) {
    return {
      level: 'extrapolated',
      reason: `no measured ${engine} serving rows on ${hwClass} (measured: ${c.engines.join(', ') || 'none'})`,
    };
  }
  return {
    level: 'calibrated',
    reason: `fitted on measured ${fam} rows on ${hwClass}${engine ? ` served by ${engine}` : ''}`,
  };
}
