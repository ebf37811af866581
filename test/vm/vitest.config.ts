import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';
import { MUTANT_ENV, mutantPlugin } from './mutant.js';

/**
 * The VM lane (`npm run test:vm`): runs inside the test VM (test/vm/lane.ts boots it) on a
 * Debian kernel with IPVS, with MESHD_TEST_LB_BACKEND=ipvs. The CPU there is emulated (TCG),
 * so timeouts are generous; bounds the tests assert are scaled by MESHD_TEST_SLOWDOWN.
 * Under the mutation check (test/vm/mutants.ts) one source file is loaded mutated.
 */
const mutant = mutantPlugin(resolve(import.meta.dirname, '..', '..'), process.env[MUTANT_ENV]);

export default defineConfig({
  plugins: mutant ? [mutant] : [],
  test: {
    include: ['test/vm/**/*.test.ts', 'test/e2e/overlay-lb.test.ts', 'test/e2e/ingress.test.ts', 'test/e2e/rolling.test.ts'],
    globalSetup: ['test/setup/build.ts'],
    fileParallelism: false,
    // Worker threads start faster than forked processes under an emulated CPU.
    pool: 'threads',
    testTimeout: 300_000,
    hookTimeout: 900_000,
    reporters: ['verbose', 'json'],
    outputFile: { json: '.vm/results.json' },
  },
});
