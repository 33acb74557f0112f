/**
 * Tensor parallelism in miniature: split a real tensor (the model's token-embedding matrix, or a seeded random one)
 * into chunks along a dimension, run an operation on each chunk on a fixed pool of threads, gather the partial
 * results (concatenate, or sum for a matmul split along the contracted dimension) and check them against the
 * unsplit computation.
 */
import { Worker } from 'node:worker_threads';
import { Rng } from '../sampler.js';

export const MAX_TENSOR_ELEMENTS = 4_000_000;
export const MAX_SPLITS = 16;
export const PARALLEL_OPS = ['matmul', 'add', 'relu', 'gelu', 'scale'] as const;
export type ParallelOp = (typeof PARALLEL_OPS)[number];

export interface Chunk {
  id: string;
  shape: number[];
  /** Start index of the chunk along the split dimension. */
  offset: number;
  data: Float32Array;
}

export interface SplitSet {
  tensorId: string;
  source: string;
  shape: number[];
  dim: number;
  data: Float32Array;
  chunks: Chunk[];
}

export function randomTensor(shape: number[], seed: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.next() * 2 - 1;
  return out;
}

/** torch.tensor_split semantics: sizes differ by at most one, the larger ones first. */
export function splitTensor(
  tensorId: string,
  source: string,
  data: Float32Array,
  shape: number[],
  dim: number,
  n: number,
): SplitSet {
  const outer = shape.slice(0, dim).reduce((a, b) => a * b, 1);
  const inner = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const len = shape[dim]!;
  const chunks: Chunk[] = [];
  let offset = 0;
  for (let s = 0; s < n; s++) {
    const size = Math.floor(len / n) + (s < len % n ? 1 : 0);
    // Shared memory: the pool threads read a chunk where it is, no copy per call.
    const part = new Float32Array(new SharedArrayBuffer(outer * size * inner * 4));
    for (let o = 0; o < outer; o++)
      part.set(
        data.subarray((o * len + offset) * inner, (o * len + offset + size) * inner),
        o * size * inner,
      );
    const cs = [...shape];
    cs[dim] = size;
    chunks.push({ id: `split_${s}`, shape: cs, offset, data: part });
    offset += size;
  }
  return { tensorId, source, shape, dim, data, chunks };
}

/** The worker's kernel, as plain JavaScript (runs the same code the main thread uses for the reference). */
const KERNEL = `
function run(op, x, rows, cols, b, bCols) {
  if (op === 'matmul') {
    const out = new Float32Array(rows * bCols);
    for (let i = 0; i < rows; i++)
      for (let k = 0; k < cols; k++) {
        const a = x[i * cols + k];
        if (a === 0) continue;
        for (let j = 0; j < bCols; j++) out[i * bCols + j] += a * b[k * bCols + j];
      }
    return out;
  }
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    out[i] = op === 'add' ? v + b[i % b.length] : op === 'relu' ? Math.max(0, v) : op === 'scale' ? v * b[0]
      : 0.5 * v * (1 + Math.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
  }
  return out;
}`;

/** A pool thread: runs one kernel per message, for as long as the pool lives. */
const WORKER = `${KERNEL}
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ op, x, rows, cols, b, bCols }) => {
  const out = run(op, x, rows, cols, b, bCols);
  parentPort.postMessage(out, [out.buffer]);
});`;

const localRun = new Function(`${KERNEL}; return run;`)() as (
  op: string,
  x: Float32Array,
  rows: number,
  cols: number,
  b: Float32Array,
  bCols: number,
) => Float32Array;

interface KernelTask {
  args: { op: string; x: Float32Array; rows: number; cols: number; b: Float32Array; bCols: number };
  resolve: (r: Float32Array) => void;
  reject: (e: Error) => void;
}

/**
 * A fixed set of kernel threads, started once and reused (a thread per chunk per call let 20 concurrent calls
 * start 285 threads and hold 2.9 GB). Chunks beyond the idle threads wait in a bounded queue.
 */
export class KernelPool {
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly queue: KernelTask[] = [];
  private readonly busy = new Map<Worker, KernelTask>();
  private closed = false;

  constructor(
    readonly threads: number,
    readonly maxQueued: number,
  ) {}

  run(
    op: string,
    x: Float32Array,
    rows: number,
    cols: number,
    b: Float32Array,
    bCols: number,
  ): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new Error('the kernel pool is closed'));
    if (this.queue.length >= this.maxQueued)
      return Promise.reject(new Error(`the kernel pool's queue is full (${this.maxQueued} chunks waiting)`));
    return new Promise((resolve, reject) => {
      this.queue.push({ args: { op, x, rows, cols, b, bCols }, resolve, reject });
      this.dispatch();
    });
  }

  private worker(): Worker | undefined {
    const w = this.idle.pop();
    if (w || this.all.length >= this.threads) return w;
    const fresh = new Worker(WORKER, { eval: true });
    // The pool outlives calls but never keeps a process alive on its own.
    fresh.unref();
    fresh.on('message', (out: Float32Array) => {
      const t = this.busy.get(fresh);
      this.busy.delete(fresh);
      this.idle.push(fresh);
      t?.resolve(out);
      this.dispatch();
    });
    fresh.on('error', (e) => this.drop(fresh, e));
    fresh.on('exit', () => this.drop(fresh, new Error('a kernel thread stopped')));
    this.all.push(fresh);
    return fresh;
  }

  private drop(w: Worker, e: Error): void {
    const i = this.all.indexOf(w);
    if (i >= 0) this.all.splice(i, 1);
    const j = this.idle.indexOf(w);
    if (j >= 0) this.idle.splice(j, 1);
    this.busy.get(w)?.reject(e);
    this.busy.delete(w);
    if (!this.closed) this.dispatch();
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const w = this.worker();
      if (!w) return;
      const t = this.queue.shift()!;
      this.busy.set(w, t);
      w.postMessage(t.args);
    }
  }

  /** Threads started so far (at most `threads`). */
  get size(): number {
    return this.all.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.queue.splice(0)) t.reject(new Error('the kernel pool is closed'));
    await Promise.all([...this.all].map((w) => w.terminate()));
  }
}

