import { defineConfig } from 'vitest/config';

/**
 * The fast unit tests of src/core, for mutation testing (`npm run mutate`). Browser, API, server, store, engine,
 * CLI tests and the held-out refits are left out: each mutant re-runs the tests that cover it, and those
 * would make a run on 2 shared cores take hours.
 */
export default defineConfig({
  test: {
    include: [
      'test/core/**/*.test.ts',
      'test/arch-new.test.ts',
      'test/params.test.ts',
      'test/kv.test.ts',
      'test/memory.test.ts',
      'test/perf.test.ts',
      'test/training.test.ts',
      'test/fit.test.ts',
      'test/capacity-engines.test.ts',
      'test/engine-kv-formats.test.ts',
      'test/validate.test.ts',
      'test/catalog-ids.test.ts',
      // its leave-one-model-out refits skip themselves under INFERSIM_MUTATE=1 (scripts/mutate.sh)
      'test/crossval.test.ts',
    ],
    testTimeout: 30000,
    // Keep the worker's module cache between mutant runs: loading the catalog again for each mutant is most of the time.
    isolate: false,
  },
});
