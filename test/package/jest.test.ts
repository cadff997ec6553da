// Users who test with Jest run it in ESM mode (`node --experimental-vm-modules`, `transform: {}`), as the
// README shows. This runs that set-up once: Jest in a child process on a small .mjs test that imports the
// built package, starts the emulator and opens and closes a session through a SessionManager.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, expect, test } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const require = createRequire(import.meta.url);

beforeAll(async () => {
  // The fixture imports dist/ as a user's project imports the installed package.
  if (!existsSync(join(root, 'dist/index.js')) || !existsSync(join(root, 'dist/testing/index.js'))) {
    await run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
      cwd: root,
      timeout: 120_000,
    });
  }
}, 130_000);

test('Jest in ESM mode runs a test against the emulator from the built package', { timeout: 120_000 }, async () => {
  const jest = join(root, 'node_modules/jest/bin/jest.js');
  const config = join(root, 'test/fixtures/jest/jest.config.mjs');
  // execFile rejects on a non-zero exit, so reaching the assertions means Jest exited 0.
  const { stdout } = await run(
    process.execPath,
    ['--experimental-vm-modules', jest, '--config', config, '--ci', '--json'],
    { cwd: root, timeout: 110_000, env: { ...process.env, NODE_NO_WARNINGS: '1' } },
  );
  const report = JSON.parse(stdout) as {
    success: boolean;
    numPassedTests: number;
    numFailedTests: number;
    numTotalTests: number;
  };
  expect(report).toMatchObject({ success: true, numPassedTests: 1, numFailedTests: 0, numTotalTests: 1 });
});
