/**
 * Admission control for the engine and research routes: a bounded queue of engine sequences (503 + Retry-After
 * beyond it), a deadline per generation, one bounded pool for the routes that start worker threads, research
 * state kept per client session (never global), and a cap on the bytes a research answer may carry.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export class Busy extends Error {
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
  }
}

function envNumber(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? fallback);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

export const ENGINE_LIMITS = {
  /** Sequences queued or running in the engine at once (INFERSIM_ENGINE_QUEUE). */
  queue: envNumber('INFERSIM_ENGINE_QUEUE', 64),
  /** Seconds a generation may take before it is stopped (INFERSIM_ENGINE_DEADLINE_S). */
  deadlineS: envNumber('INFERSIM_ENGINE_DEADLINE_S', 60),
  /** Bytes of JSON a research answer may return. */
  responseBytes: 1024 * 1024,
  /** Characters /tokenize accepts (a 16,000-emoji text blocked the loop for 1.3 s). */
  tokenizeChars: 4096,
  /** Sessions whose tensor splits are kept, and the float elements they may hold together. */
  sessions: 64,
  sessionElements: 16_000_000,
  /** Sessions whose sparsity masks are kept (least recently used dropped first; each is a few numbers). */
  maskSessions: 64,
} as const;

/** Counts engine sequences in flight; `admit(n)` refuses beyond the bound instead of queueing without end. */
export class SequenceQueue {
  private inFlight = 0;
  constructor(readonly max: number) {}
  admit(n: number): () => void {
    if (this.inFlight + n > this.max)
      throw new Busy(
        `the engine is busy: ${this.inFlight} sequences queued or running, at most ${this.max}; retry shortly`,
        1,
      );
    this.inFlight += n;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight -= n;
    };
  }
  get size(): number {
    return this.inFlight;
  }
}

/** At most `concurrency` runs at once and `queue` waiting; beyond that, Busy. */
export class Pool {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(
    readonly concurrency: number,
    readonly queue: number,
  ) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue)
        throw new Busy(
          `the research pool is full (${this.running} running, ${this.waiting.length} waiting)`,
          1,
        );
      await new Promise<void>((r) => this.waiting.push(r));
    }
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

/** Per-session values, least recently used dropped first, within a count and a total cost. */
export class SessionMap<T> {
  private readonly map = new Map<string, { value: T; cost: number }>();
  private total = 0;
  constructor(
    readonly maxEntries: number,
    readonly maxCost: number,
  ) {}
  get(session: string): T | undefined {
    const e = this.map.get(session);
    if (!e) return undefined;
    this.map.delete(session);
    this.map.set(session, e);
    return e.value;
  }
  delete(session: string): void {
    const e = this.map.get(session);
    if (!e) return;
    this.total -= e.cost;
    this.map.delete(session);
  }
  get size(): number {
    return this.map.size;
  }
  set(session: string, value: T, cost: number): void {
    const old = this.map.get(session);
    if (old) {
      this.total -= old.cost;
      this.map.delete(session);
    }
    this.map.set(session, { value, cost });
    this.total += cost;
    for (const [k, e] of this.map) {
      if (this.map.size <= this.maxEntries && this.total <= this.maxCost) break;
      if (k === session) continue;
      this.map.delete(k);
      this.total -= e.cost;
    }
  }
}

const SESSION = /^[A-Za-z0-9_-]{8,64}$/;

/**
 * The session a request's research state belongs to: the `X-Session-Id` header the client holds (8-64 letters,
 * digits, '-' or '_'), else one per client address.
 */
export function sessionOf(req: FastifyRequest): string {
  const h = req.headers['x-session-id'];
  const v = Array.isArray(h) ? h[0] : h;
  if (v !== undefined && SESSION.test(v)) return `s:${v}`;
  return `ip:${req.ip}`;
}

/** Calls `onGone` when the client of a non-streamed request hangs up before its answer is sent. */
export function onClientGone(reply: FastifyReply, onGone: () => void): void {
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) onGone();
  });
}
