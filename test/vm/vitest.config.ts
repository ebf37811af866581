import { defineConfig } from 'vitest/config';

/**
 * The VM lane (`npm run test:vm`): runs inside the test VM (test/vm/lane.ts boots it) on a
 * Debian kernel with IPVS, with MESHD_TEST_LB_BACKEND=ipvs. The CPU there is emulated (TCG),
 * so timeouts are generous; bounds the tests assert are scaled by MESHD_TEST_SLOWDOWN.
 */
export default defineConfig({
  test: {
    include: ['test/vm/**/*.test.ts', 'test/e2e/overlay-lb.test.ts', 'test/e2e/ingress.test.ts'],
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
