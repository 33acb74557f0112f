/**
 * The simulator checked against the real engine: the CPU engine serves a closed loop of 1, 4 and 16 users at fixed
 * ISL/OSL (random prompt ids, so no prefix-cache hits; EOS ignored), and `simulateServing` runs the same model,
 * scheduler limits (max_num_seqs, max_num_batched_tokens, block size, the engine's KV blocks) and the hardware
 * profile the engine measured on this machine (bench/engine-profile.ts), through the CLI a user would run:
 * `infersim simulate CONFIG --hardware-profile PROFILE.json …` (printed). Prints median TTFT, median TPOT and
 * output throughput of both and the simulator's relative error (goal: TPOT and throughput within 15%).
 *
 *   npm run bench:engine-sim
 *   ENGINE_SIM_MODEL=tiny (models/kjv-llama-tiny, default) | gpt2-small (random GPT-2-small-shaped checkpoint)
 *   ENGINE_SIM_ISL, ENGINE_SIM_OSL (default 128, 64), ENGINE_SIM_USERS (default 1,4,16),
 *   ENGINE_SIM_ROUNDS (requests per user, default 4, raised so that at least 16 requests are measured; the first
 *   wave is warm-up), ENGINE_SIM_THREADS (default 1),
 *   ENGINE_SIM_PROFILE_OUT (where the measured profile is written; default $TMPDIR/infersim-cpu-profile-MODEL.json),
 *   ENGINE_SIM_CLOCK (cpu, default: every time, the engine's and the profile's, is the process's CPU time, which
 *   other processes on a shared machine do not inflate; wall: wall-clock time).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type MeasuredProfile } from '../src/core/perf/measured.js';
import { Engine } from '../src/engine/engine.js';
import { Rng } from '../src/engine/sampler.js';
import { writeGpt2SmallCheckpoint } from './engine-load.js';
import {
  fitProfile,
  cpuMs,
  profileEngine,
  wallMs,
  modelSpec,
  predict,
  type TimedShape,
} from './engine-profile.js';

const env = (k: string, d: string) => process.env[`ENGINE_SIM_${k}`] ?? d;
const MODEL = env('MODEL', 'tiny');
const ISL = Number(env('ISL', '128'));
const OSL = Number(env('OSL', '64'));
const USERS = env('USERS', '1,4,16').split(',').map(Number);
const ROUNDS = Number(env('ROUNDS', '4'));
/** Requests per user: ROUNDS, or more where few users would measure too few requests for a median. */
const roundsFor = (users: number) => Math.max(ROUNDS, 1 + Math.ceil(16 / users));
const THREADS = Number(env('THREADS', '1'));
const MAX_SEQS = Math.max(...USERS);
const BLOCK = 16;
const MAX_BATCHED = 2048;

let dir = fileURLToPath(new URL('../models/kjv-llama-tiny', import.meta.url));
let tmp: string | null = null;
if (MODEL === 'gpt2-small') {
  tmp = mkdtempSync(join(os.tmpdir(), 'infersim-engsim-'));
  writeGpt2SmallCheckpoint(tmp);
  dir = tmp;
} else if (MODEL !== 'tiny') throw new Error(`ENGINE_SIM_MODEL must be tiny or gpt2-small (got ${MODEL})`);

const engine = await Engine.load(dir, {
  maxNumSeqs: MAX_SEQS,
  maxBatchedTokens: MAX_BATCHED,
  blockSize: BLOCK,
  maxModelLen: ISL + OSL,
  threads: THREADS,
});
const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
const spec = modelSpec(raw);

// 1. The profile: the engine's forward at the shapes this run goes through (measured as the engine runs them, on
// requests of the run's lengths at each batch size: engine-profile.ts profileEngine), fitted to core/perf's step
// model, plus the engine's host work outside the forward per step and per sequence. On a shared
// machine the speed drifts with other load, so by default the forward is profiled before and after each closed
// loop (ENGINE_SIM_REPROFILE=0: once, before the first).
const REPROFILE = env('REPROFILE', '1') !== '0';
const name = `cpu: ${os.cpus()[0]?.model ?? '?'}, ${THREADS} onnxruntime thread(s), ${MODEL}`;
const profileFile = env('PROFILE_OUT', join(os.tmpdir(), `infersim-cpu-profile-${MODEL}.json`));
// Warm-up: V8 compiles the engine's TypeScript (attention, gathers, sampling) to its optimised tiers only after
// many calls; without this the first profile times the cold code (tiny model: ~25% slower per decode step).
for (let i = 0; i < 4; i++)
  await engine.generate([1, 2, 3, 4], { maxTokens: OSL, ignoreEos: true, temperature: 0 });
