/**
 * npm run calibrate: fits the estimate's efficiency table jointly to ALL measured data — the 127 throughput rows of
 * shared/reference/calibration/throughput.json and the serving rows of shared/reference/serving/measured.csv
 * (median TTFT and TPOT of a closed loop, predicted by the analytical steady state) — and writes
 * src/core/perf/calibration.json.
 *
 * Few parameters, shared by every model: per hardware generation the GEMM / grouped-GEMM efficiency curves, FP8
 * and FP4 factors, attention, bandwidth, kernel and link costs; per engine the host costs of a step and a sequence.
 * Coordinate descent on log-parameters inside physical bounds, minimising the mean capped |log(predicted /
 * measured)| of each group of rows, the groups weighted alike. Deterministic (fixed order, fixed steps).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hardwareClass } from '../src/core/hardware/spec.js';
import { formatFamily } from '../src/core/perf/confidence.js';
import {
  CALIBRATION,
  efficiencyFor,
  ENGINES,
  type CalibrationTable,
  type Efficiency,
  type EngineId,
} from '../src/core/perf/efficiency.js';
import { analyticCase, type AnalyticCase } from '../src/validation/analytic.js';
import { loadServingRows } from '../src/validation/measured.js';
import { loadRows, toCase, type Case } from '../src/validation/rows.js';

type Key = keyof Efficiency;
const BOUNDS: Record<Key, [number, number]> = {
  // Large GEMMs reach 60–85% of the dense peak in cuBLAS/CUTLASS measurements on Hopper and Blackwell: without a
  // floor, a generation whose dense rows are held out trades `gemm` against the FP4/FP8 factor (0.2 vs 0.84).
  gemm: [0.5, 0.95],
  // Half-efficiency rows no larger than a CTA tile (64–128 rows): the physical reason for the curve.
  gemmHalfM: [1, 128],
  expertGemm: [0.05, 0.95],
  expertHalfM: [0.5, 128],
  fp8: [0.5, 1],
  fp4: [0.4, 1],
  attention: [0.05, 0.9],
  memory: [0.4, 0.95],
  kernelS: [1e-7, 2e-5],
  stepS: [1e-5, 3e-2],
  // Host work per running sequence per step (scheduling, sampling, detokenising): tens of µs at most; a looser
  // bound lets one engine's slow model rows set a per-sequence cost that large decode batches then pay wholesale.
  sequenceS: [1e-8, 4e-5],
  // NVLink collectives reach 50–90% of the link in NCCL's own measurements; latency scale within 2× of the links'
  // 3–8 µs. Rows that hardly exercise the links (most of them) must not drag these to absurd values: left out of
  // the fit, Llama-3-70B's TP all-reduces took the latency scale to the old bound of 3 and its TPOT 15–22% over.
  link: [0.5, 1],
  alpha: [0.3, 2],
  requestS: [1e-4, 1],
  burst: [0.01, 1],
  // From waves that disperse as soon as their prompts take a few % of the cycle to waves that never do.
  burstHalf: [0.02, 20],
};
const START: Efficiency = {
  gemm: 0.7,
  gemmHalfM: 64,
  expertGemm: 0.5,
  expertHalfM: 16,
  fp8: 0.8,
  fp4: 0.6,
  attention: 0.4,
  memory: 0.8,
  kernelS: 3e-6,
  stepS: 5e-4,
  sequenceS: 1e-5,
  link: 0.7,
  alpha: 1,
  requestS: 0,
  burst: 0,
  burstHalf: 0,
};
/** Classes with serving rows fit everything; the others fit from throughput rows what those rows can tell. */
const SERVING_CLASSES = ['nvidia-hopper', 'nvidia-blackwell'];
const ALL_KEYS: Key[] = [
  'gemm',
  'gemmHalfM',
  'expertGemm',
  'expertHalfM',
  'fp8',
  'fp4',
  'attention',
  'memory',
  'kernelS',
  'stepS',
  'sequenceS',
  'link',
  'alpha',
];
const SMALL_KEYS: Key[] = ['gemm', 'attention', 'memory', 'kernelS', 'stepS', 'sequenceS'];
/** A residual beyond a factor e^1.5 ≈ 4.5 counts as that: a few unsupported rows do not steer the fit. */
const CAP = 1.5;

export interface Dataset {
  thr: Case[];
  serving: AnalyticCase[];
}

export function loadDataset(): Dataset {
  const serving: AnalyticCase[] = [];
  for (const r of loadServingRows()) {
    const c = analyticCase(r);
    if (!('error' in c)) serving.push(c);
  }
  return { thr: loadRows().map(toCase), serving };
}

const THR_GROUPS = ['throughput', 'static_batch', 'batch1_decode'];
const cap = (x: number) => (Number.isFinite(x) ? Math.min(Math.abs(x), CAP) : CAP);

/** Per-row residuals (log predicted / measured) of the throughput rows under a table. */
function thrResidual(c: Case, t: CalibrationTable): number {
  const p = c.predict(efficiencyFor(hardwareClass(c.hw), undefined, t)).estimate;
  return Math.log(p / c.row.value);
}

