import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { parseWorkbookRef } from '../../src/transport/workbook-ref.js';
import type { BadServer } from '../helpers/bad-server.js';
import { removeTempDirs } from '../fixtures/journal-spawn.js';
import { overHttp } from '../helpers/graph.js';

type Env = Awaited<ReturnType<typeof overHttp>>;

let env: Env | undefined;

let bad: BadServer | undefined;

afterAll(removeTempDirs);

afterEach(async () => {
  await env?.close();
  env = undefined;
  await bad?.close();
  bad = undefined;
});

describe('parseWorkbookRef', () => {
  test('normalises percent-encoding: decoded, then encoded one way', () => {
    expect(parseWorkbookRef('/me/drive/root:/Q1 Sales.xlsx:').path).toBe('/me/drive/root:/Q1%20Sales.xlsx:');
    expect(parseWorkbookRef('/me/drive/root:/Q1%20Sales.xlsx:').path).toBe('/me/drive/root:/Q1%20Sales.xlsx:');
    expect(parseWorkbookRef('/me/drive/root:/Pr%c3%a9visions/%41.xlsx:').path).toBe(
      '/me/drive/root:/Pr%C3%A9visions/A.xlsx:',
    );
    const { path } = parseWorkbookRef('/me/drive/root:/Prévisions/A.xlsx:');
    expect(path).toBe('/me/drive/root:/Pr%C3%A9visions/A.xlsx:');
    // A "%" that starts no escape is a "%" of the name, sent as %25.
    expect(parseWorkbookRef('/me/drive/root:/100% done.xlsx:').path).toBe('/me/drive/root:/100%25%20done.xlsx:');
    // Sub-delimiters and "@" stay as they are (site ids, user names, drive ids).
    expect(parseWorkbookRef('/sites/contoso.sharepoint.com,1,2/drives/b!x-_/items/01AB').path).toBe(
      '/sites/contoso.sharepoint.com,1,2/drives/b!x-_/items/01AB',
    );
    expect(
      parseWorkbookRef('/users/ada@contoso.com/drive/root:/a#b?.xlsx:'.replace('#', '%23').replace('?', '%3F')).path,
    ).toBe('/users/ada@contoso.com/drive/root:/a%23b%3F.xlsx:');
  });

  test('gives two spellings of one reference one key: encoding, case of root paths, site-scoped drives', () => {
    const key = parseWorkbookRef('/me/drive/root:/Reports/Q1 Sales.xlsx:').key;
    expect(parseWorkbookRef('/me/drive/root:/Reports/Q1%20Sales.xlsx:').key).toBe(key);
    expect(parseWorkbookRef('/me/drive/root:/reports/q1%20SALES.XLSX:').key).toBe(key);
    expect(parseWorkbookRef('/me/drive/root:/Reports/Q2 Sales.xlsx:').key).not.toBe(key);
    expect(parseWorkbookRef('/drives/D/root:/Reports/Q1 Sales.xlsx:').key).not.toBe(key);
    expect(parseWorkbookRef('/sites/S/drives/D/items/X').key).toBe(parseWorkbookRef('/drives/D/items/X').key);
    // Item ids are compared exactly.
    expect(parseWorkbookRef('/me/drive/items/abc').key).not.toBe(parseWorkbookRef('/me/drive/items/ABC').key);
  });

  test.each([
    '/me/drive/items/X',
    '/drives/D/items/X',
    '/sites/S/drive/items/X',
    '/sites/S/drives/D/items/X',
    '/users/U/drive/items/X',
    '/groups/G/drive/items/X',
    '/me/drive/root:/a/b.xlsx:',
    '/drives/D/root:/a/b.xlsx:',
    '/sites/S/drive/root:/a/b.xlsx:',
    '/sites/S/drives/D/root:/a/b.xlsx:',
    '/users/U/drive/root:/a/b.xlsx:',
    '/groups/G/drive/root:/a/b.xlsx:',
  ])('accepts %s', (value) => {
    expect(parseWorkbookRef(value).path).toBe(value);
  });

  const HINT = 'Expected `workbook` to be a drive-item path: /me/drive/items/{id}, /drives/{drive-id}/items/{id}';
  test.each([
    ['an absolute URL', 'https://graph.microsoft.com/v1.0/me/drive/items/A', ''],
    ['a query', '/sites/S/drives/D/items/A?$select=id', ''],
    ['a ".." root-path segment', '/drives/D/root:/a/../b.xlsx:', 'without "." or ".." segments'],
    ['an encoded "%2e%2e" id', '/sites/S/drives/%2e%2e/items/A', 'without "." or ".." segments'],
    ['an encoded "%2E%2e" root-path segment', '/sites/S/drive/root:/a/%2E%2e/b.xlsx:', 'without "." or ".." segments'],
    ['an encoded separator', '/me/drive/root:/a%2F..%2Fb.xlsx:', 'without encoded separators (%2F, %5C)'],
    ['an encoded backslash', '/groups/G/drive/items/A%5CB', 'without encoded separators (%2F, %5C)'],
    ['an empty root-path segment', '/users/U/drive/root:/a//b.xlsx:', 'without empty segments'],
    ['an encoded control character', '/me/drive/root:/a%0Ab.xlsx:', 'without control characters'],
    ['a raw control character', '/sites/S/drives/D/items/A\u0007', ''],
    ['a lone surrogate', '/me/drive/root:/a\ud800.xlsx:', 'without lone surrogates'],
    ['an empty root path', '/drives/D/root::', ''],
    ['a /workbook suffix', '/sites/S/drives/D/items/A/workbook', 'without /workbook'],
    ['a site with no drive', '/sites/S/items/A', ''],
  ])('refuses %s with a TypeError naming the value', (_label, value, why) => {
    expect(() => parseWorkbookRef(value)).toThrow(TypeError);
    expect(() => parseWorkbookRef(value)).toThrow(HINT);
    expect(() => parseWorkbookRef(value)).toThrow(`${why}; got ${JSON.stringify(value)} (string)`);
  });
});
