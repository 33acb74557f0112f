/**
 * Leave-one-model-out: for each model family, fit the efficiency table without its rows (throughput and serving),
 * then predict them. Errors are relative (predicted / measured − 1); summaries are median absolute errors.
 */
import { hardwareClass } from '../core/hardware/spec.js';
import { efficiencyFor, type CalibrationTable } from '../core/perf/efficiency.js';
import type { AnalyticCase } from './analytic.js';
import { familyOf } from './measured.js';
import { median, type Case, type RowGroup } from './rows.js';

export interface ServingError {
  id: string;
  family: string;
  mode: 'agg' | 'disagg';
  engine: string;
  system: string;
  /** Disaggregated: whether the row states its decode workers or the calibration assumes them (analytic.ts). */
  workers?: 'stated' | 'assumed';
  ttft: number;
  tpot: number;
}

export interface ThroughputError {
  model: string;
  family: string;
  group: RowGroup;
  hwClass: string;
  err: number;
}

export function scoreServing(cases: readonly AnalyticCase[], t?: CalibrationTable): ServingError[] {
  return cases.map((c) => {
    const p = c.predict(efficiencyFor(c.hwClass, c.row.engine, t));
    return {
      id: c.row.id,
      family: c.row.family,
      mode: c.row.mode,
      engine: c.row.engine,
      system: c.row.system,
      ...(c.row.decode
        ? { workers: c.row.decode.workersKnown ? ('stated' as const) : ('assumed' as const) }
        : {}),
      ttft: (p.ttft_s * 1000) / c.row.ttft_ms - 1,
      tpot: (p.tpot_s * 1000) / c.row.tpot_ms - 1,
    };
  });
}

export function scoreThroughput(cases: readonly Case[], t?: CalibrationTable): ThroughputError[] {
  return cases.map((c) => {
    const cls = hardwareClass(c.hw);
    return {
      model: c.row.model,
      family: familyOf(c.row.model),
      group: c.group,
      hwClass: cls,
      err: c.predict(efficiencyFor(cls, undefined, t)).estimate / c.row.value - 1,
    };
  });
}

export interface Summary {
  group: string;
  rows: number;
  ttft_median_abs_pct: number;
  tpot_median_abs_pct: number;
}

const pct = (xs: number[]) => 100 * median(xs.map(Math.abs));

/**
 * Median abs errors of aggregated and disaggregated rows, overall, per engine, per GPU system and per model; the
 * disaggregated rows also by whether their decode workers are stated or assumed.
 */
export function summariseServing(errs: readonly ServingError[]): Summary[] {
  const by = new Map<string, ServingError[]>();
  for (const e of errs) {
    for (const k of [
      e.mode,
      `${e.mode} engine=${e.engine}`,
      `${e.mode} system=${e.system}`,
      `${e.mode} model=${e.family}`,
      ...(e.workers ? [`${e.mode} workers=${e.workers}`] : []),
    ])
      by.set(k, [...(by.get(k) ?? []), e]);
  }
  return [...by.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([group, rows]) => ({
      group,
      rows: rows.length,
      ttft_median_abs_pct: pct(rows.map((r) => r.ttft)),
      tpot_median_abs_pct: pct(rows.map((r) => r.tpot)),
    }));
}

export function summariseThroughput(
  errs: readonly ThroughputError[],
): { group: string; rows: number; median_abs_pct: number }[] {
  const by = new Map<string, ThroughputError[]>();
  for (const e of errs) for (const k of [e.group, 'overall']) by.set(k, [...(by.get(k) ?? []), e]);
  return [...by.entries()].map(([group, rows]) => ({
    group,
    rows: rows.length,
    median_abs_pct: pct(rows.map((r) => r.err)),
  }));
}
