/**
 * npm run calibrate: fits the estimate's efficiency table to the measured rows and writes
 * src/core/perf/calibration.json. Per hardware class, coordinate descent over a few physical parameters inside
 * physical bounds, minimising the median (plus a tenth of the mean) of |log(predicted / measured)|.
 * Classes with fewer than 20 rows fit the memory efficiency alone and keep the pooled values for the rest.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hardwareClass } from '../src/core/hardware/spec.js';
import type { Efficiency } from '../src/core/perf/efficiency.js';
import { loadRows, median, mean, toCase, type Case } from '../src/validation/rows.js';

type Key = 'gemm' | 'expertGemm' | 'attention' | 'memory' | 'kernelS' | 'stepS' | 'sequenceS' | 'link';
const BOUNDS: Record<Key, [number, number]> = {
  gemm: [0.2, 0.95],
  expertGemm: [0.05, 0.95],
  attention: [0.1, 0.9],
  memory: [0.4, 0.95],
  kernelS: [0, 20e-6],
  stepS: [0, 20e-3],
  sequenceS: [0, 50e-6],
  link: [0.3, 1],
};
const START: Efficiency = {
  gemm: 0.6,
  expertGemm: 0.4,
  attention: 0.4,
  memory: 0.75,
  kernelS: 3e-6,
  stepS: 5e-4,
  sequenceS: 0,
  link: 0.7,
  alpha: 1,
};

function loss(cases: Case[], eff: Efficiency): number {
  const errs = cases.map((c) => Math.abs(Math.log(c.predict(eff).estimate / c.row.value)));
  return median(errs) + 0.1 * mean(errs);
}

function fit(cases: Case[], start: Efficiency, keys: Key[]): Efficiency {
  let best = { ...start };
  let bestLoss = loss(cases, best);
  for (let round = 0; round < 4; round++) {
    for (const k of keys) {
      const [lo, hi] = BOUNDS[k];
      for (let i = 0; i <= 24; i++) {
        const trial = { ...best, [k]: lo + ((hi - lo) * i) / 24 };
        const l = loss(cases, trial);
        if (l < bestLoss - 1e-9) {
          best = trial;
          bestLoss = l;
        }
      }
    }
  }
  return best;
}

const round = (e: Efficiency): Efficiency =>
  Object.fromEntries(
    Object.entries(e).map(([k, v]) => [k, Number(v.toPrecision(3))]),
  ) as unknown as Efficiency;

/** The efficiency table fitted to these cases: a pooled default, then each hardware class. */
export function fitTable(cases: Case[]): Record<string, Efficiency & { rows: number }> {
  const all: Key[] = ['gemm', 'expertGemm', 'attention', 'memory', 'kernelS', 'stepS', 'sequenceS'];
  const pooled = round(fit(cases, START, all));
  const classes: Record<string, Efficiency & { rows: number }> = {
    default: { ...pooled, rows: cases.length },
  };
  const byClass = new Map<string, Case[]>();
  for (const c of cases) byClass.set(hardwareClass(c.hw), [...(byClass.get(hardwareClass(c.hw)) ?? []), c]);
  for (const [cls, cs] of byClass) {
    const keys: Key[] = cs.length >= 20 ? all : ['memory'];
    classes[cls] = { ...round(fit(cs, pooled, keys)), rows: cs.length };
  }
  return classes;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const cases = loadRows().map(toCase);
  const out = {
    provenance: `fitted by scripts/calibrate.ts to ${cases.length} measured rows of shared/reference/calibration/throughput.json (TensorRT-LLM perf overview v1.0 and blogs, gpt-fast README); classes with fewer than 20 rows fit memory efficiency only`,
    classes: fitTable(cases),
  };
  writeFileSync(
    fileURLToPath(new URL('../src/core/perf/calibration.json', import.meta.url)),
    JSON.stringify(out, null, 2) + '\n',
  );
  console.log(JSON.stringify(out, null, 1));
}
