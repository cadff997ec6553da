// A user's project in a temporary folder, where workbook-sessions is installed from a tarball or a git
// URL, without the network. `npm install <spec>` cannot do that offline: it asks for the full packument
// of the package's peers, which our own `npm ci` never fetches. So the folder's package-lock.json already
// holds workbook-sessions at that spec, beside the entries cut from ours (its runtime dependencies and
// the Graph client peer, at the versions and integrity our lock has), and `npm ci --offline` installs
// exactly that tree, each tarball from the cache; a git spec is cloned and built through `prepare`.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const root = join(import.meta.dirname, '../..');
export const GRAPH_CLIENT = '@microsoft/microsoft-graph-client';

interface LockEntry {
  version: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  [field: string]: unknown;
}

interface Manifest {
  version: string;
  license?: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, unknown>;
  engines?: Record<string, string>;
  bin?: Record<string, string>;
}

/** workbook-sessions as the fresh project depends on it: where from, and its manifest there. */
export interface PackageSource {
  /** `file:<tarball>` or `git+file://...#<commit>`. */
  readonly spec: string;
  readonly manifest: Manifest;
  /** The tarball's integrity (`sha512-...`); none for git. */
  readonly integrity?: string;
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

/** The lock entries for `names` as seen from the project root, and everything they depend on. */
function lockClosure(names: readonly string[]): Record<string, LockEntry> {
  const { packages } = readJson<{ packages: Record<string, LockEntry> }>(join(root, 'package-lock.json'));
  const out: Record<string, LockEntry> = {};
  // Node's lookup: the package's own node_modules, then each folder above it.
  const find = (from: string, name: string): string => {
    for (let base = from; ;) {
      const key = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
      if (packages[key] !== undefined) return key;
      if (base === '') throw new Error(`package-lock.json has no ${name} for ${from || 'the root'}`);
      const at = base.lastIndexOf('/node_modules/');
      base = at < 0 ? '' : base.slice(0, at);
    }
  };
  const add = (key: string): void => {
    if (out[key] !== undefined) return;
    // `dev` and `peer` describe our project, not the user's, where these are plain dependencies.
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = packages[key] as LockEntry;
    const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    // Our lock leaves `resolved` out (omit-lockfile-registry-resolved); the registry's own tarball URL
    // lets npm take the tarball from the cache without asking for the packument.
    entry.resolved ??= `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${entry.version}.tgz`;
    out[key] = entry;
    for (const dependency of Object.keys(entry.dependencies ?? {})) add(find(key, dependency));
  };
  for (const name of names) add(find('', name));
  return out;
}

/**
 * Lays out a user's project in `dir` that depends on the Graph client and on workbook-sessions from
 * `source`, with a lock file that holds the whole tree, so that `npm ci --offline` there installs from
 * the cache what `npm install <spec>` installs from the registry.
 */
export function writeFreshApp(dir: string, script: { name: string; text: string }, source: PackageSource): void {
  const ours = readJson<Manifest>(join(root, 'package.json'));
  const closure = lockClosure([...Object.keys(ours.dependencies ?? {}), GRAPH_CLIENT]);
  const graphVersion = closure[`node_modules/${GRAPH_CLIENT}`]?.version ?? '';
  const dependencies = { [GRAPH_CLIENT]: `^${graphVersion}`, 'workbook-sessions': source.spec };
  const {
    version,
    license,
    dependencies: needs,
    peerDependencies,
    peerDependenciesMeta,
    engines,
    bin,
  } = source.manifest;
  // What npm itself writes for the package: from the manifest it installs, so the lock matches it.
  const entry = {
    version,
    resolved: source.spec,
    ...(source.integrity === undefined ? {} : { integrity: source.integrity }),
    ...(license === undefined ? {} : { license }),
    ...(needs === undefined ? {} : { dependencies: needs }),
    ...(bin === undefined ? {} : { bin }),
    ...(engines === undefined ? {} : { engines }),
    ...(peerDependencies === undefined ? {} : { peerDependencies }),
    ...(peerDependenciesMeta === undefined ? {} : { peerDependenciesMeta }),
  };
  const app = { name: 'fresh-app', version: '1.0.0', private: true, type: 'module', dependencies };
  const lock = {
    name: app.name,
    version: app.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: app.name, version: app.version, dependencies },
      ...closure,
      'node_modules/workbook-sessions': entry,
    },
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(app, null, 2)}\n`);
  writeFileSync(join(dir, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
  writeFileSync(join(dir, script.name), script.text);
}

/** The working tree as it is (tracked and untracked files, not the ignored ones), committed in `dir`. */
export async function snapshotWorkingTree(dir: string): Promise<string> {
  const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
  });
  for (const file of stdout.split('\0')) {
    if (file === '' || !existsSync(join(root, file))) continue;
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(root, file), join(dir, file));
  }
  const git = (...args: string[]) => run('git', args, { cwd: dir });
  await git('init', '-q');
  await git('add', '-A');
  await git('-c', 'user.name=snapshot', '-c', 'user.email=snapshot@localhost', 'commit', '-q', '-m', 'snapshot');
  return (await git('rev-parse', 'HEAD')).stdout.trim();
}

/**
 * Runs npm in `cwd` with none of the `npm_*` variables of the `npm test` that may be running us, which
 * would otherwise point the child at our package.json and our config.
 */
export async function npm(cwd: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  return run('npm', [...args], { cwd, env: { ...env, CI: 'true' }, maxBuffer: 64 * 1024 * 1024 });
}
