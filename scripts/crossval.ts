/**
 * npm run crossval: leave-one-model-out. For each model family (DeepSeek-R1/V3 share one config, as do Llama 3.1
 * and 3.3 70B), fit the efficiency table without its rows — throughput and serving — then predict them; report the
 * median absolute error of aggregated and disaggregated TTFT and TPOT per engine, per GPU system and per model,
 * and of the throughput groups. `--in-sample` scores the shipped calibration.json on every row instead; `--sim`
 * compares the discrete-event simulator with the analytical steady state the fit uses.
 */
import { readFileSync } from 'node:fs';
import Table from 'cli-table3';
import { efficiencyFor } from '../src/core/perf/efficiency.js';
import type { CalibrationTable } from '../src/core/perf/efficiency.js';
import {
  scoreServing,
  scoreThroughput,
  summariseServing,
  summariseThroughput,
  type ServingError,
  type ThroughputError,
} from '../src/validation/crossval.js';
import { familyOf, parseCsv, SERVING_CSV } from '../src/validation/measured.js';
import { median } from '../src/validation/rows.js';
import { predictRow } from '../src/validation/serving-rows.js';
import { fitCalibration, loadDataset, type Dataset } from './calibrate.js';
import { progress } from './progress.js';

export function leaveOneOut(
  ds: Dataset,
  opts: { families?: string[]; rounds?: number; log?: (s: string) => void } = {},
): { serving: ServingError[]; throughput: ThroughputError[] } {
  const fams =
    opts.families ??
    [
      ...new Set([...ds.serving.map((c) => c.row.family), ...ds.thr.map((c) => familyOf(c.row.model))]),
    ].sort();
  const serving: ServingError[] = [];
  const throughput: ThroughputError[] = [];
  for (const fam of fams) {
    const train: Dataset = {
      thr: ds.thr.filter((c) => familyOf(c.row.model) !== fam),
      serving: ds.serving.filter((c) => c.row.family !== fam),
    };
    const t: CalibrationTable = fitCalibration(train, opts.rounds);
    const s = scoreServing(
      ds.serving.filter((c) => c.row.family === fam),
      t,
    );
    const th = scoreThroughput(
      ds.thr.filter((c) => familyOf(c.row.model) === fam),
      t,
    );
    serving.push(...s);
    throughput.push(...th);
    opts.log?.(`${fam}: ${s.length} serving rows, ${th.length} throughput rows held out`);
  }
  return { serving, throughput };
}

function print(serving: ServingError[], throughput: ThroughputError[]): void {
  const t = new Table({ head: ['group', 'rows', 'TTFT median |err| %', 'TPOT median |err| %'] });
  for (const g of summariseServing(serving))
    t.push([g.group, g.rows, g.ttft_median_abs_pct.toFixed(1), g.tpot_median_abs_pct.toFixed(1)]);
  console.log(t.toString());
  const u = new Table({ head: ['throughput.json group', 'rows', 'estimate median |err| %'] });
  for (const g of summariseThroughput(throughput)) u.push([g.group, g.rows, g.median_abs_pct.toFixed(1)]);
  console.log(u.toString());
}

/**
 * --sim: the discrete-event simulator (validation/serving-rows.ts predictRow) on every row under the shipped table,
 * against the analytical steady state and the measurements. Both carry the engine's calibrated requestS (the
 * simulator as the front end's delay before a request enters the queue) and its wave share (the simulator by the
 * users' start times, core/serving/stagger.ts).
 */
function simCheck(ds: Dataset): void {
  const raw = parseCsv(readFileSync(SERVING_CSV, 'utf8'));
  const byId = new Map(raw.map((r) => [r['id']!, r]));
  type Pair = { mode: string; known: boolean; a: number[]; s: number[]; m: number[] };
  const out: Pair[] = [];
  let failed = 0;
  for (const c of ds.serving) {
    const eff = efficiencyFor(c.hwClass, c.row.engine);
    const a = c.predict(eff);
    try {
      const s = predictRow(byId.get(c.row.id)!, { efficiency: eff });
      out.push({
        mode: c.row.mode,
        known: c.row.mode === 'agg' || c.row.decode!.workersKnown,
        a: [a.ttft_s * 1e3, a.tpot_s * 1e3],
        s: [s.ttft_ms, s.tpot_ms],
        m: [c.row.ttft_ms, c.row.tpot_ms],
      });
    } catch {
      failed++;
    }
  }
  const pct = (x: number[]) => (100 * median(x.map(Math.abs))).toFixed(1);
  const t = new Table({
    head: ['rows', 'n', 'sim vs analytic TTFT/TPOT %', 'sim vs measured', 'analytic vs measured'],
  });
  const groups: [string, (p: Pair) => boolean][] = [
    ['agg', (p) => p.mode === 'agg'],
    ['disagg, workers given', (p) => p.mode === 'disagg' && p.known],
    ['disagg, workers inferred', (p) => p.mode === 'disagg' && !p.known],
  ];
  for (const [label, f] of groups) {
    const g = out.filter(f);
    const d = (i: number, x: 'a' | 's' | 'm', y: 'a' | 's' | 'm') =>
      pct(g.map((p) => p[x][i]! / p[y][i]! - 1));
    t.push([
      label,
      g.length,
      `${d(0, 's', 'a')} / ${d(1, 's', 'a')}`,
      `${d(0, 's', 'm')} / ${d(1, 's', 'm')}`,
      `${d(0, 'a', 'm')} / ${d(1, 'a', 'm')}`,
    ]);
  }
  console.log(t.toString());
  console.log(`${out.length} rows simulated, ${failed} refused by the simulator`);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const ds = loadDataset();
  if (process.argv.includes('--sim')) {
    simCheck(ds);
  } else if (process.argv.includes('--in-sample')) {
    print(scoreServing(ds.serving), scoreThroughput(ds.thr));
  } else {
    const t0 = Date.now();
    const rounds = Number(process.env['CROSSVAL_ROUNDS'] ?? 2);
    const fams = [
      ...new Set([...ds.serving.map((c) => c.row.family), ...ds.thr.map((c) => familyOf(c.row.model))]),
    ];
    const bar = progress('crossval: families held out', fams.length);
    const r = leaveOneOut(ds, { rounds, log: (s) => bar.tick(s) });
    bar.stop();
    print(r.serving, r.throughput);
    console.log(
      `held-out predictions of ${r.serving.length} serving rows in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
  }
}
