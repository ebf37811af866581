import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The VM lane's own tests need a kernel with IPVS: `npm run test:vm` runs them in a VM.
    exclude: ['test/vm/**', '**/node_modules/**'],
    // Integration and end-to-end tests share the machine's kernel and one NATS port range;
    // run files one at a time so their namespaces and timings do not interfere.
    globalSetup: ['test/setup/build.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results.json' },
  },
});
