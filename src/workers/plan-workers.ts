/**
 * The planner's search spread over worker threads (shared by `infersim plan` and POST /api/serving/plan, which
 * runs it off its event loop under a deadline): each worker searches every n-th configuration
 * (core/planner searchPlans) and the shards are merged (mergePlans) into the same answer one thread gives.
 * This file is both the caller and the worker's entry.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { InputError } from '../core/memory/inference.js';
import { PlanError } from '../core/parallel/plan.js';
import {
  mergePlans,
  PlanInputError,
  searchPlans,
  type PlanPart,
  type PlanRequest,
  type PlanResult,
} from '../core/planner/index.js';

type Msg =
  | { kind: 'progress'; done: number }
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
  if (workers <= 1 && !opts.thread) return mergePlans(r, [searchPlans({ ...r, onProgress })]);
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
  const all = Promise.all(
    Array.from(
      { length: workers },
      (_, index) =>
        new Promise<PlanPart>((resolve, reject) => {
          const w = new Worker(script, {
            eval: typeof script === 'string',
            workerData: { tag: TAG, request, shard: { index, count: workers } },
          });
          started.push(w);
          w.on('message', (m: Msg | { kind: 'total'; total: number }) => {
            if (m.kind === 'total') total += m.total;
            else if (m.kind === 'progress') {
              done[index] = m.done;
              onProgress?.(
                done.reduce((a, b) => a + b, 0),
                total,
              );
            } else if (m.kind === 'done') resolve(m.part);
            else reject(rebuild(m));
          });
          w.on('error', reject);
          w.on('exit', (code) => {
            if (code !== 0) reject(new Error(`planner worker ${index} exited with code ${code}`));
          });
        }),
    ),
  );
  try {
    const parts = await (deadline ? Promise.race([all, deadline]) : all);
    return mergePlans(r, parts);
  } finally {
    if (timer) clearTimeout(timer);
    all.catch(() => undefined);
  }
}

if (!isMainThread && (workerData as { tag?: string } | null)?.tag === TAG) {
  const { request, shard } = workerData as { request: PlanRequest; shard: { index: number; count: number } };
  let announced = false;
  try {
    const part = searchPlans(
      {
        ...request,
        onProgress: (d, t) => {
          if (!announced) {
            parentPort!.postMessage({ kind: 'total', total: t });
            announced = true;
          }
          parentPort!.postMessage({ kind: 'progress', done: d });
        },
      },
      shard,
    );
    parentPort!.postMessage({ kind: 'done', part } satisfies Msg);
  } catch (e) {
    parentPort!.postMessage({
      kind: 'error',
      message: e instanceof Error ? e.message : String(e),
      name: e instanceof Error ? e.constructor.name : 'Error',
      field: e instanceof PlanError ? e.field : null,
    } satisfies Msg);
  }
}
