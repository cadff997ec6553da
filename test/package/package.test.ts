import { readFile } from 'node:fs/promises';
import semver from 'semver';
import { describe, expect, test } from 'vitest';

// The peer ranges users install against: they must take current releases (a range that refuses
// one makes `npm install` fail with ERESOLVE in the user's project).
const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};

describe('package.json peer dependencies', () => {
  test.each([
    ['@azure/identity', ['4.0.0', '4.13.1', '4.14.1']],
    ['msw', ['2.0.0', '2.15.0', '3.0.0']],
    ['@microsoft/microsoft-graph-client', ['3.0.0', '3.0.7']],
    ['ioredis', ['5.0.0', '5.9.2']],
    ['@opentelemetry/api', ['1.4.0', '1.9.1', '1.10.0']],
  ] as const)('the %s range takes its current releases', (name, versions) => {
    const range = pkg.peerDependencies[name];
    expect(range).toBeDefined();
    for (const version of versions) expect(semver.satisfies(version, range ?? '')).toBe(true);
  });

  test('only the Graph client is a required peer', () => {
    const optional = Object.keys(pkg.peerDependencies).filter(
      (name) => pkg.peerDependenciesMeta[name]?.optional === true,
    );
    expect(optional.sort()).toEqual(['@azure/identity', '@opentelemetry/api', 'ioredis', 'msw', 'selfsigned']);
  });
});
