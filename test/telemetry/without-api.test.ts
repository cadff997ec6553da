// @opentelemetry/api is an optional peer dependency: the built package must load and run without it.
// dist/ is what users get; it is built before the tests (`pretest`), as for the process tests.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');
const dist = join(root, 'dist');
const API = '@opentelemetry/api';

const scripts = (): string[] =>
  readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.js'));

describe('the built package without @opentelemetry/api', () => {
  const work = mkdtempSync(join(tmpdir(), 'workbook-sessions-no-otel-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test('no module imports it; the one that loads it does so on first use, in a try', () => {
    const naming = scripts().filter((file) => readFileSync(join(dist, file), 'utf8').includes(API));
    expect(naming).toEqual(['telemetry/otel-api.js']);
    const text = readFileSync(join(dist, 'telemetry/otel-api.js'), 'utf8');
    expect(text).not.toMatch(/\bfrom\s+['"]@opentelemetry\/api['"]|import\(\s*['"]@opentelemetry\/api/);
    expect(text).toMatch(/try \{\s*loaded = require\('@opentelemetry\/api'\);/);
  });

  test('the types of its entry points never reach it', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, string | { types?: string }>;
    };
    const entries = Object.values(manifest.exports).flatMap((entry) =>
      typeof entry === 'object' && entry.types !== undefined ? [resolve(root, entry.types)] : [],
    );
    expect(entries.length).toBeGreaterThanOrEqual(3);
    // Every declaration file the entry points import, followed through relative imports.
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      expect(text.includes(API), file).toBe(false);
      for (const [, spec] of text.matchAll(/(?:from|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
        visit(resolve(dirname(file), (spec ?? '').replace(/\.js$/, '.d.ts')));
      }
    };
    for (const entry of entries) visit(entry);
    expect(seen.size).toBeGreaterThan(20);
  });

  test('a copy in a folder without it imports, and opens and closes a session', { timeout: 60_000 }, async () => {
    const app = join(work, 'app');
    const modules = join(app, 'node_modules');
    const own = join(modules, 'workbook-sessions');
    mkdirSync(own, { recursive: true });
    cpSync(dist, join(own, 'dist'), { recursive: true });
    cpSync(join(root, 'package.json'), join(own, 'package.json'));
    // Its runtime dependencies and the Graph client peer, as links: each finds its own dependencies where it is.
    for (const name of ['p-queue', 'p-retry', '@microsoft/microsoft-graph-client']) {
      mkdirSync(dirname(join(modules, name)), { recursive: true });
      symlinkSync(join(root, 'node_modules', name), join(modules, name), 'dir');
    }
    writeFileSync(
      join(app, 'smoke.mjs'),
      `import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { SessionManager, createBearerClient } from 'workbook-sessions';
import { startEmulator } from 'workbook-sessions/testing';

let found = true;
try {
  createRequire(fileURLToPath(import.meta.resolve('workbook-sessions'))).resolve('${API}');
} catch {
  found = false;
}
const item = '/me/drive/items/01ABC';
const emulator = await startEmulator({ workbooks: { [item]: {} } });
const sessions = new SessionManager({
  client: createBearerClient({ baseUrl: emulator.url, token: emulator.token }),
  exitHooks: false,
});
const book = await sessions.open(item);
await book.api('/worksheets').get();
await book.close();
const report = await sessions.shutdown();
const { created, open } = emulator.service.stats();
await emulator.close();
console.log(JSON.stringify({ found, created, open, closed: report.closed }));
`,
    );
    const { NODE_PATH: _path, ...environment } = process.env;
    const { stdout } = await run(process.execPath, ['smoke.mjs'], { cwd: app, env: environment, timeout: 50_000 });
    expect(JSON.parse(stdout)).toEqual({ found: false, created: 1, open: 0, closed: 0 });
  });
});
