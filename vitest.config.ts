import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // 2-core machines: tensor tests are CPU-bound, so run at most two files at once.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    typecheck: { enabled: true, include: ['test/types/**/*.test-d.ts'] },
  },
});
