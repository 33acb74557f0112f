#!/usr/bin/env node
/** The `infersim` command: thin adapters over src/core. Bad input exits 2 with one line on stderr. */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerCapacity } from './commands/capacity.js';
import { registerCatalog } from './commands/catalog.js';
import { registerMemory } from './commands/memory.js';
import { registerParams } from './commands/params.js';
import { registerPerf } from './commands/perf.js';
import { registerServe } from './commands/serve.js';
import { registerSimulate } from './commands/simulate.js';
import { registerTrain } from './commands/train.js';

export function buildProgram(): Command {
  const program = new Command('infersim')
    .description('exact memory, speed and parallelism answers for large language models')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerParams(program);
  registerMemory(program);
  registerCapacity(program);
  registerTrain(program);
  registerPerf(program);
  registerCatalog(program);
  registerServe(program);
  registerSimulate(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end through here too, with exit code 0.
      if (e.exitCode === 0) return 0;
      return 2;
    }
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`infersim: ${msg.split('\n')[0]}\n`);
    return e instanceof Error && !(e instanceof TypeError) && !(e instanceof RangeError) ? 2 : 1;
  }
}

// Run when executed (also through the npm bin symlink), not when imported by tests.
const isMain =
  process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