// The clock every figure is read on: the process's CPU time by default (engine-profile.ts cpuMs: what the engine
// would take on an idle machine, whatever other sessions do meanwhile), or wall time (ENGINE_SIM_CLOCK=wall).
const CLOCK = env('CLOCK', 'cpu');
if (CLOCK !== 'cpu' && CLOCK !== 'wall')
  throw new Error(`ENGINE_SIM_CLOCK must be cpu or wall (got ${CLOCK})`);
const clock = CLOCK === 'cpu' ? cpuMs : wallMs;
type Profiled = Awaited<ReturnType<typeof profileEngine>>;
async function timeForward(): Promise<Profiled> {
  process.stderr.write('profiling the engine…\n');
  return profileEngine(engine, ISL, OSL, USERS, clock);
}
/**
 * The profile fitted to the mean of the step timings taken before and after a loop, the host costs (their mean)
 * added to its fixed costs; written to profileFile.
 */
function writeProfile(before: Profiled, after: Profiled) {
  const timed = before.timed.map((t, i) => ({ ...t, seconds: (t.seconds + after.timed[i]!.seconds) / 2 }));
  const host = {
    stepS: (before.host.stepS + after.host.stepS) / 2,
    sequenceS: (before.host.sequenceS + after.host.sequenceS) / 2,
  };
  const forward = fitProfile(spec, timed, name);
  const fitted = predict(spec, forward, timed);
  // The forward's fixed costs plus the engine's own around it (scheduling, sampling, detokenising, the loop).
  const profile: MeasuredProfile = {
    ...forward,
    stepS: forward.stepS + host.stepS,
    sequenceS: forward.sequenceS + host.sequenceS,
  };
  // Written out in core/perf/measured.ts's form (profileHardware / profileEfficiency read it back).
  writeFileSync(profileFile, JSON.stringify(profile, null, 2) + '\n');
  return { profile, forward, host, timed, fitted, before: before.timed, after: after.timed };
}
// One untimed round first: onnxruntime sizes its arenas for the largest steps.
await profileEngine(engine, ISL, OSL, USERS, clock, 1);
let lastTimed = await timeForward();

// 2. The engine under closed loops.
interface Measured {
  ttft_s: number;
  tpot_s: number;
  output_tokens_per_s: number;
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * Wall-clock instants → the run's clock: (wall, clock) pairs sampled at every operator the engine's profiler times
 * (many per step), interpolated linearly in between.
 */
class Timeline {
  private wall: number[] = [];
  private other: number[] = [];
  sample(): void {
    this.wall.push(performance.now());
    this.other.push(clock());
  }
  at(w: number): number {
    const ws = this.wall;
    let lo = 0;
    let hi = ws.length - 1;
    if (w <= ws[0]!) return this.other[0]!;
    if (w >= ws[hi]!) return this.other[hi]!;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (ws[mid]! <= w) lo = mid;
      else hi = mid;
    }
    const f = (w - ws[lo]!) / (ws[hi]! - ws[lo]! || 1);
    return this.other[lo]! + f * (this.other[hi]! - this.other[lo]!);
  }
}

/**
 * A closed loop, and the decode forwards it ran on the run's clock (from each step's embedding to its LM head, by
 * batch size): set beside the profile's prediction for the same batch, they show how far the machine's speed in the
 * loop strayed from the profile's (a diagnostic; nothing is fitted to them).
 */
async function closedLoop(users: number): Promise<{ m: Measured; decodeForward: Map<number, number[]> }> {
  const timeline = new Timeline();
  const decodeForward = new Map<number, number[]>();
  let start = 0;
  let forward = 0;
  let batch = 0;
  const add = engine.profiler.add.bind(engine.profiler);
  engine.profiler.add = (op: string, ms: number) => {
    add(op, ms);
    timeline.sample();
    if (op === 'embed') start = clock() - ms;
    else if (op === 'lm_head') {
      forward = (clock() - start) / 1000;
      batch = engine.scheduler.running.length;
    } else if (op === 'step_decode') {
      const xs = decodeForward.get(batch) ?? [];
      xs.push(forward);
      decodeForward.set(batch, xs);
    }
  };
  try {
    return { m: await closedLoopOn(users, timeline), decodeForward };
  } finally {
    engine.profiler.add = add;
  }
}

