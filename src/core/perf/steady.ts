/**
 * Closed-loop steady state of a served workload, analytically: N users each send a prompt of ISL tokens, wait for
 * OSL tokens, and send again. Fast enough to evaluate thousands of rows per second (the calibration fits on it);
 * the discrete-event simulator (core/serving) is the reference it is checked against.
 *
 * Aggregated (one engine prefills and decodes), per attention-DP rank with b users:
 *   request rate        λ = b / (TTFT + (OSL − 1) · TPOT)
 *   prompt time share   ρ = λ · s            (s: what one prompt adds to the step that prefills it)
 *   TPOT                τ = step(b decoding at context ISL + OSL/2) / (1 − (1 − burst) · ρ)
 *   TTFT                = τ/2 (the running step) + queue + step(b decoding, one whole prompt)
 * where the queue is M/D/1's ρ/(1 − ρ) · s/2 for the prompts ahead, s the time a prompt adds to a step and
 * ρ = λ · s the share of time spent on prompts. Disaggregated: TPOT from the decode workers' pure decode steps,
 * TTFT from the prefill workers' queue and prompt step plus the KV transfer to the decode worker.
 */

/** Time (s) of one step of a worker rank: `decode` sequences decoding, `prompt` prompt tokens prefilled. */
export type StepFn = (decode: number, prompt: number) => number;

export interface SteadyResult {
  ttft_s: number;
  tpot_s: number;
  /** Share of the prompt-serving time that is busy (1: saturated). */
  prefill_utilisation: number;
}

/** Root of an increasing function on [lo, hi] by bisection on a log scale. */
function solveIncreasing(f: (x: number) => number, lo: number, hi: number): number {
  if (f(lo) >= 0) return lo;
  if (f(hi) <= 0) return hi;
  for (let i = 0; i < 50; i++) {
    const mid = Math.sqrt(lo * hi);
    if (f(mid) > 0) hi = mid;
    else lo = mid;
    if (hi / lo < 1 + 1e-10) break;
  }
  return Math.sqrt(lo * hi);
}

/** Waiting time of M/D/1 with utilisation ρ and service s: ρ/(1 − ρ) · s/2; beyond saturation grows steeply. */
function queueS(rho: number, s: number): number {
  const r = Math.min(rho, 0.999);
  return (r / (1 - r)) * (s / 2);
}

/**
 * Users beyond the sequences the KV cache holds wait for a whole request to finish: with c running of b users the
 * cycle of each user stretches by b/c, so TTFT grows by (b/c − 1) · (TTFT + generation).
 */
function kvWait(b: number, cap: number, ttft: number, gen: number): number {
  return b > cap ? (b / cap - 1) * (ttft + gen) : 0;
}

/**
 * Wait before a prompt is served by a rank with `users` users: the spread-out share queues as M/D/1 with service
 * s; a wave's share waits on average for half of the other prompts of the wave, `sWave` each.
 */
function waitS(burst: number, users: number, rho: number, s: number, sWave = s): number {
  return (1 - burst) * queueS(rho, s) + burst * Math.max(0, users - 1) * (sWave / 2);
}

/**
 * Share of users in waves: identical requests that finish together come back together, and stay together while
 * their prompts take a small share x of the cycle; when the wave's prompts take long, users leave the prefill one
 * by one, decode apart, and the wave disperses: burst · h / (h + x).
 */
export function waveShare(burst: number, half: number, x: number): number {
  return half > 0 ? (burst * half) / (half + x) : burst;
}

export interface AggInput {
  /** Users per attention-DP rank. */
  batch: number;
  /** Sequences of ISL + OSL tokens the rank's KV cache holds. */
  kvCapacity: number;
  /** Fixed per-request latency added to TTFT (s). */
  requestS: number;
  /** Share of users arriving in synchronised waves (efficiency.ts `burst`). */
  burst: number;
  /** Decay of the wave share with the share of the cycle a wave's prompts take (efficiency.ts `burstHalf`). */
  burstHalf?: number;
  isl: number;
  osl: number;
  step: StepFn;
  /** Prompt tokens one step takes at most (the chunk): a wave's prompts are prefilled this many at a time. */
  chunk?: number;
}

