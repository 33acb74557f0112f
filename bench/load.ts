/**
 * Load test of POST /api/models/calculate and POST /config/system-metrics over loopback: the server runs in its own
 * process (as in production, with its SQLite store in a temp dir), autocannon drives it for a bounded time. Per
 * endpoint two phases: the same request repeated (calculate: answered from the results cache; system-metrics is
 * stateless and computes every time) and requests that differ in length (computed each time).
 * Prints one JSON line: req/s, p50/p99 latency, errors, the goal (>= 5,000 req/s, p99 < 20 ms) and the machine.
 *
 * Mixed phase (issue 15: the engine runs on its own thread): the engine streams 64-token generations
 * (/v1/completions, stream) back to back, first alone (idle TPOT), then while autocannon drives the calculator
 * (calculator p99 under generation, goal < 50 ms; engine TPOT under calculator load, goal <= 1.5x idle). The
 * streaming client runs on its own thread here, so autocannon's loop does not delay its clock readings.
 *
 *   npm run bench:load              # 10 s per phase, 32 connections
 *   LOAD_SECONDS=5 LOAD_CONNECTIONS=64 npm run bench:load
 *   LOAD_ONLY=mixed npm run bench:load   # the mixed phase alone
 *   LOAD_MIXED_RATE=0 npm run bench:load # the mixed phase's calculator flat out instead of 1,000 req/s
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';

const SECONDS = Math.min(60, Math.max(1, Number(process.env['LOAD_SECONDS'] ?? 10)));
const CONNECTIONS = Math.min(1024, Math.max(1, Number(process.env['LOAD_CONNECTIONS'] ?? 32)));

const CALCULATE = {
  model_id: 'meta-llama/Llama-3.1-8B',
  precision: 'bf16',
  batch_size: 1,
  seq_length: 8192,
};

/** The spec's example: Llama-3.3-70B on an NVL72 rack, TP 8 in fp8, prefill and decode. */
const LAYERS = {
  attention: { tensor_parallel: 8, context_parallel: 1, dtype: 'fp8' },
  feedforward: { tensor_parallel: 8, sequence_parallel: 1, dtype: 'fp8' },
  norm: { tensor_parallel: 1, dtype: 'fp8' },
  embedding: { tensor_parallel: 1, dtype: 'fp8' },
};
const PHASE_REQ = {
  model_id: 'meta-llama/Llama-3.3-70B-Instruct',
  hardware_id: 'nvidia_nvl72_rack',
  batch_size: 128,
  seq_len: 1024,
  layers: LAYERS,
};
const METRICS = { prefill_req: PHASE_REQ, decode_req: PHASE_REQ };

interface Target {
  path: string;
  body: (varied: number | null) => unknown;
}

const TARGETS: Target[] = [
  {
    path: '/api/models/calculate',
    body: (n) => (n === null ? CALCULATE : { ...CALCULATE, seq_length: 1 + (n % 100_000) }),
  },
  {
    path: '/config/system-metrics',
    body: (n) =>
      n === null
        ? METRICS
        : {
            prefill_req: { ...PHASE_REQ, seq_len: 1 + (n % 8192) },
            decode_req: { ...PHASE_REQ, seq_len: 1 + (n % 8192) },
          },
  },
];
const GOAL = { req_per_s: 5000, p99_ms: 20 };
const MIXED_GOAL = { calculator_p99_ms: 50, tpot_ratio: 1.5 };
const ONLY = process.env['LOAD_ONLY'] ?? '';
/**
 * Requests per second the mixed phase offers the calculator (LOAD_MIXED_RATE; 0: as fast as the connections go).
 * Offered at a fixed rate, the calculator's p99 tells how long a request waits; driven flat out on 2 cores, it
 * mostly tells that the engine's core is no longer the calculator's (throughput halves, queues double).
 */
const MIXED_RATE = Math.max(0, Number(process.env['LOAD_MIXED_RATE'] ?? 1000));

async function startServer(dataDir: string): Promise<{ url: string; stop: () => void }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server/main.ts'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', INFERSIM_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in 30 s')), 30_000);
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        const j = JSON.parse(line) as { listening?: string };
        if (j.listening) {
          clearTimeout(timer);
          resolve(j.listening);
        }
      } catch {
        // other output
      }
    });
  });
  return { url, stop: () => proc.kill('SIGTERM') };
}

interface Phase {
  endpoint: string;
  phase: string;
  req_per_s: number;
  p50_ms: number;
  p99_ms: number;
  requests: number;
  errors: number;
  non_2xx: number;
  meets_goal: boolean;
}

