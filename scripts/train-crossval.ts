/**
 * Leave-one-source-out over the published training runs: for each source (a repository document), fit the
 * efficiencies on every other source's runs and predict this one's tokens/s per GPU. Prints the median absolute
 * error overall, per framework and per GPU, and every run with --all.
 */
import { fit, median, predict } from './train-fit.js';
import { loadTrainRecords, type TrainRecord } from './train-records.js';

const records = loadTrainRecords();
const sources = [...new Set(records.map((r) => r.source))];
const rows: { r: TrainRecord; pred: number; err: number }[] = [];
for (const s of sources) {
  const cal = fit(records.filter((r) => r.source !== s));
  for (const r of records.filter((x) => x.source === s)) {
    const pred = predict(r, cal);
    rows.push({ r, pred, err: pred / r.target - 1 });
  }
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
function table(title: string, key: (r: TrainRecord) => string): void {
  const by = new Map<string, number[]>();
  for (const x of rows) by.set(key(x.r), [...(by.get(key(x.r)) ?? []), Math.abs(x.err)]);
  console.log(`\n${title}`);
  for (const [k, v] of [...by].sort())
    console.log(`  ${k.padEnd(44)} n=${String(v.length).padStart(3)}  median |err| ${pct(median(v))}`);
}

if (process.argv.includes('--all'))
  for (const x of rows)
    console.log(
      `${x.r.id.padEnd(60)} measured ${x.r.target.toFixed(0).padStart(7)}  predicted ${x.pred.toFixed(0).padStart(7)}  ${pct(x.err)}`,
    );
table('per framework', (r) => r.framework);
table('per GPU', (r) => r.gpu);
table('per source', (r) => r.source);
const abs = rows.map((x) => Math.abs(x.err));
console.log(
  `\nleave-one-source-out over ${rows.length} runs (${sources.length} sources): median |err| ${pct(median(abs))}, ` +
    `within 15%: ${abs.filter((e) => e <= 0.15).length}, within 30%: ${abs.filter((e) => e <= 0.3).length}`,
);
