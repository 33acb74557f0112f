/** npm run validate: predicted vs measured for every calibration row, then median and mean absolute % error. */
import { hardwareClass } from '../src/core/hardware/spec.js';
import { loadRows, mean, median, toCase, type Scored } from '../src/validation/rows.js';

export function scoreAll(): Scored[] {
  return loadRows().map((row) => {
    const c = toCase(row);
    const p = c.predict();
    return {
      row,
      group: c.group,
      hwClass: hardwareClass(c.hw),
      measured: row.value,
      estimate: p.estimate,
      ideal: p.ideal,
      estimateError: p.estimate / row.value - 1,
      idealError: p.ideal / row.value - 1,
    };
  });
}

export function summary(scored: Scored[]) {
  const by = new Map<string, Scored[]>();
  for (const s of scored) {
    for (const k of [s.group, `${s.group}:${s.hwClass}`, 'overall']) by.set(k, [...(by.get(k) ?? []), s]);
  }
  return [...by.entries()].map(([group, rows]) => ({
    group,
    rows: rows.length,
    estimate_median_abs_pct: 100 * median(rows.map((r) => Math.abs(r.estimateError))),
    estimate_mean_abs_pct: 100 * mean(rows.map((r) => Math.abs(r.estimateError))),
    ideal_median_abs_pct: 100 * median(rows.map((r) => Math.abs(r.idealError))),
    ideal_mean_abs_pct: 100 * mean(rows.map((r) => Math.abs(r.idealError))),
  }));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const scored = scoreAll();
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`;
  for (const s of scored) {
    const r = s.row;
    console.log(
      [
        r.source_group.padEnd(26),
        r.model.slice(0, 34).padEnd(34),
        r.gpu.slice(0, 14).padEnd(14),
        r.parallelism.padEnd(4),
        r.precision.padEnd(8),
        `${r.input_len}/${r.output_len ?? '-'}`.padEnd(11),
        `meas ${r.value}`.padEnd(12),
        `est ${s.estimate.toFixed(0)} ${pct(s.estimateError)}`.padEnd(22),
        `ideal ${s.ideal.toFixed(0)} ${pct(s.idealError)}`,
      ].join(' '),
    );
  }
  console.log('');
  for (const g of summary(scored)) {
    console.log(
      `${g.group.padEnd(34)} n=${String(g.rows).padEnd(4)} estimate median ${g.estimate_median_abs_pct.toFixed(1)}% mean ${g.estimate_mean_abs_pct.toFixed(1)}% | ideal median ${g.ideal_median_abs_pct.toFixed(1)}% mean ${g.ideal_mean_abs_pct.toFixed(1)}%`,
    );
  }
}