export interface ExecuteResult {
  operation: ParallelOp;
  splits: string[];
  num_workers: number;
  gather: boolean;
  gather_method: 'concat' | 'sum' | null;
  output_shape: number[];
  per_split_ms: number[];
  parallel_ms: number;
  reference_ms: number;
  max_abs_diff: number | null;
  /** Gathered result equals the unsplit one (null when not gathered: a subset of splits, or gather false). */
  equal: boolean | null;
  partial_shapes: number[][];
}

/** Run `op` on each selected chunk on the pool's threads; gather and compare with the unsplit result. */
export async function executeSplits(
  set: SplitSet,
  ids: string[],
  op: ParallelOp,
  gather: boolean,
  seed: number,
  pool: KernelPool,
): Promise<ExecuteResult> {
  const chunks = ids.map((id) => {
    const c = set.chunks.find((k) => k.id === id);
    if (!c) throw new RangeError(`unknown split '${id}' (have ${set.chunks.map((k) => k.id).join(', ')})`);
    return c;
  });
  const cols = set.shape[set.shape.length - 1]!;
  const lastDim = set.dim === set.shape.length - 1;
  const bCols = 16;
  // The second operand: a seeded [cols, 16] matrix for matmul, a row vector for add, a scalar for scale.
  const b =
    op === 'matmul'
      ? randomTensor([cols, bCols], seed)
      : op === 'add'
        ? randomTensor([cols], seed)
        : Float32Array.of(0.5);
  const rowsOf = (shape: number[]) => shape.slice(0, -1).reduce((a, c) => a * c, 1);
  const t0 = performance.now();
  const per: number[] = [];
  const parts = await Promise.all(
    chunks.map(async (c) => {
      const s = performance.now();
      const cc = c.shape[c.shape.length - 1]!;
      // A split of the last dimension contracts against the matching rows of B (row-parallel matmul);
      // for add, the matching slice of the bias.
      const bPart =
        op === 'matmul' && lastDim
          ? b.subarray(c.offset * bCols, (c.offset + cc) * bCols)
          : op === 'add' && lastDim
            ? b.subarray(c.offset, c.offset + cc)
            : b;
      const r = await pool.run(op, c.data, rowsOf(c.shape), cc, Float32Array.from(bPart), bCols);
      per.push(performance.now() - s);
      return { c, r };
    }),
  );
  const parallelMs = performance.now() - t0;
  const r0 = performance.now();
  const reference = localRun(op, set.data, rowsOf(set.shape), cols, b, bCols);
  const referenceMs = performance.now() - r0;
  const outShape = op === 'matmul' ? [...set.shape.slice(0, -1), bCols] : [...set.shape];
  let gathered: Float32Array | null = null;
  let method: ExecuteResult['gather_method'] = null;
  const complete = ids.length === set.chunks.length && new Set(ids).size === ids.length;
  if (gather && complete) {
    if (op === 'matmul' && lastDim) {
      method = 'sum';
      gathered = new Float32Array(reference.length);
      for (const { r } of parts) for (let i = 0; i < r.length; i++) gathered[i]! += r[i]!;
    } else {
      method = 'concat';
      gathered = new Float32Array(reference.length);
      const dim = set.dim;
      const outer = outShape.slice(0, dim).reduce((a, c) => a * c, 1);
      const inner = outShape.slice(dim + 1).reduce((a, c) => a * c, 1);
      const len = outShape[dim]!;
      for (const { c, r } of parts) {
        const size = c.shape[dim]!;
        for (let o = 0; o < outer; o++)
          gathered.set(r.subarray(o * size * inner, (o + 1) * size * inner), (o * len + c.offset) * inner);
      }
    }
  }
  let diff = 0;
  if (gathered)
    for (let i = 0; i < reference.length; i++) diff = Math.max(diff, Math.abs(gathered[i]! - reference[i]!));
  return {
    operation: op,
    splits: ids,
    // Threads the chunks ran on: the pool's, shared by every call, never more than there are chunks.
    num_workers: Math.min(parts.length, pool.threads),
    gather: gathered !== null,
    gather_method: method,
    output_shape: outShape,
    per_split_ms: per,
    parallel_ms: parallelMs,
    reference_ms: referenceMs,
    max_abs_diff: gathered ? diff : null,
    equal: gathered ? diff <= 1e-4 : null,
    partial_shapes: parts.map(({ c }) =>
      op === 'matmul' ? [...c.shape.slice(0, -1), lastDim ? bCols : bCols] : c.shape,
    ),
  };
}
