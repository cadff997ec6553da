import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { beforeAll, describe, expect, test } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');
const fixture = join(root, 'test/fixtures/await-using.mjs');
// The npm package `node@24` ships a Node 24 binary: native `await using` on a machine whose Node is 20.
const node24 = join(root, 'node_modules/node/bin/node');

interface Result {
  node: string;
  nativeSuppressedError: boolean;
  openInside: number;
  openAfterBlock: number;
  thrown: string;
  openAfterThrow: number;
  suppressed: { name: string; suppressed: string; error: string; native: boolean };
  report: { leftOpen: number; closed: number };
  openAtEnd: number;
}

async function runFixture(nodeBinary: string, file: string): Promise<Result> {
  const { stdout } = await run(nodeBinary, [file], { cwd: root, timeout: 30_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Result;
}

function expectScopeBehaviour(result: Result): void {
  expect(result.openInside).toBe(1);
  expect(result.openAfterBlock).toBe(0);
  expect(result.thrown).toBe('body failed');
  expect(result.openAfterThrow).toBe(0);
  expect(result.suppressed).toMatchObject({
    name: 'SuppressedError',
    suppressed: 'body failed again',
    error: 'GraphRequestError',
  });
  // The session whose close failed is closed by the shutdown: nothing is left open.
  expect(result.report.leftOpen).toBe(0);
  expect(result.openAtEnd).toBe(0);
}

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/index.js'))) {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    await run(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, timeout: 120_000 });
  }
}, 130_000);

describe('the built package with `await using`', () => {
  test('native under Node 24', async () => {
    const { stdout } = await run(node24, ['--version']);
    expect(stdout.trim()).toMatch(/^v24\./);
    const result = await runFixture(node24, fixture);
    expect(result.node).toMatch(/^24\./);
    expect(result.nativeSuppressedError).toBe(true);
    expectScopeBehaviour(result);
    expect(result.suppressed.native).toBe(true);
  });

  test('lowered by TypeScript under this machine’s Node', async () => {
    const source = await readFile(fixture, 'utf8');
    const lowered = ts.transpileModule(source, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
    }).outputText;
    expect(lowered).toContain('__disposeResources');
    expect(lowered).not.toMatch(/^\s*await using /m);
    const dir = join(root, 'test/fixtures/.lowered');
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'await-using.mjs');
    await writeFile(file, lowered);
    // The machine's Node (20 here): the one running the suite, or the one on PATH when the suite itself
    // runs on the Node 24 binary (`npm run test:node24`).
    const machineNode = process.execPath === node24 ? 'node' : process.execPath;
    const { stdout: version } = await run(machineNode, ['-p', 'process.versions.node']);
    const result = await runFixture(machineNode, file);
    expect(result.node).toBe(version.trim());
    expectScopeBehaviour(result);
  });
});
