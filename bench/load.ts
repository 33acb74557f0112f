/**
 * Load test of POST /api/models/calculate and POST /config/system-metrics over loopback: the server runs in its own
 * process (as in production, with its SQLite store in a temp dir), autocannon drives it for a bounded time. Per
 * endpoint two phases: the same request repeated (calculate: answered from the results cache; system-metrics is
 * stateless and computes every time) and requests that differ in length (computed each time).
 * Prints one JSON line: req/s, p50/p99 latency, errors, the goal (>= 5,000 req/s, p99 < 20 ms) and the machine.
 *
 *   npm run bench:load              # 10 s per phase, 32 connections
 *   LOAD_SECONDS=5 LOAD_CONNECTIONS=64 npm run bench:load
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
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

async function run(url: string, target: Target, phase: string, varied: boolean): Promise<Phase> {
  let n = 0;
  const r = await autocannon({
    url: `${url}${target.path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    connections: CONNECTIONS,
    duration: SECONDS,
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

const dir = mkdtempSync(join(tmpdir(), 'infersim-load-'));
const server = await startServer(dir);
try {
  const phases: Phase[] = [];
  for (const t of TARGETS) {
    await run(server.url, t, 'warm-up', false);
    phases.push(await run(server.url, t, 'same request', false));
    phases.push(await run(server.url, t, 'varied length', true));
  }
  process.stdout.write(
    JSON.stringify({
      bench: 'load',
      seconds_per_phase: SECONDS,
      connections: CONNECTIONS,
      goal: GOAL,
      phases,
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
