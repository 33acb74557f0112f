/**
 * Starts the server: PORT (default 8000) and HOST (default 127.0.0.1; 0.0.0.0 to listen on every interface).
 * The store is DATABASE_URL's PostgreSQL, else ./data/infersim.db (INFERSIM_DATA_DIR moves it).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EngineError, type EngineOptions } from '../engine/engine.js';
import { buildApp } from './app.js';
import { engineModelDir } from './engine-model.js';
import { engineOptionsFromEnv } from './engine-options.js';
import { WorkerEngine } from './engine-worker.js';
import type { RouteModule } from './context.js';
import { registerEngineRoutes } from './routes/engine.js';
import { registerOpenAiRoutes } from './routes/openai.js';

/** The shipped model (trained by scripts/engine/train_tiny.py), so generation works offline on a fresh machine. */
const DEFAULT_MODEL = fileURLToPath(new URL('../../models/kjv-llama-tiny', import.meta.url));

/**
 * The engine over `model` (default INFERSIM_MODEL, else the shipped model): a checkpoint directory or a Hub repo
 * id (downloaded once into the cache). 'none', or a model that cannot be had, serves the engine routes as 503.
 * The engine runs on its own thread (WorkerEngine): generation never holds the HTTP event loop.
 */
async function loadEngine(
  model?: string,
  revision?: string,
  options: EngineOptions = {},
): Promise<WorkerEngine | null> {
  const source = model ?? process.env['INFERSIM_MODEL'] ?? DEFAULT_MODEL;
  if (source === 'none') return null;
  try {
    const { dir, name } = await engineModelDir(source, { revision });
    return await WorkerEngine.start(dir, { name, ...options });
  } catch (e) {
    // Limits the model cannot run with are the user's to fix: stop rather than serve without an engine.
    if (e instanceof EngineError) throw e;
    process.stderr.write(
      `infersim serve: engine not loaded (${e instanceof Error ? e.message : String(e)})\n`,
    );
    return null;
  }
}

export interface ServeOptions {
  port?: number;
  host?: string;
  logger?: boolean;
  /** The engine's checkpoint: a directory or a Hub repo id; 'none' for no engine. */
  model?: string;
  /** Hub revision of `model` (branch, tag or commit). */
  revision?: string;
  /** Scheduler and cache limits, over those of the environment (INFERSIM_MAX_NUM_SEQS, …). */
  engine?: EngineOptions;
}

export async function serve(o: ServeOptions = {}): Promise<{ url: string; close: () => Promise<void> }> {
  const port = o.port ?? Number(process.env['PORT'] ?? 8000);
  const host = o.host ?? process.env['HOST'] ?? '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be 0-65535 (got ${port})`);
  // A bad limit in the environment stops the server with its message rather than serving without an engine.
  const engine = await loadEngine(o.model, o.revision, { ...engineOptionsFromEnv(), ...o.engine });
  const engineRoutes: RouteModule = (a) => {
    registerEngineRoutes(a as unknown as Parameters<typeof registerEngineRoutes>[0], engine);
    registerOpenAiRoutes(a as unknown as Parameters<typeof registerOpenAiRoutes>[0], engine);
  };
  const { app, ctx } = await buildApp({
    logger: o.logger === false ? false : { level: process.env['LOG_LEVEL'] ?? 'info' },
    routes: [engineRoutes],
  });
  const url = await app.listen({ port, host });
  const db = ctx.store ? `${ctx.store.dialect} ${ctx.store.location}` : 'none';
  process.stdout.write(`${JSON.stringify({ listening: url, database: db, docs: `${url}/docs` })}\n`);
  return {
    url,
    close: async () => {
      await app.close();
      await engine?.close();
    },
  };
}

const isMain =
  process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  serve({ logger: process.env['LOG_LEVEL'] !== 'silent' })
    .then(({ close }) => {
      const stop = () => {
        close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    })
    .catch((e: unknown) => {
      process.stderr.write(`infersim serve: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    });
}
