/**
 * The planner's search spread over worker threads (shared by `infersim plan` and POST /api/serving/plan, which
 * runs it off its event loop under a deadline), in core/planner's two phases: each worker estimates every n-th
 * configuration (estimatePlans); the caller chooses which to simulate from all the estimates
 * (selectForSimulation); each worker simulates every n-th of those (simulatePlans); the shards are merged
 * (mergePlans) into the same answer one thread gives. This file is both the caller and the worker's entry.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { InputError } from '../core/memory/inference.js';
import { PlanError } from '../core/parallel/plan.js';
import {
  estimatePlans,
  mergePlans,
  PlanInputError,
  selectForSimulation,
  simulatePlans,
  type EstimatePart,
  type JobEstimate,
  type PlanPart,
  type PlanRequest,
  type PlanResult,
} from '../core/planner/index.js';

type Msg =
  | { kind: 'total'; total: number }
  | { kind: 'progress'; done: number }
  | { kind: 'estimated'; part: EstimatePart }
  | { kind: 'done'; part: PlanPart }
  | { kind: 'error'; message: string; name: string; field: string | null };

/** The search did not end within its deadline (the workers were stopped). */
export class PlanTimeoutError extends Error {}

/** An error of a worker as the caller would have seen it thrown: input errors stay input errors (4xx, not 500). */
function rebuild(m: { message: string; name: string; field: string | null }): Error {
  if (m.name === 'PlanInputError') return new PlanInputError(m.message);
  if (m.name === 'InputError') return new InputError(m.message);
  if (m.name === 'PlanError') return new PlanError(m.message, m.field);
  return new Error(m.message);
}

const TAG = 'infersim-plan-shard';

/** Workers to use by default: the cores there are, less one for the main thread, at most 8. */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(8, availableParallelism() - 1));
}

/**
 * `thread`: search in worker threads even with one worker (off the caller's event loop: the server's route);
 * `timeoutMs`: stop the workers and throw PlanTimeoutError past it.
 */
export async function planInWorkers(
  r: PlanRequest,
  workers: number,
  onProgress?: (done: number, total: number) => void,
  opts: { thread?: boolean; timeoutMs?: number } = {},
): Promise<PlanResult> {
  if (workers <= 1 && !opts.thread) {
    // Progress over both phases: the estimates, then the simulations.
    let first = 0;
    const est = estimatePlans({ ...r, onProgress: (d, t) => ((first = t), onProgress?.(d, t)) });
    const chosen = selectForSimulation(r, [est]);
    const sim = simulatePlans({ ...r, onProgress: (d, t) => onProgress?.(first + d, first + t) }, chosen);
    return mergePlans(r, [est], [sim]);
  }
  workers = Math.max(1, workers);
  // Functions do not cross to a worker: progress comes back as messages.
  const request: PlanRequest = { ...r, onProgress: undefined };
  // Run from TypeScript (tsx, vitest), the worker first registers tsx's loader, then imports this module;
  // compiled, it is plain JavaScript.
  const self = import.meta.url;
  // (tsx/esm/api's ESM build sits beside the CommonJS one that require resolves.)
  const tsxApi = () =>
    pathToFileURL(
      createRequire(self)
        .resolve('tsx/esm/api')
        .replace(/\.cjs$/, '.mjs'),
    ).href;
  const script = self.endsWith('.ts')
    ? `import(${JSON.stringify(tsxApi())}).then((m) => { m.register(); return import(${JSON.stringify(self)}); })`
    : new URL(self);
  const done = new Array<number>(workers).fill(0);
  let total = 0;
  const started: Worker[] = [];
  let timer: NodeJS.Timeout | undefined;
  const deadline =
    opts.timeoutMs === undefined
      ? null
      : new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            for (const w of started) void w.terminate();
            reject(new PlanTimeoutError(`the search took longer than ${opts.timeoutMs! / 1000} s`));
          }, opts.timeoutMs);
        });
  // Each worker answers twice: its estimates, then (once the caller has chosen from all of them) its simulations.
  const estimated: ((p: EstimatePart) => void)[] = [];
  const finished: ((p: PlanPart) => void)[] = [];
  const failed: ((e: Error) => void)[] = [];
  const estimates = Array.from(
    { length: workers },
    (_, index) =>
      new Promise<EstimatePart>((resolve, reject) => {
        estimated[index] = resolve;
        failed[index] = reject;
      }),
  );
  const parts = Array.from(
    { length: workers },
    (_, index) =>
      new Promise<PlanPart>((resolve, reject) => {
        finished[index] = resolve;
        const prev = failed[index]!;
        failed[index] = (e) => (prev(e), reject(e));
      }),
  );
  for (let index = 0; index < workers; index++) {
    const w = new Worker(script, {
      eval: typeof script === 'string',
      workerData: { tag: TAG, request, shard: { index, count: workers } },
    });
    started.push(w);
    w.on('message', (m: Msg) => {
      if (m.kind === 'total') total += m.total;
      else if (m.kind === 'progress') {
        done[index] = m.done;
        onProgress?.(
          done.reduce((a, b) => a + b, 0),
          total,
        );
      } else if (m.kind === 'estimated') estimated[index]!(m.part);
      else if (m.kind === 'done') finished[index]!(m.part);
      else failed[index]!(rebuild(m));
    });
    w.on('error', (e) => failed[index]!(e));
    w.on('exit', (code) => {
      if (code !== 0) failed[index]!(new Error(`planner worker ${index} exited with code ${code}`));
    });
  }
  const all = (async () => {
    const est = await Promise.all(estimates);
    const chosen = selectForSimulation(r, est);
    for (const w of started) w.postMessage({ kind: 'simulate', chosen });
    return mergePlans(r, est, await Promise.all(parts));
  })();
  try {
    return await (deadline ? Promise.race([all, deadline]) : all);
  } finally {
    if (timer) clearTimeout(timer);
    all.catch(() => undefined);
    parts.forEach((p) => p.catch(() => undefined));
    estimates.forEach((p) => p.catch(() => undefined));
    for (const w of started) void w.terminate();
  }
}

if (!isMainThread && (workerData as { tag?: string } | null)?.tag === TAG) {
  const { request, shard } = workerData as { request: PlanRequest; shard: { index: number; count: number } };
  // Progress counts both phases: the shard's estimates, then its simulations.
  let offset = 0;
  let announced = 0;
  const progress = (d: number, t: number) => {
    if (announced < offset + t) {
      parentPort!.postMessage({ kind: 'total', total: offset + t - announced } satisfies Msg);
      announced = offset + t;
    }
    parentPort!.postMessage({ kind: 'progress', done: offset + d } satisfies Msg);
  };
  const fail = (e: unknown) =>
    parentPort!.postMessage({
      kind: 'error',
      message: e instanceof Error ? e.message : String(e),
      name: e instanceof Error ? e.constructor.name : 'Error',
      field: e instanceof PlanError ? e.field : null,
    } satisfies Msg);
  try {
    const part = estimatePlans({ ...request, onProgress: progress }, shard);
    offset = part.configurations;
    parentPort!.once('message', (m: { kind: 'simulate'; chosen: JobEstimate[] }) => {
      try {
        const sim = simulatePlans({ ...request, onProgress: progress }, m.chosen, shard);
        parentPort!.postMessage({ kind: 'done', part: sim } satisfies Msg);
      } catch (e) {
        fail(e);
      }
    });
    parentPort!.postMessage({ kind: 'estimated', part } satisfies Msg);
  } catch (e) {
    fail(e);
  }
}
