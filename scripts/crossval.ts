/**
 * npm run crossval: leave-one-model-out. For each model, fit the efficiency table without its rows, then predict
 * them: how the estimate does on measurements it was not fitted to.
 */
import { hardwareClass } from '../src/core/hardware/spec.js';
import { loadRows, mean, median, toCase, type Case } from '../src/validation/rows.js';
import { fitTable } from './calibrate.js';

const cases = loadRows().map(toCase);
const models = [...new Set(cases.map((c) => c.row.model))];
const errors: { group: string; err: number }[] = [];
for (const model of models) {
  const train = cases.filter((c) => c.row.model !== model);
  const test: Case[] = cases.filter((c) => c.row.model === model);
  const table = fitTable(train);
  for (const c of test) {
    const eff = table[hardwareClass(c.hw)] ?? table['default']!;
    const err = c.predict(eff).estimate / c.row.value - 1;
    errors.push({ group: c.group, err });
  }
  const e = test.map((c) =>
    Math.abs(c.predict(table[hardwareClass(c.hw)] ?? table['default']!).estimate / c.row.value - 1),
  );
  console.log(
    `${model.padEnd(40)} n=${String(test.length).padEnd(3)} held-out median abs ${(100 * median(e)).toFixed(1)}%`,
  );
}
for (const g of ['throughput', 'static_batch', 'batch1_decode']) {
  const e = errors.filter((x) => x.group === g).map((x) => Math.abs(x.err));
  console.log(
    `${g.padEnd(16)} n=${e.length} held-out median abs ${(100 * median(e)).toFixed(1)}% mean ${(100 * mean(e)).toFixed(1)}%`,
  );
}
