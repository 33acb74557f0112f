/**
 * The planner's Done-when figure on measured deployments (`npm run plan:check [-- options]`):
 * for every slice (model, system, engine, ISL, OSL) of ../shared/reference/serving/measured.csv with ≥ 4
 * configurations and a TPOT limit = the slice's median measured TPOT, is the configuration the planner ranks best
 * by its own predictions (predictRow) within 10% of the measured best tokens/s per GPU, without missing the limit
 * by more than 10%?
 *
 * Options: --csv FILE (default the shared measured.csv), --save FILE / --load FILE (predictions as JSON, so the
 * figure can be recomputed without simulating again), --json, --limit-slices N (the first N slices only).
 * Rows whose GPU count the data does not state (disaggregated rows without worker counts) are left out: their
 * tokens/s per GPU is not defined by the measurement. A configuration is counted once: rows that repeat one (the same
 * layout, formats and concurrency measured again) are one configuration with the median of their measurements, and
 * rows that repeat a run under tp_size = tp · moe_tp (measured.ts relabel) are read as the run they repeat.
 * --synthetic S1,S2,…: instead, the figure of predictions with log-normal errors of each sigma (seeded), per margin.
 * --lomo: predictions by efficiency tables fitted without the configuration's model family (slow: one fit per
 * family). --margin F: the planner's margin on the limit (default half the 10% tolerance, limits.ts); --per-row: every row a
 * configuration, as before.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, planCheck, syntheticFraction, type MeasuredConfig } from '../src/core/planner/check.js';
import { checkMargin } from '../src/core/planner/limits.js';
import { csvRecords } from '../src/validation/csv.js';
import { efficiencyFor } from '../src/core/perf/efficiency.js';
import { familyOf, relabelRecord } from '../src/validation/measured.js';
import {
  predictRow,
  rowConcurrency,
  type PredictRowOptions,
  type ServingRow,
} from '../src/validation/serving-rows.js';
import { fitCalibration, loadDataset } from './calibrate.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const MEASURED_CSV = join(HERE, '..', '..', 'shared', 'reference', 'serving', 'measured.csv');

const n = (v: string | undefined, d: number) => (v === undefined || v === '' ? d : Number(v));

/** GPUs a row states: agg tp·pp·attention_dp; disagg the workers of each side times their GPUs; null if unstated. */
export function rowGpus(r: ServingRow): number | null {
  const group = (p: string) =>
    n(r[`${p}tp_size`], 1) * n(r[`${p}pp_size`], 1) * n(r[`${p}attention_dp_size`], 1);
  if (r.mode !== 'disagg') return group('');
  if (!r.prefill_num_workers || !r.decode_num_workers) return null;
  return Number(r.prefill_num_workers) * group('prefill_') + Number(r.decode_num_workers) * group('decode_');
}

/**
 * An aggregated row that repeats a run under another labelling of its layout (tp_size = tp · moe_tp beyond one
 * NVLink domain, and the same labelling of attention DP) as that run: the reading of src/validation/measured.ts,
 * which the calibration uses too.
 */
export const relabelRow = (r: ServingRow): ServingRow => relabelRecord(r);

/** Everything that makes a row's configuration (not its provenance, version or measurements). */
const CONFIG_COLUMNS = [
  'mode',
  'precision',
  'gemm_quant_mode',
  'moe_quant_mode',
  'batch_size',
  ...['', 'prefill_', 'decode_'].flatMap((p) =>
    ['tp_size', 'pp_size', 'attention_dp_size', 'moe_tp_size', 'moe_ep_size'].map((k) => p + k),
  ),
  ...['prefill_', 'decode_'].flatMap((p) => ['batch_size', 'num_workers'].map((k) => p + k)),
];

export const configKey = (r: ServingRow) =>
  [sliceKey(r), rowConcurrency(r), ...CONFIG_COLUMNS.map((k) => r[k] ?? '')].join('|');

