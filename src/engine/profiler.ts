/**
 * Per-op timings. Always-on totals (count, total, min, max per op) feed /debug/latency_stats; a profiling session
 * (start/stop) records the same ops into its own table, so a report covers exactly the work done in between.
 * Ops: tokenize, embed, qkv_proj (norm + QKV GEMM + RoPE graph), attention (the TypeScript core), o_proj_mlp
 * (O GEMM + residual + norm + MLP graph), lm_head, sample, detokenize, step.
 */
export interface OpStat {
  count: number;
  totalMs: number;
  minMs: number;
  maxMs: number;
}

export type OpTable = Map<string, OpStat>;

function addTo(t: OpTable, op: string, ms: number): void {
  const s = t.get(op);
  if (!s) t.set(op, { count: 1, totalMs: ms, minMs: ms, maxMs: ms });
  else {
    s.count++;
    s.totalMs += ms;
    if (ms < s.minMs) s.minMs = ms;
    if (ms > s.maxMs) s.maxMs = ms;
  }
}

export interface ProfileReport {
  durationMs: number;
  ops: {
    op: string;
    count: number;
    total_ms: number;
    mean_ms: number;
    min_ms: number;
    max_ms: number;
    share: number;
  }[];
}

export function report(t: OpTable, durationMs: number): ProfileReport {
  let busy = 0;
  for (const [op, s] of t) if (op !== 'step') busy += s.totalMs;
  const ops = [...t.entries()]
    .map(([op, s]) => ({
      op,
      count: s.count,
      total_ms: s.totalMs,
      mean_ms: s.totalMs / s.count,
      min_ms: s.minMs,
      max_ms: s.maxMs,
      share: op === 'step' || busy === 0 ? 1 : s.totalMs / busy,
    }))
    .sort((a, b) => b.total_ms - a.total_ms);
  return { durationMs, ops };
}

export class Profiler {
  readonly totals: OpTable = new Map();
  private session: OpTable | null = null;
  private sessionStart = 0;

  add(op: string, ms: number): void {
    addTo(this.totals, op, ms);
    if (this.session) addTo(this.session, op, ms);
  }

  /** Time a synchronous function under `op`. */
  time<T>(op: string, fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.add(op, performance.now() - t0);
    }
  }

  async timeAsync<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.add(op, performance.now() - t0);
    }
  }

  get active(): boolean {
    return this.session !== null;
  }

  start(): boolean {
    const restarted = this.session !== null;
    this.session = new Map();
    this.sessionStart = performance.now();
    return restarted;
  }

  stop(): ProfileReport | null {
    if (!this.session) return null;
    const r = report(this.session, performance.now() - this.sessionStart);
    this.session = null;
    return r;
  }

  total(op: string): number {
    return this.totals.get(op)?.totalMs ?? 0;
  }

  reset(): void {
    this.totals.clear();
  }
}
