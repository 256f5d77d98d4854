import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Worker threads and LMDB environments per test file: run files in separate forks.
    pool: 'forks',
    setupFiles: ['test/support/fast-check-setup.ts'],
  },
});