export const sliceKey = (r: ServingRow) => [r.model_path, r.system, r.backend, r.isl, r.osl].join(' | ');

/** A configuration as measured: its first row (relabelled), GPUs, and the median of its rows' measurements. */
export interface MeasuredRow {
  row: ServingRow;
  gpus: number;
  ttft_ms: number;
  tpot_ms: number;
  /** Rows measuring it. */
  rows: number;
}

/** The configurations of the rows that state their GPU count and measured figures (each row one with perRow). */
export function measuredRows(rows: readonly ServingRow[], o: { perRow?: boolean } = {}): MeasuredRow[] {
  const groups = new Map<string, { row: ServingRow; gpus: number; ttft: number[]; tpot: number[] }>();
  rows.forEach((raw, i) => {
    const row = o.perRow ? raw : relabelRow(raw);
    const gpus = rowGpus(row);
    const ttft = Number(row.silicon_ttft_ms);
    const tpot = Number(row.silicon_tpot_ms);
    if (!gpus || !(tpot > 0) || !(ttft > 0)) return;
    const key = o.perRow ? `row ${i}` : configKey(row);
    const g = groups.get(key) ?? { row, gpus, ttft: [], tpot: [] };
    g.ttft.push(ttft);
    g.tpot.push(tpot);
    groups.set(key, g);
  });
  return [...groups.values()].map((g) => ({
    row: g.row,
    gpus: g.gpus,
    ttft_ms: median(g.ttft),
    tpot_ms: median(g.tpot),
    rows: g.ttft.length,
  }));
}

export function configsOf(
  rows: readonly MeasuredRow[],
  predict: (row: ServingRow) => { ttft_ms: number; tpot_ms: number } | null,
): MeasuredConfig[] {
  return rows.map(({ row, gpus, ttft_ms, tpot_ms }) => ({
    id: row.id!,
    slice: sliceKey(row),
    users: rowConcurrency(row),
    osl: Number(row.osl),
    gpus,
    measured: { ttft_ms, tpot_ms },
    predicted: predict(row),
  }));
}

export type Prediction = { ttft_ms: number; tpot_ms: number } | null;

export function safePredict(row: ServingRow, options: PredictRowOptions = {}): Prediction {
  try {
    const p = predictRow(row, options);
    return Number.isFinite(p.tpot_ms) && Number.isFinite(p.ttft_ms) ? p : null;
  } catch {
    return null;
  }
}

/** Cache key of a row's prediction: its id and the layout it is simulated with (relabelled rows differ). */
const predictionKey = (row: ServingRow) => `${row.id}|tp${row.tp_size ?? ''}|moe_tp${row.moe_tp_size ?? ''}`;

/**
 * Leave-one-model-out: for each model family, the efficiency table fitted without its rows (npm run calibrate's
 * fit, as npm run crossval does) predicts that family's configurations.
 */
