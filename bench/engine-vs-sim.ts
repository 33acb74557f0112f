/**
 * The simulator checked against the real engine: the CPU engine serves a closed loop of 1, 4 and 16 users at fixed
 * ISL/OSL (random prompt ids, so no prefix-cache hits; EOS ignored), and `simulateServing` runs the same model,
 * scheduler limits (max_num_seqs, max_num_batched_tokens, block size, the engine's KV blocks) and the hardware
 * profile the engine measured on this machine (bench/engine-profile.ts). Prints median TTFT, median TPOT and
 * output throughput of both and the simulator's relative error (goal: TPOT and throughput within 15%).
 *
 *   npm run bench:engine-sim
 *   ENGINE_SIM_MODEL=tiny (models/kjv-llama-tiny, default) | gpt2-small (random GPT-2-small-shaped checkpoint)
 *   ENGINE_SIM_ISL, ENGINE_SIM_OSL (default 128, 64), ENGINE_SIM_USERS (default 1,4,16),
 *   ENGINE_SIM_ROUNDS (requests per user, default 4, raised so that at least 16 requests are measured; the first
 *   wave is warm-up), ENGINE_SIM_THREADS (default 1),
 *   ENGINE_SIM_PROFILE_OUT (where the measured profile is written; default $TMPDIR/infersim-cpu-profile-MODEL.json).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { profileEfficiency, profileHardware, type MeasuredProfile } from '../src/core/perf/measured.js';
import { simulateServing } from '../src/core/serving/index.js';
import { Engine } from '../src/engine/engine.js';
import { Rng } from '../src/engine/sampler.js';
import { writeGpt2SmallCheckpoint } from './engine-load.js';
import {
  fitProfile,
  hostSequenceS,
  modelSpec,
  predict,
  SERVING_PLAN,
  servingShapes,
  timeShapes,
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

// 1. The profile: the engine's forward at the shapes this run goes through, fitted to core/perf's step model, plus
// the engine's sampling and detokenising per token outside the forward (one more cost per sequence per step).
// On a shared machine the speed drifts with other load, so by default the forward is profiled again right before
// each closed loop (ENGINE_SIM_REPROFILE=0: once).
const REPROFILE = env('REPROFILE', '1') !== '0';
const name = `cpu: ${os.cpus()[0]?.model ?? '?'}, ${THREADS} onnxruntime thread(s), ${MODEL}`;
const profileFile = env('PROFILE_OUT', join(os.tmpdir(), `infersim-cpu-profile-${MODEL}.json`));
// Warm-up: V8 compiles the engine's TypeScript (attention, gathers, sampling) to its optimised tiers only after
// many calls; without this the first profile times the cold code (tiny model: ~25% slower per decode step).
for (let i = 0; i < 4; i++)
  await engine.generate([1, 2, 3, 4], { maxTokens: OSL, ignoreEos: true, temperature: 0 });
await hostSequenceS(engine, ISL, MAX_SEQS);
const hostS = await hostSequenceS(engine, ISL, MAX_SEQS);
async function measureProfile() {
  process.stderr.write('profiling the engine forward…\n');
  const timed = await timeShapes(engine.model, engine.config, servingShapes(ISL, OSL, USERS), 4);
  const forward = fitProfile(spec, timed, name);
  const fitted = predict(spec, forward, timed);
  const profile: MeasuredProfile = { ...forward, sequenceS: forward.sequenceS + hostS };
  // Written out in core/perf/measured.ts's form (profileHardware / profileEfficiency read it back).
  writeFileSync(profileFile, JSON.stringify(profile, null, 2) + '\n');
  return { profile, timed, fitted };
}
let measured = await measureProfile();

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

async function closedLoop(users: number): Promise<Measured> {
  const rng = new Rng(users);
  const V = engine.config.vocabSize;
  const rows: { start: number; end: number; ttft: number; out: number; order: number }[] = [];
  let issued = 0;
  const user = async () => {
    for (let r = 0; r < roundsFor(users); r++) {
      const order = issued++;
      const prompt = Array.from({ length: ISL }, () => 1 + Math.floor(rng.next() * (V - 1)));
      const start = performance.now();
      const g = await engine.generate(prompt, { maxTokens: OSL, ignoreEos: true, temperature: 0 });
      rows.push({ start, end: performance.now(), ttft: g.ttftMs / 1000, out: g.completionTokens, order });
    }
  };
  await Promise.all(Array.from({ length: users }, user));
  // The first wave (one request per user, all arriving at once) is warm-up, as the simulator's `warmup`.
  const kept = rows.filter((q) => q.order >= users);
  const t0 = Math.min(...kept.map((q) => q.start));
  const t1 = Math.max(...kept.map((q) => q.end));
  return {
    ttft_s: median(kept.map((q) => q.ttft)),
    tpot_s: median(kept.map((q) => ((q.end - q.start) / 1000 - q.ttft) / (q.out - 1))),
    output_tokens_per_s: kept.reduce((a, q) => a + q.out, 0) / ((t1 - t0) / 1000),
  };
}

// 3. The simulator: same model, scheduler and KV blocks; the engine's policy is prefill-first, whole prompts, no
// mixed steps, KV reserved as it grows (recompute preemption), prefix caching irrelevant (random prompts).
function simulated(users: number, profile: MeasuredProfile): Measured {
  const r = simulateServing({
    spec,
    hw: profileHardware(profile),
    precision: 'fp32',
    kvPrecision: 'fp32',
    engine: 'sglang',
    engineOverrides: {
      maxRunning: MAX_SEQS,
      maxStepTokens: MAX_BATCHED,
      chunkedPrefill: false,
      mixed: false,
      blockTokens: BLOCK,
      reservation: 'current',
      prefixCaching: false,
    },
    agg: { plan: SERVING_PLAN, workers: 1 },
    kvTokensPerRank: engine.blocks.blocks.length * BLOCK,
    workload: {
      kind: 'closed',
      users,
      numRequests: users * roundsFor(users),
      input: { kind: 'fixed', value: ISL },
      output: { kind: 'fixed', value: OSL },
      seed: 1,
    },
    warmup: users,
    efficiency: profileEfficiency(profile),
    ideal: false,
    itl: false,
  });
  const m = r.estimate;
  return { ttft_s: m.ttft_s.p50, tpot_s: m.tpot_s.p50, output_tokens_per_s: m.output_tokens_per_s };
}

interface Row {
  users: number;
  engine: Measured;
  sim: Measured;
  error: { ttft: number; tpot: number; output_tokens_per_s: number };
  profile: MeasuredProfile;
  profile_shapes: (TimedShape & { fitted_s: number })[];
}
const results: Row[] = [];
for (const [n, u] of USERS.entries()) {
  if (REPROFILE && n > 0) measured = await measureProfile();
  process.stderr.write(`engine: closed loop of ${u} user(s)…\n`);
  const e = await closedLoop(u);
  const s = simulated(u, measured.profile);
  const err = (k: keyof Measured) => +((s[k] - e[k]) / e[k]).toFixed(3);
  results.push({
    users: u,
    engine: e,
    sim: s,
    error: { ttft: err('ttft_s'), tpot: err('tpot_s'), output_tokens_per_s: err('output_tokens_per_s') },
    profile: measured.profile,
    profile_shapes: measured.timed.map((t, i) => ({ ...t, fitted_s: measured.fitted[i]! })),
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
    `profile before ${r.users} user(s): ${f(p.bytesPerS / 1e9)} GB/s, GEMM ${f(p.gemmFlopsPerS / 1e9)} GFLOP/s, ` +
    `attention ${f(p.attentionFlopsPerS / 1e9)} GFLOP/s, ${f(p.stepS * 1e3, 3)} ms/step, ` +
    `${f(p.sequenceS * 1e3, 3)} ms/sequence (of which host ${f(hostS * 1e3, 3)})\n` +
    r.profile_shapes
      .map(
        (t) =>
          `  ${t.kind} b=${t.batch} ${t.tokens} tok: ${f(t.seconds * 1e3)} ms, fit ${f(t.fitted_s * 1e3)} ms`,
      )
      .join('\n')
  );
};
process.stderr.write(
  `${name}; last profile written to ${profileFile}\n` +
    (REPROFILE ? results.map(describe).join('\n') : describe(results[0]!)) +
    `\nISL ${ISL}, OSL ${OSL}, ${USERS.map(roundsFor).join('/')} requests per user (first wave warm-up), max_num_seqs ${MAX_SEQS}, ` +
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
    host_sequence_s: hostS,
    profile_file: profileFile,
    results,
  }),
);
