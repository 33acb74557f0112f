/**
 * Starts the server: PORT (default 8000) and HOST (default 127.0.0.1; 0.0.0.0 to listen on every interface).
 * The store is DATABASE_URL's PostgreSQL, else ./data/infersim.db (INFERSIM_DATA_DIR moves it).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildApp } from './app.js';

export interface ServeOptions {
  port?: number;
  host?: string;
  logger?: boolean;
}

export async function serve(o: ServeOptions = {}): Promise<{ url: string; close: () => Promise<void> }> {
  const port = o.port ?? Number(process.env['PORT'] ?? 8000);
  const host = o.host ?? process.env['HOST'] ?? '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be 0-65535 (got ${port})`);
  const { app, ctx } = await buildApp({
    logger: o.logger === false ? false : { level: process.env['LOG_LEVEL'] ?? 'info' },
  });
  const url = await app.listen({ port, host });
  const db = ctx.store ? `${ctx.store.dialect} ${ctx.store.location}` : 'none';
  process.stdout.write(`${JSON.stringify({ listening: url, database: db, docs: `${url}/docs` })}\n`);
  return { url, close: () => app.close() };
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