function servingResidual(c: AnalyticCase, t: CalibrationTable): [number, number] {
  const p = c.predict(efficiencyFor(c.hwClass, c.row.engine, t));
  return [Math.log((p.ttft_s * 1000) / c.row.ttft_ms), Math.log((p.tpot_s * 1000) / c.row.tpot_ms)];
}

const ENGINE_KEYS = ['stepS', 'sequenceS', 'requestS', 'burst', 'burstHalf'] as const;
type EngineKey = (typeof ENGINE_KEYS)[number];

interface Param {
  /** 'class' params change the rows of that class; 'engine' params the serving rows of that engine. */
  scope: { kind: 'class'; cls: string } | { kind: 'engine'; engine: EngineId };
  key: Key;
}

function get(t: CalibrationTable, p: Param): number {
  return p.scope.kind === 'class'
    ? t.classes[p.scope.cls]![p.key]
    : t.engines[p.scope.engine]![p.key as EngineKey]!;
}

function set(t: CalibrationTable, p: Param, v: number): void {
  if (p.scope.kind === 'class') t.classes[p.scope.cls]![p.key] = v;
  else t.engines[p.scope.engine]![p.key as EngineKey] = v;
}

/**
 * The loss: for each group of rows (throughput rows, agg TTFT, agg TPOT, disagg TTFT, disagg TPOT) the mean
 * capped |log error|, summed. Residuals are cached per row and recomputed only for the rows a parameter touches.
 */
class Objective {
  private thrR: number[] = [];
  private srvR: [number, number][] = [];
  constructor(
    private ds: Dataset,
    public t: CalibrationTable,
  ) {}
  private touched(p: Param): { thr: number[]; srv: number[] } {
    const thr: number[] = [];
    const srv: number[] = [];
    if (p.scope.kind === 'class') {
      const cls = p.scope.cls;
      this.ds.thr.forEach((c, i) => hardwareClass(c.hw) === cls && thr.push(i));
      this.ds.serving.forEach((c, i) => c.hwClass === cls && srv.push(i));
    } else {
      const e = p.scope.engine;
      this.ds.serving.forEach((c, i) => c.row.engine === e && srv.push(i));
    }
    return { thr, srv };
  }
  loss(thrR = this.thrR, srvR = this.srvR): number {
    // Groups: throughput, static batch, batch-1 decode rows; agg TTFT, agg TPOT, disagg TTFT, disagg TPOT.
    const sums = [0, 0, 0, 0, 0, 0, 0];
    const ns = [0, 0, 0, 0, 0, 0, 0];
    thrR.forEach((r, i) => {
      const g = THR_GROUPS.indexOf(this.ds.thr[i]!.group);
      sums[g]! += cap(r);
      ns[g]!++;
    });
    this.ds.serving.forEach((c, i) => {
      const g = c.row.mode === 'agg' ? 3 : 5;
      sums[g]! += cap(srvR[i]![0]);
      ns[g]!++;
      sums[g + 1]! += cap(srvR[i]![1]);
      ns[g + 1]!++;
    });
    let l = 0;
    for (let g = 0; g < sums.length; g++) if (ns[g]) l += sums[g]! / ns[g]!;
    return l;
  }
  /** Try value v for parameter p; keep it if the loss drops. */
  tryValue(p: Param, v: number, current: number, idx: { thr: number[]; srv: number[] }): number {
    const old = get(this.t, p);
    set(this.t, p, v);
    const thrR = [...this.thrR];
    const srvR = [...this.srvR];
    for (const i of idx.thr) thrR[i] = thrResidual(this.ds.thr[i]!, this.t);
    for (const i of idx.srv) srvR[i] = servingResidual(this.ds.serving[i]!, this.t);
    const l = this.loss(thrR, srvR);
    if (l < current - 1e-7) {
      this.thrR = thrR;
      this.srvR = srvR;
      return l;
    }
    set(this.t, p, old);
    return current;
  }
  /** Residuals of every row under the current table (after a caller edits the table directly). */
  refresh(): void {
    this.thrR = this.ds.thr.map((c) => thrResidual(c, this.t));
    this.srvR = this.ds.serving.map((c) => servingResidual(c, this.t));
  }
  descend(params: Param[], rounds: number, log?: (s: string) => void): number {
    this.refresh();
    let l = this.loss();
    log?.(`loss ${l.toFixed(4)} at start`);
    const idx = params.map((p) => this.touched(p));
    for (const f of [2, 1.4, 1.15, 1.05].slice(0, rounds + 1)) {
      for (let sweep = 0; sweep < 2; sweep++) {
        const before = l;
        params.forEach((p, i) => {
          const [lo, hi] = BOUNDS[p.key];
          for (const dir of [f, 1 / f]) {
            for (let k = 0; k < 4; k++) {
              const cur = get(this.t, p);
              const v = Math.min(hi, Math.max(lo, cur * dir));
              if (v === cur) break;
              const nl = this.tryValue(p, v, l, idx[i]!);
              if (nl === l) break;
              l = nl;
            }
          }
        });
        log?.(`step ×${f}: loss ${l.toFixed(4)}`);
        if (before - l < 1e-5) break;
      }
    }
    return l;
  }
}