function lomoPredictor(
  rows: readonly MeasuredRow[],
  log: (s: string) => void,
): (row: ServingRow) => Prediction {
  const ds = loadDataset();
  const rounds = Number(process.env['CROSSVAL_ROUNDS'] ?? 2);
  const out = new Map<string, Prediction>();
  const fams = [...new Set(rows.map((r) => familyOf(r.row.model_path ?? '')))].sort();
  for (const fam of fams) {
    const t0 = Date.now();
    const t = fitCalibration(
      {
        thr: ds.thr.filter((c) => familyOf(c.row.model) !== fam),
        serving: ds.serving.filter((c) => c.row.family !== fam),
      },
      rounds,
    );
    let n = 0;
    for (const { row } of rows)
      if (familyOf(row.model_path ?? '') === fam) {
        out.set(
          predictionKey(row),
          safePredict(row, { efficiencyFor: (cls) => efficiencyFor(cls, row.backend, t) }),
        );
        n++;
      }
    log(
      `${fam}: ${n} configurations predicted by the table fitted without them (${((Date.now() - t0) / 1e3).toFixed(0)} s)`,
    );
  }
  return (row) => out.get(predictionKey(row)) ?? null;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function main(): void {
  const margin = arg('--margin');
  const bad = margin === undefined ? null : checkMargin(Number(margin));
  if (bad) {
    process.stderr.write(`--margin: ${bad}\n`);
    process.exit(2);
  }
  const file = arg('--csv') ?? MEASURED_CSV;
  const all = csvRecords(readFileSync(file, 'utf8'));
  const perRow = process.argv.includes('--per-row');
  let rows = measuredRows(all, { perRow });
  const limit = arg('--limit-slices');
  if (limit) {
    const keep = new Set([...new Set(rows.map((r) => sliceKey(r.row)))].slice(0, Number(limit)));
    rows = rows.filter((r) => keep.has(sliceKey(r.row)));
  }
  const load = arg('--load');
  const cached: Record<string, Prediction> = load ? JSON.parse(readFileSync(load, 'utf8')) : {};
  const started = Date.now();
  // --synthetic draws its own predictions: nothing to simulate.
  const synthetic = arg('--synthetic');
  const lomo = process.argv.includes('--lomo')
    ? lomoPredictor(rows, (s) => process.stderr.write(s + '\n'))
    : null;
  let done = 0;
  const configs = configsOf(rows, (row) => {
    if (synthetic !== undefined) return null;
    const key = predictionKey(row);
    const p = key in cached ? cached[key]! : (cached[key] = lomo ? lomo(row) : safePredict(row));
    if (++done % 200 === 0 && process.stderr.isTTY)
      process.stderr.write(`\r${done}/${rows.length} configurations predicted`);
    return p;
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  const save = arg('--save');
  if (save) writeFileSync(save, JSON.stringify(cached));
  if (synthetic !== undefined) {
    // What accuracy the goal needs: the figure of predictions with log-normal errors of each sigma, per margin.
    for (const sigma of synthetic.split(',').map(Number))
      process.stdout.write(
        `sigma ${sigma}: ` +
          [0, 0.025, 0.05, 0.075]
            .map(
              (m) =>
                `margin ${100 * m}% → ${(100 * syntheticFraction(configs, sigma, { margin: m })).toFixed(1)}%`,
            )
            .join(', ') +
          '\n',
      );
    return;
  }
  const fig = planCheck(configs, margin === undefined ? {} : { margin: Number(margin) });
  const seconds = (Date.now() - started) / 1e3;
  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify(fig, null, 2) + '\n');
    return;
  }
  for (const v of fig.verdicts)
    process.stdout.write(
      `${v.ok ? 'ok  ' : 'MISS'} ${v.slice} (${v.configs} configs, TPOT ≤ ${v.tpot_limit_ms.toFixed(2)} ms): ` +
        (v.chosen
          ? `pick ${v.chosen} → ${(100 * v.ratio!).toFixed(1)}% of best, TPOT ${(100 * v.limit_miss!).toFixed(1)}% vs limit`
          : 'no configuration predicted to meet the limit') +
        '\n',
    );
  const left = all.filter((r) => !rowGpus(perRow ? r : relabelRow(r))).length;
  const used = rows.reduce((s, r) => s + r.rows, 0);
  process.stdout.write(
    `\n${fig.ok}/${fig.slices} slices (${(100 * fig.fraction_ok).toFixed(1)}%) within 10% of the measured best ` +
      `tokens/s per GPU and ≤ 10% over the TPOT limit (goal ≥ 90%); ${fig.over_limit} over the limit, ` +
      `${fig.no_pick} with no pick; planner margin ${(100 * fig.margin).toFixed(1)}%; ${lomo ? 'leave-one-model-out tables; ' : ''}` +
      `${rows.length} configurations from ${used} rows (${left} rows without a stated GPU count left out), ` +
      `${seconds.toFixed(0)} s\n`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
