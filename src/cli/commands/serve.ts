import { InvalidArgumentError, type Command } from 'commander';
import type { EngineOptions } from '../../engine/engine.js';
import { ENGINE_SETTINGS, parseSetting } from '../../server/engine-options.js';
import { int } from '../options.js';

const HELP: Partial<Record<keyof EngineOptions, string>> = {
  maxNumSeqs: 'sequences the engine runs at once (default 8)',
  maxBatchedTokens: 'tokens one engine step may process (default 4096, at least --max-model-len)',
  blockSize: 'tokens per KV-cache block (default 16)',
  kvCacheBytes: 'KV-cache budget, e.g. 512MiB (default: --max-num-seqs sequences of --max-model-len)',
  maxModelLen: "longest sequence, prompt and completion (default: min(2048, the model's positions))",
};

/** Commander's name for a flag: --kv-cache-memory → kvCacheMemory. */
const attribute = (flag: string) => flag.slice(2).replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

/** The engine options among commander's parsed flags. */
export function engineOptionsFromFlags(o: Record<string, unknown>): EngineOptions {
  const engine: Record<string, number> = {};
  for (const s of ENGINE_SETTINGS) {
    const v = o[attribute(s.flag)];
    if (typeof v === 'number') engine[s.key] = v;
  }
  return engine as EngineOptions;
}

/** `infersim serve`: the REST service (every spec's endpoints, /docs, /redoc), until SIGINT/SIGTERM. */
export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description('start the REST service (default http://127.0.0.1:8000; docs at /docs and /redoc)')
    .option('--port <n>', 'port (default: PORT or 8000)', int('--port', 0, 65535))
    .option('--host <h>', 'interface (default: HOST or 127.0.0.1; 0.0.0.0 for all)')
    .option(
      '--model <dir|repo>',
      "the engine's checkpoint: a directory or a Hugging Face repo id, downloaded once into the cache " +
        '(default: INFERSIM_MODEL, else the shipped models/kjv-llama-tiny; none: no engine)',
    )
    .option('--revision <rev>', 'Hub branch, tag or commit of --model (default: main)');
  // The engine's limits, named as vLLM names them; each also read from its environment variable.
  for (const s of ENGINE_SETTINGS)
    cmd.option(`${s.flag} <${s.bytes ? 'bytes' : 'n'}>`, `${HELP[s.key]} (env ${s.env})`, (v: string) => {
      try {
        return parseSetting(s, v);
      } catch (e) {
        throw new InvalidArgumentError((e as Error).message);
      }
    });
  cmd.action(async (o: { port?: number; host?: string; model?: string; revision?: string }) => {
    const { serve } = await import('../../server/main.js');
    const { close } = await serve({
      port: o.port,
      host: o.host,
      model: o.model,
      revision: o.revision,
      engine: engineOptionsFromFlags(o),
    });
    await new Promise<void>((resolve) => {
      const stop = () => void close().then(resolve, resolve);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  });
}