const round3 = (v: number) => Number(v.toPrecision(3));

/** The efficiency table fitted to these rows. Deterministic: fixed start, parameter order and steps. */
export function fitCalibration(ds: Dataset, rounds = 3, log?: (s: string) => void): CalibrationTable {
  const t: CalibrationTable = { provenance: '', classes: {}, engines: {} };
  const thrClasses = [...new Set(ds.thr.map((c) => hardwareClass(c.hw)))].sort();
  for (const cls of new Set([...SERVING_CLASSES, ...thrClasses])) t.classes[cls] = { ...START };
  for (const e of ENGINES)
    t.engines[e] = {
      stepS: START.stepS,
      sequenceS: START.sequenceS,
      requestS: 0.05,
      burst: 0.3,
      burstHalf: 1,
    };
  const obj = new Objective(ds, t);
  const params: Param[] = [];
  for (const cls of SERVING_CLASSES)
    for (const key of ALL_KEYS) {
      // FP4 tensor cores exist from Blackwell on; Hopper runs FP4 weights on FP8 (weight-only) paths.
      if (key === 'fp4' && cls === 'nvidia-hopper') continue;
      params.push({ scope: { kind: 'class', cls }, key });
    }
  for (const e of ENGINES)
    for (const key of ENGINE_KEYS) params.push({ scope: { kind: 'engine', engine: e }, key });
  obj.descend(params, rounds, log);
  // Classes with throughput rows only start from Hopper's shape parameters and fit what their rows determine.
  for (const cls of thrClasses) {
    if (SERVING_CLASSES.includes(cls)) continue;
    t.classes[cls] = { ...t.classes['nvidia-hopper']! };
    const n = ds.thr.filter((c) => hardwareClass(c.hw) === cls).length;
    const keys: Key[] = n >= 20 ? SMALL_KEYS : ['memory'];
    obj.descend(
      keys.map((key) => ({ scope: { kind: 'class', cls }, key })),
      rounds,
      log,
    );
  }
  for (const c of Object.values(t.classes)) for (const k of ALL_KEYS) c[k] = round3(c[k]);
  for (const e of Object.values(t.engines)) for (const k of ENGINE_KEYS) e![k] = round3(e![k] ?? 0);
  // Unknown classes: Hopper's table (the most measured generation).
  t.classes['default'] = { ...t.classes['nvidia-hopper']! };
  return t;
}

/** Rows behind each class and engine, by data set (what calibration.json reports). */
function rowCounts(ds: Dataset, t: CalibrationTable): void {
  for (const [cls, c] of Object.entries(t.classes)) {
    c.rows = ds.thr.filter((x) => cls === 'default' || hardwareClass(x.hw) === cls).length;
    c.serving_rows = ds.serving.filter((x) => cls === 'default' || x.hwClass === cls).length;
  }
  for (const [e, c] of Object.entries(t.engines))
    c!.rows = ds.serving.filter((x) => x.row.engine === e).length;
}

/** Formats and engines with measured rows per class, for the confidence flag (confidence.ts). */
function coverage(ds: Dataset): Record<string, { formats: string[]; engines: string[] }> {
  const out: Record<string, { formats: Set<string>; engines: Set<string> }> = {};
  const add = (cls: string, format: string, engine: string | null) => {
    const o = (out[cls] ??= { formats: new Set(), engines: new Set() });
    o.formats.add(format);
    if (engine) o.engines.add(engine);
  };
  for (const c of ds.serving) add(c.hwClass, formatFamily(c.row.precision), c.row.engine);
  for (const c of ds.thr) add(hardwareClass(c.hw), formatFamily(c.row.precision), null);
  return Object.fromEntries(
    Object.entries(out)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, { formats: [...v.formats].sort(), engines: [...v.engines].sort() }]),
  );
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const t0 = Date.now();
  const ds = loadDataset();
  const t = fitCalibration(ds, 3, (s) => console.error(s));
  rowCounts(ds, t);
  const out = {
    provenance:
      `fitted by scripts/calibrate.ts (npm run calibrate) jointly to ${ds.thr.length} rows of ` +
      `shared/reference/calibration/throughput.json (TensorRT-LLM perf overview v1.0 and blogs, gpt-fast README) and ` +
      `${ds.serving.length} rows of shared/reference/serving/measured.csv (aiconfigurator silicon_sample.csv, ` +
      `ai-dynamo/aiconfigurator@095f58a, Apache-2.0; median TTFT/TPOT through the analytical steady state ` +
      `core/perf/steady.ts); rows: throughput rows per class, serving_rows: serving rows per class; engines: ` +
      `serving rows per engine`,
    classes: t.classes,
    engines: t.engines,
    coverage: coverage(ds),
  };
  void CALIBRATION;
  writeFileSync(
    fileURLToPath(new URL('../src/core/perf/calibration.json', import.meta.url)),
    JSON.stringify(out, null, 2) + '\n',
  );
  console.log(JSON.stringify(out, null, 1));
  console.log(`fitted in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
