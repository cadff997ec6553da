import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// The longest files, started first: a fresh clone has no timings cached, and Vitest would start the
// largest files first, leaving the install test (small, but over two minutes) to the end of the run.
const LONGEST = [
  'test/package/install.test.ts',
  'test/process/bench-smoke.test.ts',
  'test/process/exit-hooks.test.ts',
  'test/process/recovery.test.ts',
  'test/process/examples.test.ts',
  'test/process/logging.test.ts',
  'test/fleet/shared-sessions.test.ts',
  'test/process/demo-fleet.test.ts',
  'test/unit/exit-hooks.test.ts',
  'test/manager/shutdown.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (file: TestSpecification): number => {
      const at = LONGEST.findIndex((path) => file.moduleId.endsWith(path));
      return at === -1 ? LONGEST.length : at;
    };
    return sorted
      .map((file, order) => ({ file, order }))
      .sort((a, b) => rank(a.file) - rank(b.file) || a.order - b.order)
      .map(({ file }) => file);
  }
}

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
    sequence: { sequencer: LongestFirst },
  },
});
