// The package as users get it: packed into a tarball, or installed from git (npm clones the repository,
// installs its dev dependencies and runs `prepare`, which builds dist/). Each copy is installed into a
// fresh folder without the network and must import, start the emulator, and open and close a session,
// on this Node and on Node 24. Both start from a commit of the working tree as it is, so the test checks
// the files about to be committed; the snapshot borrows our node_modules to build its tarball.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, test, type ExpectStatic } from 'vitest';
import { GRAPH_CLIENT, npm, root, snapshotWorkingTree, writeFreshApp, type PackageSource } from './fresh-app.js';

const run = promisify(execFile);
const node24 = join(root, 'node_modules/node/bin/node');
const runtimes = [process.execPath, ...(existsSync(node24) ? [node24] : [])];

// Imports both entry points, checks that the Graph client the package loads is the app's own copy, and
// runs one session against the emulator.
const smoke = {
  name: 'smoke.mjs',
  text: `import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { SessionManager, createBearerClient } from 'workbook-sessions';
import { startEmulator } from 'workbook-sessions/testing';

const item = '/me/drive/items/01ABC';
const emulator = await startEmulator({ workbooks: { [item]: { worksheets: { Sheet1: { cells: [['a', 1]] } } } } });
const sessions = new SessionManager({ client: createBearerClient({ baseUrl: emulator.url, token: emulator.token }) });
const book = await sessions.open(item);
const sheets = await book.api('/worksheets').get();
await book.close();
await sessions.shutdown();
const { created, open } = emulator.service.stats();
await emulator.close();
// The Graph client that the package loads, and the app's own.
const fromPackage = createRequire(fileURLToPath(import.meta.resolve('workbook-sessions'))).resolve('${GRAPH_CLIENT}');
const fromApp = createRequire(import.meta.url).resolve('${GRAPH_CLIENT}');
console.log(JSON.stringify({ sheets: sheets.value.map((sheet) => sheet.name), created, open, fromPackage, fromApp }));
`,
};

let work = '';
let snapshot = '';
let commit = '';

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'workbook-sessions-install-'));
  snapshot = join(work, 'snapshot');
  commit = await snapshotWorkingTree(snapshot);
});

afterAll(() => {
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

// Concurrent tests must assert with their own `expect`.
async function expectItRuns(expect: ExpectStatic, app: string): Promise<void> {
  for (const runtime of runtimes) {
    const { stdout } = await run(runtime, [smoke.name], { cwd: app, timeout: 60_000 });
    const result = JSON.parse(stdout) as { fromPackage: string; fromApp: string };
    expect(result, runtime).toMatchObject({ sheets: ['Sheet1'], created: 1, open: 0 });
    // One copy of the Graph client, the app's: a peer, not a dependency of its own.
    expect(result.fromPackage).toBe(result.fromApp);
    expect(result.fromApp.startsWith(join(app, 'node_modules', GRAPH_CLIENT) + '/')).toBe(true);
  }
}

// The two installs share nothing but the snapshot, so they run side by side.
describe.concurrent('installing the package', () => {
  test(
    'a tarball installs offline, runs no install script, and imports and runs',
    { timeout: 300_000 },
    async ({ expect }) => {
      const packed = join(work, 'packed');
      mkdirSync(packed);
      const manifestBefore = readFileSync(join(snapshot, 'package.json'), 'utf8');
      // Only for the build in `prepack`; the symlink is not part of the snapshot's commit.
      symlinkSync(join(root, 'node_modules'), join(snapshot, 'node_modules'), 'dir');
      try {
        await npm(snapshot, ['pack', '--pack-destination', packed]);
      } finally {
        rmSync(join(snapshot, 'node_modules'));
      }
      const [tarball] = readdirSync(packed);
      expect(tarball).toMatch(/^workbook-sessions-.+\.tgz$/);
      // `postpack` put our package.json back as it was.
      expect(readFileSync(join(snapshot, 'package.json'), 'utf8')).toBe(manifestBefore);

      const unpacked = join(work, 'unpacked');
      mkdirSync(unpacked);
      await run('tar', ['-xzf', join(packed, tarball ?? ''), '-C', unpacked]);
      const shipped = join(unpacked, 'package');
      const manifest = JSON.parse(readFileSync(join(shipped, 'package.json'), 'utf8')) as PackageSource['manifest'] & {
        scripts?: Record<string, string>;
      };
      for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) {
        expect(manifest.scripts?.[script], script).toBeUndefined();
      }
      // The Graph client is the app's: a peer, never a dependency of the package's own.
      expect(manifest.peerDependencies?.[GRAPH_CLIENT]).toBeDefined();
      expect(manifest.dependencies?.[GRAPH_CLIENT]).toBeUndefined();

      // Each source map names a file next to it and carries every source it lists; no map points into a
      // src/ that the tarball does not have.
      const files = readdirSync(shipped, { recursive: true, encoding: 'utf8' });
      expect(files.filter((file) => file.endsWith('.d.ts.map'))).toEqual([]);
      const scripts = files.filter((file) => file.endsWith('.js'));
      expect(scripts.length).toBeGreaterThan(10);
      for (const file of scripts) {
        const mapName = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(shipped, file), 'utf8'))?.[1];
        expect(mapName, file).toBe(`${basename(file)}.map`);
        const map = JSON.parse(readFileSync(join(shipped, dirname(file), mapName ?? ''), 'utf8')) as {
          sources: string[];
          sourcesContent?: (string | null)[];
        };
        expect(map.sources.length, file).toBeGreaterThan(0);
        expect(map.sourcesContent?.length, file).toBe(map.sources.length);
        for (const content of map.sourcesContent ?? []) expect(typeof content, file).toBe('string');
      }

      const app = join(work, 'tarball-app');
      const bytes = readFileSync(join(packed, tarball ?? ''));
      const integrity = `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
      writeFreshApp(app, smoke, { spec: `file:${join(packed, tarball ?? '')}`, manifest, integrity });
      const { stderr } = await npm(app, ['ci', '--offline']);
      // npm lists the install scripts of a package installed from a file for review; there must be none.
      expect(stderr).not.toMatch(/install-scripts|prepare/);
      await expectItRuns(expect, app);
    },
  );

  test('a git install builds dist/ through prepare, and imports and runs', { timeout: 600_000 }, async ({ expect }) => {
    const app = join(work, 'git-app');
    const manifest = JSON.parse(readFileSync(join(snapshot, 'package.json'), 'utf8')) as PackageSource['manifest'];
    writeFreshApp(app, smoke, { spec: `git+${pathToFileURL(snapshot).href}#${commit}`, manifest });
    // npm installs the clone's dev dependencies from its package-lock.json: after our own `npm ci` they are
    // all in the cache. A machine whose cache was filled by `npm install` instead may lack some of the
    // packuments that an install from a lock file reads; there, and only there, npm may fetch them.
    const install = async (mode: string) => npm(app, ['ci', mode]);
    await install('--offline').catch(async (error: unknown) => {
      if (!String((error as { stderr?: unknown }).stderr).includes('ENOTCACHED')) throw error;
      await install('--prefer-offline');
    });
    const installed = join(app, 'node_modules/workbook-sessions');
    expect(existsSync(join(installed, 'dist/index.js'))).toBe(true);
    expect(existsSync(join(installed, 'dist/testing/index.js'))).toBe(true);
    await expectItRuns(expect, app);
  });
});
