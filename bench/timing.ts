/**
 * The timing loop the core benches share: warm up, time `n` evaluations of `run` on one thread, print one JSON
 * line with evaluations per second, the goal and the machine.
 */
import os from 'node:os';

export function timeEvaluations(
  run: (n: number) => number,
  o: { bench: string; warmUp: number; n: number; goal: number; extra?: Record<string, unknown> },
): void {
  run(o.warmUp); // JIT, and whatever the core memoises per model and format
  const t0 = process.hrtime.bigint();
  const sink = run(o.n);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(
    JSON.stringify({
      bench: o.bench,
      ...o.extra,
      value: Math.round(o.n / seconds),
      unit: 'evaluations/s',
      goal: o.goal,
      evaluations: o.n,
      seconds: Number(seconds.toFixed(3)),
      cpu: os.cpus()[0]?.model,
      node: process.version,
      single_thread: true,
      // The results feed a sum that is printed, so no evaluation can be optimised away.
      checksum: sink > 0,
    }),
  );
}