async function run(
  url: string,
  target: Target,
  phase: string,
  varied: boolean,
  overallRate?: number,
): Promise<Phase> {
  let n = 0;
  const r = await autocannon({
    url: `${url}${target.path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    connections: CONNECTIONS,
    duration: SECONDS,
    ...(overallRate ? { overallRate } : {}),
    requests: [
      {
        setupRequest: (req) => ({ ...req, body: JSON.stringify(target.body(varied ? n++ : null)) }),
      },
    ],
  });
  const errors = r.errors + r.timeouts;
  const reqPerS = Math.round(r.requests.average);
  return {
    endpoint: `POST ${target.path}`,
    phase,
    req_per_s: reqPerS,
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    requests: r.requests.total,
    errors,
    non_2xx: r.non2xx,
    meets_goal: reqPerS >= GOAL.req_per_s && r.latency.p99 < GOAL.p99_ms && errors + r.non2xx === 0,
  };
}

/**
 * The streaming client, on a thread of its own: 64-token greedy generations streamed back to back until told to
 * stop; per generation the time between its first and last token over the tokens between (TPOT, as a client
 * sees it) and its whole latency.
 */
const STREAMER = `
const { parentPort, workerData } = require('node:worker_threads');
let stop = false;
parentPort.on('message', () => { stop = true; });
(async () => {
  const out = [];
  while (!stop) {
    const t0 = performance.now();
    const r = await fetch(workerData.url + '/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'In the beginning', max_tokens: 64, temperature: 0, ignore_eos: true, stream: true }),
    });
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    const times = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      const parts = buf.split('\\n\\n');
      buf = parts.pop();
      const now = performance.now();
      for (const p of parts) if (p.startsWith('data: {') && /"text":"[^"]/.test(p)) times.push(now);
    }
    if (times.length > 1)
      out.push({ tpot_ms: (times[times.length - 1] - times[0]) / (times.length - 1), latency_ms: performance.now() - t0 });
  }
  parentPort.postMessage(out);
})();`;

interface Streamed {
  tpot_ms: number;
  latency_ms: number;
}

function startStreamer(url: string): { stop: () => Promise<Streamed[]> } {
  const w = new Worker(STREAMER, { eval: true, workerData: { url } });
  const result = new Promise<Streamed[]>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  return {
    stop: async () => {
      w.postMessage('stop');
      const r = await result;
      await w.terminate();
      return r;
    },
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
};
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

async function mixed(url: string) {
  const target = TARGETS[0]!;
  await run(url, target, 'warm-up', false);
  // Idle: the engine streams alone.
  const idle = startStreamer(url);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const alone = await idle.stop();
  const rate = MIXED_RATE || undefined;
  const calcAlone = await run(url, target, 'calculator alone', true, rate);
  const busy = startStreamer(url);
  const load1 = loadavg()[0]!;
  const calc = await run(url, target, 'calculator while the engine streams', true, rate);
  const during = await busy.stop();
  const tpotIdle = median(alone.map((g) => g.tpot_ms));
  const tpotLoaded = median(during.map((g) => g.tpot_ms));
  return {
    endpoint: calc.endpoint,
    offered_req_per_s: MIXED_RATE || 'max',
    calculator_alone: { req_per_s: calcAlone.req_per_s, p50_ms: calcAlone.p50_ms, p99_ms: calcAlone.p99_ms },
    calculator_while_streaming: {
      req_per_s: calc.req_per_s,
      p50_ms: calc.p50_ms,
      p99_ms: calc.p99_ms,
      errors: calc.errors,
      non_2xx: calc.non_2xx,
    },
    engine_idle: {
      generations: alone.length,
      tpot_ms: round(tpotIdle),
      latency_ms_p50: round(median(alone.map((g) => g.latency_ms))),
    },
    engine_under_calculator_load: {
      generations: during.length,
      tpot_ms: round(tpotLoaded),
      latency_ms_p50: round(median(during.map((g) => g.latency_ms))),
    },
    tpot_ratio: round(tpotLoaded / tpotIdle),
    loadavg_1m_at_start: round(load1),
    goal: MIXED_GOAL,
    meets_goal:
      calc.p99_ms < MIXED_GOAL.calculator_p99_ms &&
      tpotLoaded / tpotIdle <= MIXED_GOAL.tpot_ratio &&
      calc.errors + calc.non_2xx === 0,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'infersim-load-'));
const server = await startServer(dir);
try {
  const phases: Phase[] = [];
  if (ONLY !== 'mixed')
    for (const t of TARGETS) {
      await run(server.url, t, 'warm-up', false);
      phases.push(await run(server.url, t, 'same request', false));
      phases.push(await run(server.url, t, 'varied length', true));
    }
  const mixedPhase = ONLY === '' || ONLY === 'mixed' ? await mixed(server.url) : null;
  process.stdout.write(
    JSON.stringify({
      bench: 'load',
      seconds_per_phase: SECONDS,
      connections: CONNECTIONS,
      goal: GOAL,
      phases,
      mixed: mixedPhase,
      machine: {
        cpus: cpus().length,
        cpu: cpus()[0]?.model ?? 'unknown',
        loadavg_1m: Math.round(loadavg()[0]! * 100) / 100,
        node: process.version,
        platform: process.platform,
      },
    }) + '\n',
  );
} finally {
  server.stop();
  rmSync(dir, { recursive: true, force: true });
}
