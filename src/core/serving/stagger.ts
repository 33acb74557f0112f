/**
 * How a closed loop's users are placed in time. A benchmark's N users all send at once, and in a real engine only
 * a share of them keeps arriving together: the calibration measures that share (core/perf efficiency `burst`,
 * decaying with the time a wave's prompts take, `burstHalf`: core/perf/steady.ts waveShare). The simulator groups
 * the users in waves of that share, spreads the waves evenly over one request cycle, and has a wave's users send
 * their next requests together (sim.ts `waves`): the waves persist, as the calibrated steady state assumes. Without
 * that, a disaggregated prefill worker serving a wave one chunk at a time would spread it for good, and the
 * simulated TTFT fell to a fifth of the measured one on TensorRT-LLM's disaggregated rows.
 */
import { waveShare } from '../perf/steady.js';

/** Cycle of one user and the share of its wave's prompt time in it, from a rank's step times. */
export interface CycleInput {
  /** Users per simulated rank. */
  users: number;
  isl: number;
  osl: number;
  /** Step time of the rank: `decodes` sequences decoding at context `context`, `prompt` prompt tokens prefilled. */
  step: (decodes: number, context: number, prompt: number) => number;
  /** Prompt tokens a step takes at most. */
  chunk: number;
  /** Time a finished prompt takes to reach the decoding worker (s; disaggregated). */
  transferS?: number;
}

/**
 * The cycle (s) of a user: its prompt (in chunks, alongside the others' decodes), OSL − 1 decode steps at the mean
 * context, and the time the other users' prompts add to the steps while it decodes (each lands in one cycle once);
 * with the time one prompt adds to a step (s), what a wave's prompts cost each of its users.
 */
export function cycleOf(c: CycleInput): { cycleS: number; promptS: number; decodeS: number } {
  const b = Math.max(1, c.users);
  const ctx = c.isl + c.osl / 2;
  const decodeS = c.step(b, ctx, 0);
  const chunks = Math.max(1, Math.ceil(c.isl / Math.max(1, c.chunk)));
  const piece = Math.min(c.isl, Math.max(1, c.chunk));
  const promptS = chunks * Math.max(0, c.step(b - 1, ctx, piece) - c.step(b - 1, ctx, 0));
  const own = chunks * c.step(b - 1, ctx, piece) + (c.transferS ?? 0);
  const cycleS = own + Math.max(0, c.osl - 1) * decodeS + (b - 1) * promptS;
  return { cycleS, promptS, decodeS };
}

/**
 * Share of the users that start in one wave: the calibrated burst, less where a wave's prompts take long (x: the
 * users' prompt time over a request's generation time), for the cycle `cycleOf(c)` gave.
 */
export function startingWave(
  burst: number,
  burstHalf: number,
  c: CycleInput,
  cycle: { promptS: number; decodeS: number },
): number {
  const { promptS, decodeS } = cycle;
  const x = decodeS > 0 ? (Math.max(1, c.users) * promptS) / Math.max(1, c.osl - 1) / decodeS : 0;
  return waveShare(burst, burstHalf, x);
}

/**
 * Start times (s) of `users` users, in waves of round(wave · users) users (at least one), the waves evenly over one
 * cycle: each user then waits for half of its own wave's prompts, the calibrated share of the others' (the analytical
 * model's mean wait, burst · (b − 1) · s/2, as every user's rather than as a mixture of waiting and not). With wave 1
 * every user starts at 0 (the lockstep of a benchmark's first wave).
 */
export function closedLoopStarts(users: number, wave: number, cycleS: number): number[] {
  const size = waveSize(users, wave);
  const waves = Math.ceil(users / size);
  return Array.from({ length: users }, (_, j) => (cycleS * Math.floor(j / size)) / waves);
}

/** Users in one wave: round(share · users), at least one. */
export function waveSize(users: number, wave: number): number {
  return Math.min(users, Math.max(1, Math.round(wave * users)));
}

/** The wave of each user, as closedLoopStarts places them. */
export function closedLoopWaves(users: number, wave: number): number[] {
  const size = waveSize(users, wave);
  return Array.from({ length: users }, (_, j) => Math.floor(j / size));
}
