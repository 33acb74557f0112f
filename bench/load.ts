/**
 * Load test of POST /api/models/calculate over loopback: the server runs in its own process (as in production,
 * with its SQLite store in a temp dir), autocannon drives it for a bounded time. Two phases: the same request
 * repeated (answered from the results cache) and requests that differ in sequence length (computed, then cached).
 * Prints one JSON line: req/s, p50/p99 latency, errors, and the machine.
 *
 *   npm run bench:load              # 10 s per phase, 32 connections
 *   LOAD_SECONDS=5 LOAD_CONNECTIONS=64 npm run bench:load
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';

const SECONDS = Math.min(60, Math.max(1, Number(process.env['LOAD_SECONDS'] ?? 10)));
const CONNECTIONS = Math.min(1024, Math.max(1, Number(process.env['LOAD_CONNECTIONS'] ?? 32)));

const BODY = {
  model_id: 'meta-llama/Llama-3.1-8B',
  precision: 'bf16',
  batch_size: 1,
  seq_length: 8192,
};

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
  phase: string;
  req_per_s: number;
  p50_ms: number;
  p99_ms: number;
  requests: number;
  errors: number;
  non_2xx: number;
}

async function run(url: string, phase: string, varied: boolean): Promise<Phase> {
  let n = 0;
  const r = await autocannon({
    url: `${url}/api/models/calculate`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    connections: CONNECTIONS,
    duration: SECONDS,
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify(varied ? { ...BODY, seq_length: 1 + (n++ % 100_000) } : BODY),
        }),
      },
    ],
  });
  return {
    phase,
    req_per_s: Math.round(r.requests.average),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    requests: r.requests.total,
    errors: r.errors + r.timeouts,
    non_2xx: r.non2xx,
  };
}

const dir = mkdtempSync(join(tmpdir(), 'infersim-load-'));
const server = await startServer(dir);
try {
  await run(server.url, 'warm-up', false);
  const phases = [
    await run(server.url, 'same request (cache)', false),
    await run(server.url, 'varied seq_length', true),
  ];
  process.stdout.write(
    JSON.stringify({
      bench: 'load',
      endpoint: 'POST /api/models/calculate',
      seconds_per_phase: SECONDS,
      connections: CONNECTIONS,
      phases,
      machine: {
        cpus: cpus().length,
        cpu: cpus()[0]?.model ?? 'unknown',
        node: process.version,
        platform: process.platform,
      },
    }) + '\n',
  );
} finally {
  server.stop();
  rmSync(dir, { recursive: true, force: true });
}
