// Checks the package as it would be published, offline: packs the built dist/ into a temporary folder and
// runs publint and @arethetypeswrong/cli on the tarball. Run after a build (`npm test` builds first).
//
// attw runs with its `esm-only` profile: the package is ESM only, so the node10 resolution (no
// `exports`) and the node16 resolution from CommonJS (a `require` that finds an ES module, which only
// `require(esm)` on Node 20.19+ or a dynamic import can load) are not claimed. What is checked is node16
// from ESM and bundler, for every subpath. `--no-definitely-typed` keeps it from asking the registry for
// `@types` packages.
//
// The pack skips the `prepack` build and its removal of `prepare`: dist/ is built already, and the
// scripts field is not what either tool checks. The working tree's package.json stays untouched.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const bin = (name) => join(root, 'node_modules/.bin', name);
const dir = mkdtempSync(join(tmpdir(), 'workbook-sessions-lint-package-'));
try {
  execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const [tarball] = readdirSync(dir);
  if (tarball === undefined) throw new Error(`npm pack left nothing in ${dir}`);
  const packed = join(dir, tarball);
  execFileSync(bin('publint'), ['run', packed, '--strict'], { stdio: 'inherit' });
  execFileSync(bin('attw'), [packed, '--profile', 'esm-only', '--no-definitely-typed'], {
    stdio: 'inherit',
  });
} catch (error) {
  // Both tools have said what is wrong on stderr or stdout already.
  console.error(`lint:package failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
