/**
 * Fits the training estimate's compute efficiency per calibration group (train-efficiency.ts) to published runs:
 * each group's value minimises the median |log(predicted / measured)| tokens/s per GPU over its runs.
 */
import { hardwareClass } from '../src/core/hardware/spec.js';
import { calibrationKeys, type TrainCalibration } from '../src/core/perf/train-efficiency.js';
import { trainTime } from '../src/core/perf/train-time.js';
import type { TrainRecord } from './train-records.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

export function predict(r: TrainRecord, cal: TrainCalibration): number {
  return trainTime(r.spec, r.hw, { ...r.run, calibration: cal }).tokens_per_s_per_gpu;
}

function isMoe(r: TrainRecord): boolean {
  return r.spec.groups.some((g) => g.mlp?.kind === 'moe');
}

/** Every key a record can be looked up under, most specific first (as trainEfficiency does). */
export function keysOf(r: TrainRecord): string[] {
  return calibrationKeys(hardwareClass(r.hw), r.run.precision, isMoe(r));
}

const GRID = Array.from({ length: 181 }, (_, i) => 0.15 + i * 0.005);

export function fit(records: readonly TrainRecord[]): TrainCalibration {
  const members = new Map<string, TrainRecord[]>();
  for (const r of records) for (const k of keysOf(r)) members.set(k, [...(members.get(k) ?? []), r]);
  const groups: Record<string, number> = {};
  for (const [key, rs] of members) {
    let best = GRID[0]!;
    let bestErr = Infinity;
    for (const e of GRID) {
      const cal = { groups: { [key]: e } };
      const err = median(rs.map((r) => Math.abs(Math.log(predictAt(r, key, cal) / r.target))));
      if (err < bestErr) [best, bestErr] = [e, err];
    }
    groups[key] = Math.round(best * 1000) / 1000;
  }
  return { groups };
}

/** A record's prediction with the efficiency of one given key (the group being fitted). */
function predictAt(r: TrainRecord, key: string, cal: TrainCalibration): number {
  // Give the record only this key, so the lookup lands on it whatever the record's more specific keys are.
  const only: TrainCalibration = { groups: Object.fromEntries(keysOf(r).map((k) => [k, cal.groups[key]!])) };
  return predict(r, only);
}

export { median };