export function steadyAgg(o: AggInput): SteadyResult {
  const { isl, osl, step } = o;
  const b = Math.max(1, Math.min(o.batch, Math.floor(o.kvCapacity)));
  const own = step(b, isl);
  const base = step(b, 0);
  // Time one prompt adds to a step.
  const s = Math.max(own - base, 0);
  // A wave's prompts share steps: per prompt, a full chunk's cost over the prompts it holds.
  const perStep = Math.max(1, Math.floor((o.chunk ?? o.isl) / isl));
  const sWave = perStep > 1 ? Math.max(step(b, perStep * isl) - base, 0) / perStep : s;
  // A user of a wave waits for whole steps of the prompts ahead of it, each carrying the decode batch too: per
  // prompt, a chunk's whole step over the prompts it holds.
  const sWaveWait = perStep > 1 ? step(b, perStep * isl) / perStep : own;
  let tpot = base;
  let ttft = own;
  let rho = 0;
  for (let it = 0; it < 6; it++) {
    const tp = tpot;
    const burst = waveShare(o.burst, o.burstHalf ?? 0, (b * sWave) / Math.max(1, osl - 1) / tp);
    const ttftOf = (x: number) => {
      const lambda = b / (x + Math.max(0, osl - 1) * tp);
      return tp / 2 + waitS(burst, b, lambda * s, s, sWaveWait) + own;
    };
    ttft = solveIncreasing((x) => x - ttftOf(x), own, 1e5);
    const lambda = b / (ttft + Math.max(0, osl - 1) * tpot);
    rho = lambda * s;
    // A prompt is prefilled in whole chunks, not spread thin over every step (which would read every expert's
    // weights in every step): each adds s to one step, so a share ρ of the time goes to prompts and decoding
    // runs in the rest, τ = base / (1 − ρ), for the spread-out share of the prompts.
    // A wave's prompts are prefilled one chunk after another while the wave's earlier users already decode at
    // the pace of those prefill steps: of the wave's prefill time W = (b − 1) · sWave, a user waits on average
    // W/2 before its first token (in TTFT above) and W/2 after it, spread over its OSL − 1 tokens.
    const waveStall = osl > 1 ? (burst * Math.max(0, b - 1) * sWave) / 2 / (osl - 1) : 0;
    const next = base / (1 - Math.min(0.95, (1 - burst) * rho)) + waveStall;
    tpot = 0.5 * tpot + 0.5 * next;
  }
  ttft += o.requestS;
  ttft += kvWait(o.batch, b, ttft, Math.max(0, osl - 1) * tpot);
  return { ttft_s: ttft, tpot_s: tpot, prefill_utilisation: rho };
}

export interface DisaggInput {
  /** Users in the whole deployment. */
  users: number;
  /** Users per decode attention-DP rank. */
  decodeBatch: number;
  /** Sequences a decode rank's KV cache holds. */
  kvCapacity: number;
  requestS: number;
  burst: number;
  /** Prefill attention-DP ranks in the deployment (workers × ranks per worker). */
  prefillRanks: number;
  isl: number;
  osl: number;
  /** A prefill rank's step while every attention-DP rank of its worker prefills too (the experts see them all). */
  prefillStep: StepFn;
  /** The same step while the other ranks of the worker idle (default: prefillStep; equal without attention DP). */
  prefillStepAlone?: StepFn;
  decodeStep: StepFn;
  /** KV cache transfer of one prompt from the prefill to the decode worker (s). */
  transferS: number;
  /** Prompt tokens a prefill step takes at most: waiting prompts are batched up to it. */
  chunk?: number;
}

export function steadyDisagg(o: DisaggInput): SteadyResult {
  const running = Math.max(1, Math.min(o.decodeBatch, Math.floor(o.kvCapacity)));
  const tpot = o.decodeStep(running, 0);
  // Under attention DP the ranks of a prefill worker run in lock-step and its experts see every busy rank's prompt:
  // the other ranks prefill at the same time with the probability ρ that a rank is busy, so a step's expert work is
  // interpolated between the rank alone (ρ → 0) and every rank at once (ρ → 1).
  const alone = o.prefillStepAlone ?? o.prefillStep;
  const s1 = alone(0, o.isl);
  const sAll = o.prefillStep(0, o.isl);
  // A prefill worker batches the prompts waiting for it up to its chunk: per prompt, a full chunk's step over
  // the prompts it holds (weights read once, expert GEMMs fuller), the service time of its queue.
  const perStep = Math.max(1, Math.floor((o.chunk ?? o.isl) / o.isl));
  const full1 = perStep > 1 ? alone(0, perStep * o.isl) : s1;
  const fullAll = perStep > 1 ? o.prefillStep(0, perStep * o.isl) : sAll;
  // ρ ≤ 1 (rhoOf caps it): the interpolation between the rank alone and every rank busy.
  const mix = (a: number, b: number, rho: number) => a + rho * (b - a);
  const gen = Math.max(0, o.osl - 1) * tpot;
  // Utilisation of a rank with per-rank arrival rate r: ρ = r · sBatch(ρ), sBatch linear in ρ, solved exactly.
  const rhoOf = (x: number) => {
    const r = o.users / (x + gen) / o.prefillRanks;
    const b1 = full1 / perStep;
    const d = fullAll / perStep - b1;
    const den = 1 - r * d;
    return den > 0 ? Math.min(1, (r * b1) / den) : 1;
  };
  // A prompt's own step holds only it when the worker is idle and a full chunk when it is busy.
  const own = (rho: number) => {
    const one = mix(s1, sAll, rho);
    return one + rho * Math.max(0, mix(full1, fullAll, rho) - one);
  };
  const ttftOf = (x: number) => {
    const rho = rhoOf(x);
    const sBatch = mix(full1, fullAll, rho) / perStep;
    return waitS(o.burst, o.users / o.prefillRanks, rho, sBatch) + own(rho) + o.transferS;
  };
  let ttft = solveIncreasing((x) => x - ttftOf(x), s1 + o.transferS, 1e5);
  const rho = rhoOf(ttft);
  ttft += o.requestS;
  ttft += kvWait(o.decodeBatch, running, ttft, gen);
  return { ttft_s: ttft, tpot_s: tpot, prefill_utilisation: rho };
}
