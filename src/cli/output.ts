/** Output for people (tables) and for scripts (--json), and the explain trace. */
import Table from 'cli-table3';
import type { TraceEntry } from '../core/explain.js';

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function gb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

export function printTable(head: string[], rows: (string | number)[][]): void {
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const r of rows) t.push(r.map(String));
  process.stdout.write(t.toString() + '\n');
}

export function printTrace(trace: TraceEntry[]): void {
  printTable(
    ['figure', 'value', 'unit', 'formula', 'inputs'],
    trace.map((e) => [e.figure, fmt(e.value), e.unit, e.formula, JSON.stringify(e.inputs)]),
  );
}

function fmt(v: number): string {
  return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toPrecision(6);
}