async function closedLoopOn(users: number, timeline: Timeline): Promise<Measured> {
  const rng = new Rng(users);
  const V = engine.config.vocabSize;
  const rows: { start: number; end: number; first: number; out: number; order: number }[] = [];
  let issued = 0;
  const user = async () => {
    for (let r = 0; r < roundsFor(users); r++) {
      const order = issued++;
      const prompt = Array.from({ length: ISL }, () => 1 + Math.floor(rng.next() * (V - 1)));
      const start = performance.now();
      timeline.sample();
      const g = await engine.generate(prompt, { maxTokens: OSL, ignoreEos: true, temperature: 0 });
      const end = performance.now();
      timeline.sample();
      rows.push({ start, end, first: start + g.ttftMs, out: g.completionTokens, order });
    }
  };
  await Promise.all(Array.from({ length: users }, user));
  // On the run's clock (seconds); the first wave (one request per user, all arriving at once) is warm-up, as the
  // simulator's `warmup`.
  const kept = rows
    .filter((q) => q.order >= users)
    .map((q) => ({
      start: timeline.at(q.start) / 1000,
      first: timeline.at(q.first) / 1000,
      end: timeline.at(q.end) / 1000,
      out: q.out,
    }));
  const t0 = Math.min(...kept.map((q) => q.start));
  const t1 = Math.max(...kept.map((q) => q.end));
  return {
    ttft_s: median(kept.map((q) => q.first - q.start)),
    tpot_s: median(kept.map((q) => (q.end - q.first) / (q.out - 1))),
    output_tokens_per_s: kept.reduce((a, q) => a + q.out, 0) / (t1 - t0),
  };
}

// 3. The simulator, through the CLI a user would run (`infersim simulate --hardware-profile`): same model, scheduler
// and KV blocks; the engine's policy is prefill-first (SGLang's), whole prompts, no mixed steps, KV reserved as it
// grows (recompute preemption), prefix caching irrelevant (random prompts).
const CLI = fileURLToPath(new URL('../src/cli/index.ts', import.meta.url));
const configFile = join(dir, 'config.json');
function simulateArgs(users: number): string[] {
  return [
    'simulate',
    configFile,
    '--hardware-profile',
    profileFile,
    '--engine',
    'sglang',
    '--max-batch',
    String(MAX_SEQS),
    '--max-tokens',
    String(MAX_BATCHED),
    '--no-chunked-prefill',
    '--block-size',
    String(BLOCK),
    '--reservation',
    'current',
    '--no-prefix-caching',
    '--kv-tokens',
    String(engine.blocks.blocks.length * BLOCK),
    '--concurrency',
    String(users),
    '--num-requests',
    String(users * roundsFor(users)),
    '--isl',
    String(ISL),
    '--osl',
    String(OSL),
    '--seed',
    '1',
    '--warmup',
    String(users),
    '--no-ideal',
    '--json',
  ];
}
function simulated(users: number): Measured {
  const args = simulateArgs(users);
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`infersim ${args.join(' ')} failed: ${r.stderr.trim()}`);
  const m = JSON.parse(r.stdout) as { ttft_ms: number; tpot_ms: number; output_tokens_per_s: number };
  return { ttft_s: m.ttft_ms / 1e3, tpot_s: m.tpot_ms / 1e3, output_tokens_per_s: m.output_tokens_per_s };
}

