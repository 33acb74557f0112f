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
 * tokens/s per GPU is not defined by the measurement.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planCheck, type MeasuredConfig } from '../src/core/planner/check.js';
import { csvRecords } from '../src/validation/csv.js';
import { predictRow, rowConcurrency, type ServingRow } from '../src/validation/serving-rows.js';

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

export const sliceKey = (r: ServingRow) => [r.model_path, r.system, r.backend, r.isl, r.osl].join(' | ');

/** The rows that state their GPU count and measured figures, as configurations of their slice. */
export function measuredRows(rows: readonly ServingRow[]): { row: ServingRow; gpus: number }[] {
  const out: { row: ServingRow; gpus: number }[] = [];
  for (const row of rows) {
    const gpus = rowGpus(row);
    if (!gpus || !(Number(row.silicon_tpot_ms) > 0) || !(Number(row.silicon_ttft_ms) > 0)) continue;
    out.push({ row, gpus });
  }
  return out;
}

export function configsOf(
  rows: readonly { row: ServingRow; gpus: number }[],
  predict: (row: ServingRow) => { ttft_ms: number; tpot_ms: number } | null,
): MeasuredConfig[] {
  return rows.map(({ row, gpus }) => ({
    id: row.id!,
    slice: sliceKey(row),
    users: rowConcurrency(row),
    osl: Number(row.osl),
    gpus,
    measured: { ttft_ms: Number(row.silicon_ttft_ms), tpot_ms: Number(row.silicon_tpot_ms) },
    predicted: predict(row),
  }));
}

export function safePredict(row: ServingRow): { ttft_ms: number; tpot_ms: number } | null {
  try {
    const p = predictRow(row);
    return Number.isFinite(p.tpot_ms) && Number.isFinite(p.ttft_ms) ? p : null;
  } catch {
    return null;
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function main(): void {
  const file = arg('--csv') ?? MEASURED_CSV;
  const all = csvRecords(readFileSync(file, 'utf8'));
  let rows = measuredRows(all);
  const limit = arg('--limit-slices');
  if (limit) {
    const keep = new Set([...new Set(rows.map((r) => sliceKey(r.row)))].slice(0, Number(limit)));
    rows = rows.filter((r) => keep.has(sliceKey(r.row)));
  }
  const load = arg('--load');
  const cached: Record<string, { ttft_ms: number; tpot_ms: number } | null> = load
    ? JSON.parse(readFileSync(load, 'utf8'))
    : {};
  const started = Date.now();
  let done = 0;
  const configs = configsOf(rows, (row) => {
    const p = row.id! in cached ? cached[row.id!]! : (cached[row.id!] = safePredict(row));
    if (++done % 200 === 0 && process.stderr.isTTY)
      process.stderr.write(`\r${done}/${rows.length} rows predicted`);
    return p;
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  const save = arg('--save');
  if (save) writeFileSync(save, JSON.stringify(cached));
  const fig = planCheck(configs);
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
  const left = all.length - measuredRows(all).length;
  process.stdout.write(
    `\n${fig.ok}/${fig.slices} slices (${(100 * fig.fraction_ok).toFixed(1)}%) within 10% of the measured best ` +
      `tokens/s per GPU and ≤ 10% over the TPOT limit (goal ≥ 90%); ${fig.over_limit} over the limit, ` +
      `${fig.no_pick} with no pick; ${rows.length} configurations (${left} rows without a stated GPU count left out), ` +
      `${seconds.toFixed(0)} s\n`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
