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
import { registerPlan } from './commands/plan.js';
import { registerServe } from './commands/serve.js';
import { registerSimulate } from './commands/simulate.js';
import { registerTrain } from './commands/train.js';
import { prepareModel } from './resolve.js';
import { didYouMean } from '../catalog/precision-names.js';

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
  registerPlan(program);
  registerCatalog(program);
  registerServe(program);
  registerSimulate(program);
  for (const c of program.commands) c.exitOverride();
  // A Hub repo id the catalog lacks: its config.json is fetched (or read from the cache) before the command runs.
  program.hook('preAction', async (_program, cmd) => {
    const model = cmd.registeredArguments[0]?.name() === 'model' ? cmd.args[0] : undefined;
    if (typeof model === 'string') await prepareModel(model);
  });
  return program;
}

/** The core names an unknown precision; the CLI adds the nearest names to it. */
function withHint(msg: string): string {
  const m = /unknown (weight|kv) precision '([^']*)'$/.exec(msg);
  return m ? msg + didYouMean(m[2]!, m[1] === 'kv' ? 'kv' : 'weight') : msg;
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
    const msg = withHint((e instanceof Error ? e.message : String(e)).split('\n')[0]!);
    process.stderr.write(`infersim: ${msg}\n`);
    return e instanceof Error && !(e instanceof TypeError) && !(e instanceof RangeError) ? 2 : 1;
  }
}

// Run when executed (also through the npm bin symlink), not when imported by tests.
const isMain =
  process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  // Exit once stdout has drained: a large --json answer piped to another program would otherwise be cut off.
  main(process.argv.slice(2)).then((code) => process.stdout.write('', () => process.exit(code)));
}
