import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fixtures run under other runners (test/fixtures/jest is Jest's), never as vitest tests.
    exclude: [...configDefaults.exclude, 'test/fixtures/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Most test files wait on child processes, sockets and servers rather than the CPU: at least three
    // at once, where Vitest's default on a 2-core machine would run them one by one.
    maxWorkers: Math.max(availableParallelism() - 1, 3),
  },
});
