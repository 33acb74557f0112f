/**
 * The planner's search spread over worker threads: each worker searches every n-th configuration
 * (core/planner searchPlans) and the shards are merged (mergePlans) into the same answer one thread gives.
 * This file is both the caller and the worker's entry.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import {
  mergePlans,
  searchPlans,
  type PlanPart,
  type PlanRequest,
  type PlanResult,
} from '../../core/planner/index.js';

type Msg =
  { kind: 'progress'; done: number } | { kind: 'done'; part: PlanPart } | { kind: 'error'; message: string };

const TAG = 'infersim-plan-shard';

/** Workers to use by default: the cores there are, less one for the main thread, at most 8. */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(8, availableParallelism() - 1));
}

export async function planInWorkers(
  r: PlanRequest,
  workers: number,
  onProgress?: (done: number, total: number) => void,
): Promise<PlanResult> {
  if (workers <= 1) return mergePlans(r, [searchPlans({ ...r, onProgress })]);
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
  const parts = await Promise.all(
    Array.from(
      { length: workers },
      (_, index) =>
        new Promise<PlanPart>((resolve, reject) => {
          const w = new Worker(script, {
            eval: typeof script === 'string',
            workerData: { tag: TAG, request, shard: { index, count: workers } },
          });
          w.on('message', (m: Msg | { kind: 'total'; total: number }) => {
            if (m.kind === 'total') total += m.total;
            else if (m.kind === 'progress') {
              done[index] = m.done;
              onProgress?.(
                done.reduce((a, b) => a + b, 0),
                total,
              );
            } else if (m.kind === 'done') resolve(m.part);
            else reject(new Error(m.message));
          });
          w.on('error', reject);
          w.on('exit', (code) => {
            if (code !== 0) reject(new Error(`planner worker ${index} exited with code ${code}`));
          });
        }),
    ),
  );
  return mergePlans(r, parts);
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
    } satisfies Msg);
  }
}