interface Row {
  users: number;
  engine: Measured;
  sim: Measured;
  error: { ttft: number; tpot: number; output_tokens_per_s: number };
  profile: MeasuredProfile;
  host: { stepS: number; sequenceS: number };
  decode_forward: { batch: number; steps: number; loop_s: number; profile_s: number };
  profile_shapes: (TimedShape & { before_s: number; after_s: number; fitted_s: number })[];
}
const results: Row[] = [];
for (const u of USERS) {
  process.stderr.write(`engine: closed loop of ${u} user(s)…\n`);
  const before = lastTimed;
  const { m: e, decodeForward } = await closedLoop(u);
  // Profiled again right after the loop (and that serves as the next loop's "before"): the profile the simulator
  // gets is fitted to the mean of both, so a drift of the machine's speed during the loop is met halfway.
  if (REPROFILE) lastTimed = await timeForward();
  const measured = writeProfile(before, lastTimed);
  const s = simulated(u);
  // The loop's most frequent decode batch: its forward in the loop against the profile's (host costs left out).
  const [modal, times] = [...decodeForward].sort((a, b) => b[1].length - a[1].length)[0]!;
  const drift = {
    batch: modal,
    steps: times.length,
    loop_s: median(times),
    profile_s: predict(spec, measured.forward, [{ kind: 'decode', batch: modal, tokens: ISL + OSL / 2 }])[0]!,
  };
  const err = (k: keyof Measured) => +((s[k] - e[k]) / e[k]).toFixed(3);
  results.push({
    users: u,
    engine: e,
    sim: s,
    error: { ttft: err('ttft_s'), tpot: err('tpot_s'), output_tokens_per_s: err('output_tokens_per_s') },
    profile: measured.profile,
    host: measured.host,
    decode_forward: drift,
    profile_shapes: measured.timed.map((t, i) => ({
      ...t,
      before_s: measured.before[i]!.seconds,
      after_s: measured.after[i]!.seconds,
      fitted_s: measured.fitted[i]!,
    })),
  });
}
await engine.close();
if (tmp) rmSync(tmp, { recursive: true, force: true });

const f = (x: number, d = 2) => x.toFixed(d);
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`;
const head = ['users', 'TTFT ms eng/sim', 'err', 'TPOT ms eng/sim', 'err', 'out tok/s eng/sim', 'err'];
const lines = results.map((r) => [
  String(r.users),
  `${f(1000 * r.engine.ttft_s, 1)}/${f(1000 * r.sim.ttft_s, 1)}`,
  pct(r.error.ttft),
  `${f(1000 * r.engine.tpot_s)}/${f(1000 * r.sim.tpot_s)}`,
  pct(r.error.tpot),
  `${f(r.engine.output_tokens_per_s, 0)}/${f(r.sim.output_tokens_per_s, 0)}`,
  pct(r.error.output_tokens_per_s),
]);
const describe = (r: Row) => {
  const p = r.profile;
  return (
    `profile around ${r.users} user(s): ${f(p.bytesPerS / 1e9)} GB/s, GEMM ${f(p.gemmFlopsPerS / 1e9)} GFLOP/s, ` +
    `attention ${f(p.attentionFlopsPerS / 1e9)} GFLOP/s, ${f(p.stepS * 1e3, 3)} ms/step, ` +
    `${f(p.sequenceS * 1e3, 3)} ms/sequence (of which host ${f(r.host.stepS * 1e3, 3)} ms/step, ` +
    `${f(r.host.sequenceS * 1e3, 3)} ms/sequence)\n` +
    `  decode forward at batch ${r.decode_forward.batch} in the loop: ${f(r.decode_forward.loop_s * 1e3)} ms ` +
    `(median of ${r.decode_forward.steps} steps), profile ${f(r.decode_forward.profile_s * 1e3)} ms (` +
    `${pct(r.decode_forward.profile_s / r.decode_forward.loop_s - 1)})\n` +
    r.profile_shapes
      .map(
        (t) =>
          `  ${t.kind} b=${t.batch} ${t.tokens} tok: ${f(t.before_s * 1e3)} ms before, ` +
          `${f(t.after_s * 1e3)} after, fit ${f(t.fitted_s * 1e3)} ms`,
      )
      .join('\n')
  );
};
process.stderr.write(
  `${name}; last profile written to ${profileFile}\n` +
    (REPROFILE ? results.map(describe).join('\n') : describe(results[0]!)) +
    `\nsimulated by: infersim ${simulateArgs(USERS.at(-1)!).join(' ')}\n` +
    `ISL ${ISL}, OSL ${OSL}, ${USERS.map(roundsFor).join('/')} requests per user (first wave warm-up), max_num_seqs ${MAX_SEQS}, ` +
    `max_num_batched_tokens ${MAX_BATCHED}, block ${BLOCK}\n` +
    [head, ...lines].map((r) => r.map((c, i) => c.padStart(i ? 18 : 6)).join('')).join('\n') +
    '\n',
);
console.log(
  JSON.stringify({
    bench: 'engine-vs-sim',
    model: MODEL,
    isl: ISL,
    osl: OSL,
    rounds: ROUNDS,
    threads: THREADS,
    reprofile: REPROFILE,
    clock: CLOCK,
    profile_file: profileFile,
    results,
  }),
);
