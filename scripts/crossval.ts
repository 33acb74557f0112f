/**
 * npm run crossval: leave-one-model-out. For each model family (DeepSeek-R1/V3 share one config, as do Llama 3.1
 * and 3.3 70B), fit the efficiency table without its rows — throughput and serving — then predict them; report the
 * median absolute error of aggregated and disaggregated TTFT and TPOT per engine, per GPU system and per model,
 * and of the throughput groups. `--in-sample` scores the shipped calibration.json on every row instead.
 */
import Table from 'cli-table3';
import type { CalibrationTable } from '../src/core/perf/efficiency.js';
import {
  scoreServing,
  scoreThroughput,
  summariseServing,
  summariseThroughput,
  type ServingError,
  type ThroughputError,
} from '../src/validation/crossval.js';
import { familyOf } from '../src/validation/measured.js';
import { fitCalibration, loadDataset, type Dataset } from './calibrate.js';

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

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const ds = loadDataset();
  if (process.argv.includes('--in-sample')) {
    print(scoreServing(ds.serving), scoreThroughput(ds.thr));
  } else {
    const t0 = Date.now();
    const rounds = Number(process.env['CROSSVAL_ROUNDS'] ?? 2);
    const r = leaveOneOut(ds, { rounds, log: (s) => console.error(s) });
    print(r.serving, r.throughput);
    console.log(
      `held-out predictions of ${r.serving.length} serving rows in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
  }
}
