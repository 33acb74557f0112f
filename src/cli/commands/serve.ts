import type { Command } from 'commander';
import { int } from '../options.js';

/** `infersim serve`: the REST service (every spec's endpoints, /docs, /redoc), until SIGINT/SIGTERM. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('start the REST service (default http://127.0.0.1:8000; docs at /docs and /redoc)')
    .option('--port <n>', 'port (default: PORT or 8000)', int('--port', 0, 65535))
    .option('--host <h>', 'interface (default: HOST or 127.0.0.1; 0.0.0.0 for all)')
    .option(
      '--model <dir|repo>',
      "the engine's checkpoint: a directory or a Hugging Face repo id, downloaded once into the cache " +
        '(default: INFERSIM_MODEL, else the shipped models/kjv-llama-tiny; none: no engine)',
    )
    .option('--revision <rev>', 'Hub branch, tag or commit of --model (default: main)')
    .action(async (o: { port?: number; host?: string; model?: string; revision?: string }) => {
      const { serve } = await import('../../server/main.js');
      const { close } = await serve({ port: o.port, host: o.host, model: o.model, revision: o.revision });
      await new Promise<void>((resolve) => {
        const stop = () => void close().then(resolve, resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
