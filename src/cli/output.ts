/** Output for people (tables) and for scripts (--json), and the explain trace. */
import Table from 'cli-table3';
import type { TraceEntry } from '../core/explain.js';
import type { FitSuggestion, FitVerdict } from '../core/memory/fit.js';

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function gb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

/** A duration for people: 412 µs, 12.3 ms, 221.5 s, 1.6 h (never 2.215e+5 ms). */
export function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '–';
  const s = Math.abs(seconds);
  if (s === 0) return '0 s';
  if (s < 1e-3) return `${(seconds * 1e6).toFixed(s < 1e-5 ? 2 : 0)} µs`;
  if (s < 1) return `${(seconds * 1e3).toFixed(s < 0.01 ? 2 : s < 0.1 ? 1 : 0)} ms`;
  if (s < 3600) return `${seconds.toFixed(1)} s`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function printTable(head: string[], rows: (string | number)[][]): void {
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const r of rows) t.push(r.map(String));
  process.stdout.write(t.toString() + '\n');
}

/** Words of `text` in lines of at most `width` characters (a word longer than that gets a line of its own). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.length ? lines : [''];
}

/** The trace as a tree, each figure with its formula and inputs, wrapped to `width` (the terminal's). */
export function traceTree(
  trace: TraceEntry[],
  width = process.stdout.columns || Number(process.env['COLUMNS']) || 100,
): string {
  const w = Math.max(40, width);
  const out: string[] = [];
  trace.forEach((e, i) => {
    const last = i === trace.length - 1;
    const branch = last ? '└─ ' : '├─ ';
    const stem = last ? '   ' : '│  ';
    const head = wrap(`${e.figure} = ${fmt(e.value)} ${e.unit}`, w - 3);
    out.push(branch + head[0], ...head.slice(1).map((l) => stem + '   ' + l));
    const inputs = Object.entries(e.inputs).map(
      ([k, v]) => `${k} = ${typeof v === 'number' ? fmt(v) : String(v)}`,
    );
    const parts: [string, string[]][] = [
      ['formula', [e.formula]],
      ['inputs', inputs.length ? [inputs.join(', ')] : []],
    ];
    const present = parts.filter(([, v]) => v.length && v[0]);
    present.forEach(([label, [text]], j) => {
      const lastPart = j === present.length - 1;
      const prefix = `${stem}${lastPart ? '└─ ' : '├─ '}${label}: `;
      const cont = `${stem}${lastPart ? '   ' : '│  '}${' '.repeat(label.length + 2)}`;
      const lines = wrap(text!, w - prefix.length);
      out.push(prefix + lines[0], ...lines.slice(1).map((l) => cont + l));
    });
  });
  return out.join('\n') + '\n';
}

export function printTrace(trace: TraceEntry[]): void {
  process.stdout.write('how each figure was computed:\n' + traceTree(trace));
}

function fmt(v: number): string {
  return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toPrecision(6);
}

/** A suggestion's change as the flags of the command that would make it (`--tp 2`, `--qlora --lora-rank 16`). */
export type FlagOf = (key: string, value: string | number | boolean) => string | null;

export const plainFlag: FlagOf = (k, v) => {
  const flag = `--${k.replace(/_/g, '-')}`;
  return v === true ? flag : `${flag} ${v}`;
};

function changeFlags(s: FitSuggestion, flagOf: FlagOf): string | null {
  const parts = Object.entries(s.change).map(([k, v]) => flagOf(k, v));
  return parts.some((p) => p === null) ? null : parts.join(' ');
}

/** The verdict as JSON: the core's fields, each suggestion with the flags that make it. */
export function fitJson(v: FitVerdict, flagOf: FlagOf = plainFlag, extra: Record<string, unknown> = {}) {
  return {
    fits: v.fits,
    device: v.device,
    device_name: v.device_name,
    ...extra,
    visible_bytes: v.visible_bytes,
    gpu_memory_utilization: v.gpu_memory_utilization,
    available_bytes: v.available_bytes,
    required_bytes: v.required_bytes,
    headroom_bytes: v.headroom_bytes,
    headroom_fraction: v.headroom_fraction,
    reason: v.reason,
    message: v.message,
    suggestions: v.suggestions.flatMap((s) => {
      const change = changeFlags(s, flagOf);
      return change === null
        ? []
        : [
            {
              change,
              set: s.change,
              description: s.description,
              fits: s.fits,
              required_bytes: s.required_bytes,
              headroom_bytes: s.headroom_bytes,
            },
          ];
    }),
  };
}

const pct = (f: number) => `${(Math.abs(f) * 100).toFixed(1)}%`;

/** The verdict for people: the first line says whether it fits (in the engine's words when not), then by how much. */
export function printFit(v: FitVerdict, flagOf: FlagOf = plainFlag, budget = ''): void {
  const where = `${v.device_name}`;
  const of = v.budget_note
    ? `${gb(v.available_bytes)} available (${v.budget_note}${budget})`
    : v.gpu_memory_utilization < 1
      ? `${gb(v.available_bytes)} available (${gb(v.visible_bytes)} visible x gpu_memory_utilization ${v.gpu_memory_utilization}${budget})`
      : `${gb(v.available_bytes)} visible${budget}`;
  const need = `needs ${gb(v.required_bytes)} per device; ${of}`;
  if (v.fits) {
    process.stdout.write(
      `fits on ${where}: ${need}; headroom ${gb(v.headroom_bytes)} (${pct(v.headroom_fraction)})\n`,
    );
    return;
  }
  process.stdout.write(`does not fit on ${where}: ${v.message}\n`);
  process.stdout.write(`  ${need}; short by ${gb(-v.headroom_bytes)} (${pct(v.headroom_fraction)})\n`);
  const rows = v.suggestions.flatMap((s) => {
    const c = changeFlags(s, flagOf);
    return c === null ? [] : [[c, s.description, gb(s.required_bytes), gb(s.headroom_bytes)]];
  });
  if (!rows.length) {
    process.stdout.write(
      '  nothing tried makes it fit (lower precision, TP/PP up to 64 devices, shorter sequences, smaller batch)\n',
    );
    return;
  }
  process.stdout.write('  each of these fits (memory recomputed with the change):\n');
  printTable(['change', 'what', 'per device', 'headroom'], rows);
}
