import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Client, HTTPMessageHandler, type Middleware } from '@microsoft/microsoft-graph-client';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  createGraphClient,
  decideRetry,
  parseRetryAfter,
  shortId,
  GraphRequestError,
  SessionManager,
  createBearerClient,
  isGraphRequestError,
  type RetryEvent,
  type SessionManagerOptions,
  type WorkbookSession,
  SessionJournal,
} from '../../src/index.js';
import {
  type BadServer,
  type Override,
  graphErrorResponse,
  jsonResponse,
  startBadServer,
  workbookRoute,
  fastManager,
} from '../helpers/bad-server.js';
import { openLine, removeTempDirs, tempDir } from '../fixtures/journal-spawn.js';
import { compact, lock, markClosed } from '../../src/journal/maintenance.js';
import { bearerMiddleware } from '../helpers/graph-client-copy.js';

// The catalogue of bad input: what we refuse, and exactly what the user gets. Every case is bounded by a
// test timeout and ends with the server counting no open session.

const BOOK = '/me/drive/items/A';
const BOUND = { timeout: 10_000 };
let server: BadServer;
// A second host: a Location pointing here must never be followed.
let elsewhere: BadServer;
const managers: SessionManager[] = [];

const manager = (options: Omit<SessionManagerOptions, 'client'> = {}): SessionManager =>
  fastManager(server, managers, { ...options });

beforeAll(async () => {
  server = await startBadServer();
  elsewhere = await startBadServer();
});
afterAll(async () => {
  await server.close();
  await elsewhere.close();
  await removeTempDirs();
});
afterEach(async () => {
  server.setOverride(undefined);
  for (const m of managers.splice(0)) {
    const report = await m.shutdown({ timeoutMs: 2000 });
    expect(report.leftOpen).toBe(0);
  }
  // None leaks a session.
  expect(server.service.stats().open).toBe(0);
  expect(elsewhere.requests).toEqual([]);
});

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const HINT = 'Expected `workbook` to be a drive-item path: /me/drive/items/{id}';

describe('workbook references: open() rejects with TypeError before any request', () => {
  const refused: [string, unknown, string][] = [
    ['an absolute URL', 'https://graph.microsoft.com/v1.0/me/drive/items/A', HINT],
    ['a URL on another host', 'http://127.0.0.1:1/me/drive/items/A', HINT],
    ['a protocol-relative host', '//evil.example/me/drive/items/A', HINT],
    ['a ".." item', '/me/drive/items/..', HINT],
    ['".." in a root path', '/me/drive/root:/a/../b.xlsx:', HINT],
    ['an encoded "%2e%2e" segment', '/drives/%2e%2e/items/A', HINT],
    ['a backslash ".." segment', '/me/drive/root:/a\\..\\b.xlsx:', HINT],
    ['a query string', '/me/drive/items/A?$select=id', HINT],
    ['a fragment', '/me/drive/items/A#top', HINT],
    ['a newline', '/me/drive/items/A\n', HINT],
    ['a NUL', '/me/drive/items/A\u0000B', HINT],
    ['a space', '/me/drive/items/A B', HINT],
    ['an empty string', '', HINT],
    ['a trailing slash', '/me/drive/items/A/', HINT],
    ['no leading slash', 'me/drive/items/A', HINT],
    ['an empty segment in a root path', '/me/drive/root:/a//b.xlsx:', HINT],
    ['something that is not a drive item', '/me/messages/A', HINT],
    [
      'a /workbook suffix',
      '/me/drive/items/A/workbook',
      'without /workbook; got "/me/drive/items/A/workbook" (string)',
    ],
    ['a path below /workbook', '/me/drive/items/A/workbook/worksheets', 'without /workbook'],
    ['a number', 42, 'Expected `workbook` to be a drive-item path string, got `42` (number)'],
    ['null', null, 'Expected `workbook` to be a drive-item path string, got `null`'],
    ['undefined', undefined, 'Expected `workbook` to be a drive-item path string, got `undefined`'],
    ['an object', { path: BOOK }, 'Expected `workbook` to be a drive-item path string, got a value of type object'],
    ['an array', [BOOK], 'Expected `workbook` to be a drive-item path string, got an array'],
  ];

  test.each(refused)('%s', async (_label, value, message) => {
    const before = server.requests.length;
    const error = await failure(manager().open(value as string));
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain(message);
    expect(server.requests.length).toBe(before);
  });

  test('the refused value is named, shortened past 80 characters', async () => {
    const error = await failure(manager().open(`https://evil.example/${'x'.repeat(200)}`));
    expect((error as Error).message).toMatch(/got "https:\/\/evil\.example\/x{56}\.\.\." \(string\)$/);
  });

  test.each([
    '/me/drive/items/A',
    '/drives/b!x/items/01AB',
    '/sites/s/drive/items/I',
    '/users/u@x/drive/items/I',
    '/me/drive/root:/Reports/Q1 2025.xlsx:',
  ])('accepts %s (the check does not refuse good references)', (value) => {
    // Only the check: open() on a workbook the server does not have would fail for another reason.
    expect(() =>
      manager()
        .open(value)
        .catch(() => undefined),
    ).not.toThrow();
  });
});

describe('api() paths: refused synchronously with TypeError, nothing sent', () => {
  let book: WorkbookSession;
  beforeAll(async () => {
    book = await manager().open(BOOK);
  });
  afterAll(async () => {
    await book.close();
  });

  const refused: [string, unknown, string][] = [
    ['an absolute URL', 'https://evil.example/v1.0/x', 'it contains an absolute URL'],
    ['an absolute URL to the Graph host', 'https://graph.microsoft.com/v1.0/me', 'it contains an absolute URL'],
    ['a protocol-relative host', '//evil.example/x', 'it contains an absolute URL'],
    ['a scheme without slashes', 'javascript:alert(1)', 'it contains an absolute URL'],
    ['a ".." segment', '/../../B/workbook/worksheets', 'it contains a "." or ".." segment'],
    ['a "." segment', '/./worksheets', 'it contains a "." or ".." segment'],
    ['an encoded "%2e%2e" segment', '/%2e%2e/%2E%2e/B/workbook/worksheets', 'it contains a "." or ".." segment'],
    ['a half-encoded ".%2e" segment', '/.%2e/x', 'it contains a "." or ".." segment'],
    ['a backslash ".." segment', '/..\\..\\B\\workbook\\worksheets', 'it contains a "." or ".." segment'],
    [
      'a query string',
      '/worksheets?$top=1',
      'it contains a query or fragment; pass query parameters with the `query` option',
    ],
    ['a fragment', '/worksheets#x', 'it contains a query or fragment'],
    ['a CR LF (header injection)', '/worksheets\r\nX-Evil: 1', 'it contains a control character'],
    ['a tab', '/work\tsheets', 'it contains a control character'],
    ['a DEL', '/worksheets\u007f', 'it contains a control character'],
    ['nothing', '', 'it contains nothing after the workbook'],
    ['a lone slash', '/', 'it contains nothing after the workbook'],
    ['a number', 42, 'Expected the `api()` path to be a string, got `42` (number)'],
    ['null', null, 'Expected the `api()` path to be a string, got `null`'],
    ['an object', { path: '/worksheets' }, 'Expected the `api()` path to be a string, got a value of type object'],
  ];

  test.each(refused)('%s', (_label, value, message) => {
    const before = server.requests.length;
    expect(() => book.api(value as string)).toThrow(TypeError);
    expect(() => book.api(value as string)).toThrow(message);
    expect(server.requests.length).toBe(before);
  });

  test('a refused path names the value', () => {
    expect(() => book.api('https://evil.example/x')).toThrow(
      'Refused `api()` path "https://evil.example/x" (string): it contains an absolute URL',
    );
  });
});

describe('option values and unknown keys', () => {
  const client = (): SessionManagerOptions['client'] =>
    createBearerClient({ baseUrl: server.url, token: server.token });
  const refused: [string, Record<string, unknown>, typeof TypeError | typeof RangeError, string][] = [
    ['concurrency 0', { concurrency: 0 }, RangeError, 'Expected `concurrency` to be an integer >= 1, got `0` (number)'],
    [
      'concurrency 1.5',
      { concurrency: 1.5 },
      RangeError,
      'Expected `concurrency` to be an integer >= 1, got `1.5` (number)',
    ],
    ['concurrency "4"', { concurrency: '4' }, TypeError, 'Expected `concurrency` to be a number, got "4" (string)'],
    ['concurrency null', { concurrency: null }, TypeError, 'Expected `concurrency` to be a number, got `null`'],
    [
      'perWorkbookConcurrency -1',
      { perWorkbookConcurrency: -1 },
      RangeError,
      'Expected `perWorkbookConcurrency` to be an integer >= 1, got `-1` (number)',
    ],
    ['retries -1', { retries: -1 }, RangeError, 'Expected `retries` to be an integer >= 0, got `-1` (number)'],
    ['retries NaN', { retries: Number.NaN }, TypeError, 'Expected `retries` to be a number, got `NaN` (number)'],
    [
      'retries Infinity',
      { retries: Infinity },
      RangeError,
      'Expected `retries` to be an integer >= 0, got `Infinity` (number)',
    ],
    [
      'retryBaseDelayMs -5',
      { retryBaseDelayMs: -5 },
      RangeError,
      'Expected `retryBaseDelayMs` to be a finite number from 0 to 2147483647, got `-5` (number)',
    ],
    [
      'retryMaxDelayMs below retryBaseDelayMs',
      { retryBaseDelayMs: 100, retryMaxDelayMs: 10 },
      RangeError,
      'Expected `retryMaxDelayMs` (10) to be >= `retryBaseDelayMs` (100)',
    ],
    [
      'retryDeadlineMs Infinity',
      { retryDeadlineMs: Infinity },
      RangeError,
      'Expected `retryDeadlineMs` to be a finite number >= 0, got `Infinity` (number)',
    ],
    [
      'idleTimeoutMs 999',
      { idleTimeoutMs: 999 },
      RangeError,
      'Expected `idleTimeoutMs` to be a finite number from 1000 to 2147483647 (or Infinity), got `999` (number)',
    ],
    [
      'idleTimeoutMs -Infinity',
      { idleTimeoutMs: -Infinity },
      RangeError,
      'Expected `idleTimeoutMs` to be a finite number from 1000 to 2147483647 (or Infinity), got `-Infinity` (number)',
    ],
    [
      'idleTimeoutMs NaN',
      { idleTimeoutMs: Number.NaN },
      TypeError,
      'Expected `idleTimeoutMs` to be a number, got `NaN` (number)',
    ],
    ['keepAlive "yes"', { keepAlive: 'yes' }, TypeError, 'Expected `keepAlive` to be a boolean, got "yes" (string)'],
    ['keepAlive null', { keepAlive: null }, TypeError, 'Expected `keepAlive` to be a boolean, got `null`'],
    [
      'keepAliveIntervalMs 10',
      { keepAliveIntervalMs: 10 },
      RangeError,
      'Expected `keepAliveIntervalMs` to be a finite number from 1000 to 2147483647, got `10` (number)',
    ],
    [
      'shutdownTimeoutMs -1',
      { shutdownTimeoutMs: -1 },
      RangeError,
      'Expected `shutdownTimeoutMs` to be a finite number >= 0, got `-1` (number)',
    ],
    ['exitHooks 1', { exitHooks: 1 }, TypeError, 'Expected `exitHooks` to be a boolean, got `1` (number)'],
    [
      'pollIntervalMs NaN',
      { pollIntervalMs: Number.NaN },
      TypeError,
      'Expected `pollIntervalMs` to be a number, got `NaN` (number)',
    ],
    // 0 never doubles: polls would run back to back.
    [
      'pollIntervalMs 0',
      { pollIntervalMs: 0 },
      RangeError,
      'Expected `pollIntervalMs` to be a finite number from 10 to 2147483647, got `0` (number)',
    ],
    [
      'pollIntervalMs 9',
      { pollIntervalMs: 9 },
      RangeError,
      'Expected `pollIntervalMs` to be a finite number from 10 to 2147483647, got `9` (number)',
    ],
    // Past 2^31-1 ms a Node timer fires after 1 ms.
    [
      'pollIntervalMs 3e9',
      { pollIntervalMs: 3e9 },
      RangeError,
      'Expected `pollIntervalMs` to be a finite number from 10 to 2147483647, got `3000000000` (number)',
    ],
    [
      'idleTimeoutMs 3e9',
      { idleTimeoutMs: 3e9 },
      RangeError,
      'Expected `idleTimeoutMs` to be a finite number from 1000 to 2147483647 (or Infinity), got `3000000000` (number)',
    ],
    [
      'keepAliveIntervalMs 3e9',
      { keepAliveIntervalMs: 3e9 },
      RangeError,
      'Expected `keepAliveIntervalMs` to be a finite number from 1000 to 2147483647, got `3000000000` (number)',
    ],
    [
      'retryMaxDelayMs 2^31',
      { retryMaxDelayMs: 2 ** 31 },
      RangeError,
      'Expected `retryMaxDelayMs` to be a finite number from 0 to 2147483647, got `2147483648` (number)',
    ],
    [
      'retryBaseDelayMs 3e9',
      { retryBaseDelayMs: 3e9 },
      RangeError,
      'Expected `retryBaseDelayMs` to be a finite number from 0 to 2147483647, got `3000000000` (number)',
    ],
    [
      'operationTimeoutMs Infinity',
      { operationTimeoutMs: Infinity },
      RangeError,
      'Expected `operationTimeoutMs` to be a finite number >= 0, got `Infinity` (number)',
    ],
    [
      'logger "console"',
      { logger: 'console' },
      TypeError,
      'Expected `logger` to be an object with debug/info/warn/error methods, got "console" (string)',
    ],
    [
      'journal as a string',
      { journal: 'sessions.jsonl' },
      TypeError,
      'Expected `journal` to be { path } or a SessionJournal, got "sessions.jsonl" (string)',
    ],
    [
      'a journal at a device (/dev/full reads as endless zeros)',
      { journal: { path: '/dev/full' } },
      TypeError,
      'Expected the journal `path` to be a file or a directory, got "/dev/full" (string), which is a character device',
    ],
    [
      'journal with an unknown key',
      { journal: { path: '/tmp/x', dir: '/tmp' } },
      TypeError,
      'Unknown journal option `dir`; expected one of: path',
    ],
    ['recoverOnStart without a journal', { recoverOnStart: true }, TypeError, '`recoverOnStart` needs a `journal`'],
    [
      'an unknown key',
      { retry: 3 },
      TypeError,
      'Unknown SessionManager option `retry`; expected one of: client, concurrency, perWorkbookConcurrency',
    ],
    ['a misspelt key', { idleTimeoutMS: 5000 }, TypeError, 'Unknown SessionManager option `idleTimeoutMS`'],
  ];

  test.each(refused)('new SessionManager refuses %s', (_label, options, ErrorClass, message) => {
    const listeners = process.listenerCount('SIGTERM');
    // Exit hooks on: a refused manager must not leave process listeners behind.
    const make = (): SessionManager =>
      new SessionManager({ client: client(), ...options } as unknown as SessionManagerOptions);
    expect(make).toThrow(ErrorClass);
    expect(make).toThrow(message);
    expect(process.listenerCount('SIGTERM')).toBe(listeners);
  });

  test('new SessionManager refuses a missing or wrong client and non-object options', () => {
    expect(() => new SessionManager(undefined as never)).toThrow(
      'Expected SessionManager options to be an object, got `undefined`',
    );
    expect(() => new SessionManager({} as never)).toThrow(
      'Expected `client` to be a Graph Client (from @microsoft/microsoft-graph-client), got `undefined`',
    );
    expect(() => new SessionManager({ client: { api: 'x' } } as never)).toThrow(
      'Expected `client` to be a Graph Client',
    );
  });

  test('idleTimeoutMs Infinity is allowed: it turns idle closing off', () => {
    expect(() => manager({ idleTimeoutMs: Infinity })).not.toThrow();
  });

  test('open() refuses bad open options', async () => {
    const m = manager();
    const created = server.service.stats().created;
    const cases: [unknown, typeof TypeError, string][] = [
      [{ persistChanges: 'false' }, TypeError, 'Expected `persistChanges` to be a boolean, got "false" (string)'],
      [{ signal: { aborted: false } }, TypeError, 'Expected `signal` to be an AbortSignal, got a value of type object'],
      [{ persist: true }, TypeError, 'Unknown open option `persist`; expected one of: persistChanges, signal, shared'],
      [null, TypeError, 'Expected open options to be an object, got `null`'],
      ['persist', TypeError, 'Expected open options to be an object, got "persist" (string)'],
    ];
    for (const [options, ErrorClass, message] of cases) {
      const error = await failure(m.open(BOOK, options as never));
      expect(error).toBeInstanceOf(ErrorClass);
      expect((error as Error).message).toBe(message);
    }
    expect(server.service.stats().created).toBe(created);
  });

  test('calls refuse bad call options, and nothing is sent', async () => {
    const m = manager();
    const book = await m.open(BOOK);
    const before = server.requests.length;
    const cases: [unknown, string][] = [
      [{ idempotent: 'yes' }, 'Expected `idempotent` to be a boolean, got "yes" (string)'],
      [{ query: 'a=b' }, 'Expected `query` to be an object of strings, got "a=b" (string)'],
      [{ query: { $top: 1 } }, 'Expected query parameter `$top` to be a string, got `1` (number)'],
      [{ signal: 'stop' }, 'Expected `signal` to be an AbortSignal, got "stop" (string)'],
      [{ timeoutMs: 5 }, 'Unknown call option `timeoutMs`; expected one of: signal, idempotent, query, headers'],
      [null, 'Expected call options to be an object, got `null`'],
    ];
    for (const [options, message] of cases) {
      const error = await failure(book.api('/worksheets').get(options as never));
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toBe(message);
    }
    expect(server.requests.length).toBe(before);
    expect(await failure(book.refresh({ signal: 'x' } as never))).toBeInstanceOf(TypeError);
    await book.close();
  });

  test('shutdown() and withSession() refuse bad arguments', async () => {
    const m = manager();
    expect(() => m.shutdown({ timeoutMs: -1 })).toThrow(
      'Expected `timeoutMs` to be a finite number >= 0, got `-1` (number)',
    );
    expect(() => m.shutdown({ force: true } as never)).toThrow('Unknown shutdown option `force`');
    expect(await failure(m.withSession(BOOK, 'fn' as never))).toEqual(
      new TypeError('Expected `fn` to be a function, got "fn" (string)'),
    );
  });
});

describe('bodies that cannot be serialised: TypeError, nothing sent, the session stays usable', () => {
  const circular: Record<string, unknown> = { values: [[1]] };
  circular['self'] = circular;
  const cases: [string, unknown, string][] = [
    [
      'a circular object',
      circular,
      'The request body cannot be serialised to JSON: Converting circular structure to JSON',
    ],
    [
      'a BigInt',
      { values: [[10n]] },
      'The request body cannot be serialised to JSON: Do not know how to serialize a BigInt',
    ],
    ['a function', () => 1, 'The request body cannot be serialised to JSON, got a value of type function'],
    ['a symbol', Symbol('x'), 'The request body cannot be serialised to JSON, got a value of type symbol'],
  ];

  test.each(cases)('%s', async (_label, body, message) => {
    const book = await manager().open(BOOK);
    const before = server.requests.length;
    for (const send of [
      () => book.api("/worksheets('Sheet1')/range(address='A1')").patch(body),
      () => book.api('/tables/T/rows/add').post(body),
    ]) {
      const error = await failure(send());
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toContain(message);
    }
    expect(server.requests.length).toBe(before);
    expect(book.state).toBe('open');
    await book.api('/worksheets').get();
    await book.close();
  });
});

describe('bad server answers: a typed error, no leaked session, no hang', () => {
  const on = (route: string, answer: () => Response | 'drop', times = 1): Override => {
    let left = times;
    return (request) => {
      if (left > 0 && workbookRoute(request.url) === route) {
        left--;
        return answer();
      }
      return undefined;
    };
  };
  const html = (status: number): Response =>
    new Response('<html><body><h1>Service Unavailable</h1></body></html>', {
      status,
      headers: { 'content-type': 'text/html' },
    });
  const createPath = `POST ${BOOK}/workbook/createSession`;

  test('an HTML error page on createSession: GraphRequestError, no JSON codes, nothing created', BOUND, async () => {
    const created = server.service.stats().created;
    server.setOverride(on('createSession', () => html(500)));
    const error = await failure(manager().open(BOOK));
    expect(error).toBeInstanceOf(GraphRequestError);
    expect(error).toMatchObject({ kind: 'http', status: 500, graphCode: undefined, innerCode: undefined, attempt: 1 });
    expect((error as Error).message).toBe(
      `${createPath} failed: 500: the error answer is not Graph's JSON (text/html)`,
    );
    expect(server.service.stats().created).toBe(created);
  });

  test('an HTML 502 page on createSession is retried (createSession is idempotent), then gives up', BOUND, async () => {
    const before = server.requests.length;
    server.setOverride(on('createSession', () => html(502), 3));
    // Without the file look-up (GET {item}), so the requests are the creates alone.
    const error = await failure(manager({ retries: 2, resolveWorkbooks: false }).open(BOOK));
    expect(error).toMatchObject({ name: 'GraphRequestError', status: 502, attempt: 3 });
    expect(server.requests.slice(before).map((r) => workbookRoute(r.url))).toEqual([
      'createSession',
      'createSession',
      'createSession',
    ]);
  });

  test('an HTML 502 page on a non-idempotent POST is not retried', BOUND, async () => {
    const book = await manager().open(BOOK);
    server.setOverride(on('tables/T/rows/add', () => html(502)));
    const error = await failure(book.api('/tables/T/rows/add').post({ values: [[1]] }));
    expect(error).toMatchObject({
      name: 'GraphRequestError',
      kind: 'http',
      status: 502,
      attempt: 1,
      outcomeUnknown: true,
    });
    // A 502 with no second-level code faults the session: the handle leaves it and reopens on its next call.
    expect(book.closeReason).toBe('expired');
  });

  test('invalid JSON on a 200: malformed, not retried', BOUND, async () => {
    const book = await manager().open(BOOK);
    const before = server.requests.length;
    server.setOverride(
      on(
        'worksheets',
        () => new Response('{"value": [', { status: 200, headers: { 'content-type': 'application/json' } }),
      ),
    );
    const error = await failure(book.api('/worksheets').get());
    expect(error).toMatchObject({ name: 'GraphRequestError', kind: 'malformed', status: 200 });
    expect((error as Error).message).toBe(`GET ${BOOK}/workbook/worksheets failed: 200: the answer is not valid JSON`);
    expect(server.requests.length - before).toBe(1);
  });

  test.each([
    [
      'invalid JSON',
      () => new Response('{"id": ', { status: 201, headers: { 'content-type': 'application/json' } }),
      'the answer is not valid JSON',
    ],
    ['no id', () => jsonResponse(201, { persistChanges: true }), 'the answer carries no session id'],
    ['an empty id', () => jsonResponse(201, { id: '' }), 'the answer carries no session id'],
    ['a numeric id', () => jsonResponse(201, { id: 42 }), 'the answer carries no session id'],
    [
      'plain text',
      () => new Response('OK', { status: 201, headers: { 'content-type': 'text/plain' } }),
      'the answer carries no session id',
    ],
  ])('createSession answering 201 with %s: malformed', BOUND, async (_label, answer, detail) => {
    server.setOverride(on('createSession', answer));
    const error = await failure(manager().open(BOOK));
    expect(error).toMatchObject({ name: 'GraphRequestError', kind: 'malformed' });
    expect((error as Error).message).toContain(detail);
  });

  const accepted = (location: string | undefined): Response =>
    jsonResponse(202, {}, location === undefined ? {} : { Location: location });

  test('an unknown operation status: malformed, polling stops', BOUND, async () => {
    server.setOverride((request) => {
      const route = workbookRoute(request.url);
      if (route === 'createSession') return accepted(`${request.origin}/v1.0${BOOK}/workbook/operations/op1`);
      if (route === 'operations/op1') return jsonResponse(200, { id: 'op1', status: 'exploded' });
      return undefined;
    });
    const error = await failure(manager().open(BOOK));
    expect(error).toMatchObject({ name: 'GraphRequestError', kind: 'malformed', status: 200 });
    expect((error as Error).message).toBe(
      `GET ${BOOK}/workbook/operations/op1 failed: 200: unknown operation status "exploded"`,
    );
    expect(server.requests.filter((r) => workbookRoute(r.url) === 'operations/op1')).toHaveLength(1);
  });

  test('an operation that fails: operation-failed with its codes', BOUND, async () => {
    server.setOverride((request) => {
      const route = workbookRoute(request.url);
      if (route === 'createSession') return accepted(`/v1.0${BOOK}/workbook/operations/op2`);
      if (route === 'operations/op2')
        return jsonResponse(200, {
          id: 'op2',
          status: 'Failed',
          error: { code: 'internalServerError', message: 'nope', innerError: { code: 'x' } },
        });
      return undefined;
    });
    const error = await failure(manager().open(BOOK));
    expect(error).toMatchObject({
      name: 'GraphRequestError',
      kind: 'operation-failed',
      graphCode: 'internalServerError',
      innerCode: 'x',
    });
    expect((error as Error).message).toBe(
      `GET ${BOOK}/workbook/operations/op2 failed: 200 internalServerError/x: nope`,
    );
  });

  test('a 202 without Location: malformed', BOUND, async () => {
    server.setOverride(on('createSession', () => accepted(undefined)));
    const error = await failure(manager().open(BOOK));
    expect(error).toMatchObject({ name: 'GraphRequestError', kind: 'malformed' });
    expect((error as Error).message).toBe(`${createPath} failed: malformed: the answer has no Location`);
  });

  test('a Location on another host is refused and never requested', BOUND, async () => {
    server.setOverride(on('createSession', () => accepted(`${elsewhere.url}/v1.0${BOOK}/workbook/operations/op3`)));
    const error = await failure(manager().open(BOOK));
    expect(error).toMatchObject({ name: 'GraphRequestError', kind: 'unsafe-location' });
    expect((error as Error).message).toBe(
      `${createPath} failed: unsafe-location: Location points to ${elsewhere.url}, not ${server.url}; not followed`,
    );
    expect(elsewhere.requests).toEqual([]);
  });

  test.each([
    ['https on the same port', (url: string) => url.replace('http:', 'https:')],
    ['localhost for 127.0.0.1', (url: string) => url.replace('127.0.0.1', 'localhost')],
    ['a userinfo trick', (_url: string) => `http://127.0.0.1@${new URL(elsewhere.url).host}`],
  ])('a Location with %s is another origin and refused', BOUND, async (_label, rewrite) => {
    server.setOverride(
      on('createSession', () => accepted(`${rewrite(server.url)}/v1.0${BOOK}/workbook/operations/op4`)),
    );
    expect(await failure(manager().open(BOOK))).toMatchObject({ name: 'GraphRequestError', kind: 'unsafe-location' });
  });

  test('a Location outside the version root, or not a URL, is refused', BOUND, async () => {
    server.setOverride(on('createSession', () => accepted('/admin/operations/1')));
    expect(((await failure(manager().open(BOOK))) as Error).message).toContain(
      'Location is outside the Graph version root',
    );
    server.setOverride(on('createSession', () => accepted('http://[::1')));
    expect(((await failure(manager().open(BOOK))) as Error).message).toContain('Location is not a URL');
  });

  test('a resourceLocation on another host is refused and never requested', BOUND, async () => {
    server.setOverride((request) => {
      const route = workbookRoute(request.url);
      if (route === 'createSession') return accepted(`${request.origin}/v1.0${BOOK}/workbook/operations/op5`);
      if (route === 'operations/op5') {
        return jsonResponse(200, {
          id: 'op5',
          status: 'succeeded',
          resourceLocation: `${elsewhere.url}/v1.0${BOOK}/workbook/sessionInfoResource(key='k')`,
        });
      }
      return undefined;
    });
    const error = await failure(manager().open(BOOK));
    expect(error).toMatchObject({ name: 'GraphRequestError', kind: 'unsafe-location', method: 'GET' });
    expect((error as Error).message).toContain(
      `resourceLocation points to ${elsewhere.url}, not ${server.url}; not followed`,
    );
  });

  describe('Retry-After', () => {
    const throttled = (retryAfter: string): Response =>
      graphErrorResponse(429, { code: 'tooManyRequests', message: 'slow down' }, { 'Retry-After': retryAfter });

    test('a negative Retry-After is ignored: backoff instead, and the call succeeds', BOUND, async () => {
      const m = manager({ retryBaseDelayMs: 2, retryMaxDelayMs: 4 });
      const retried: RetryEvent[] = [];
      m.on('retried', (event) => retried.push(event));
      const book = await m.open(BOOK);
      server.setOverride(on('worksheets', () => throttled('-30')));
      await book.api('/worksheets').get();
      expect(retried).toHaveLength(1);
      expect(retried[0]).toMatchObject({ status: 429, cooldown: false, attempt: 1 });
      expect(retried[0]?.delayMs).toBeLessThanOrEqual(4);
    });

    test('a past HTTP-date Retry-After means no wait, but the backoff still applies', BOUND, async () => {
      const m = manager();
      const retried: RetryEvent[] = [];
      m.on('retried', (event) => retried.push(event));
      const book = await m.open(BOOK);
      server.setOverride(on('worksheets', () => throttled('Wed, 21 Oct 2015 07:28:00 GMT')));
      await book.api('/worksheets').get();
      expect(retried).toEqual([expect.objectContaining({ status: 429, cooldown: false })]);
      expect(retried[0]?.delayMs).toBeGreaterThan(0);
    });

    test('garbage in Retry-After is ignored like a negative one', BOUND, async () => {
      const m = manager();
      const retried: RetryEvent[] = [];
      m.on('retried', (event) => retried.push(event));
      const book = await m.open(BOOK);
      server.setOverride(on('worksheets', () => throttled('soon, maybe')));
      await book.api('/worksheets').get();
      expect(retried).toEqual([expect.objectContaining({ status: 429, cooldown: false })]);
    });

    test(
      'a huge Retry-After is kept as given and, past the retry deadline, fails the call at once',
      BOUND,
      async () => {
        const m = manager({ retryDeadlineMs: 5000 });
        const book = await m.open(BOOK);
        server.setOverride(on('worksheets', () => throttled('99999999999')));
        const error = await failure(book.api('/worksheets').get());
        expect(error).toMatchObject({
          name: 'GraphRequestError',
          status: 429,
          retryAfterMs: 99_999_999_999_000,
          attempt: 1,
        });
        // The workbook's lane honours the cooldown: even the close waits for it. A shutdown is bounded by
        // its deadline and reports the session as left open rather than hanging or forgetting it.
        void book.close().catch(() => undefined);
        managers.splice(managers.indexOf(m), 1);
        const report = await m.shutdown({ timeoutMs: 200 });
        expect(report).toMatchObject({ leftOpen: 1, timedOut: true, closed: 0 });
        expect(report.sessions).toEqual([{ id: expect.stringMatching(/…/), workbook: BOOK, outcome: 'pending' }]);
        // End it on the server so the checks after this test start clean.
        server.service.expireSession(book.id);
      },
    );
  });

  test('a dropped connection on a non-idempotent POST fails as a network error, not retried', BOUND, async () => {
    const book = await manager().open(BOOK);
    server.setOverride(on('tables/T/rows/add', () => 'drop'));
    const error = await failure(book.api('/tables/T/rows/add').post({ values: [[1]] }));
    expect(isGraphRequestError(error)).toBe(true);
    expect(error).toMatchObject({ kind: 'network', status: undefined, attempt: 1 });
    expect((error as Error).message).toBe(
      `POST ${BOOK}/workbook/tables/T/rows/add failed: network: no answer (connection failed or dropped)`,
    );
  });

  test('a dropped connection on createSession is retried (idempotent), and the session then opens', BOUND, async () => {
    server.setOverride(on('createSession', () => 'drop'));
    const book = await manager().open(BOOK);
    expect(book.state).toBe('open');
    await book.close();
  });
});

/** Answers `route` with `answer` every time it is asked. */
const always =
  (route: string, answer: () => Response): Override =>
  (request) =>
    workbookRoute(request.url) === route ? answer() : undefined;

describe(
  'session ids that cannot travel in a header: a client ' + 'error, reported as possibly open, nothing retried',
  () => {
    const unsendable: [string, string][] = [
      ['a NUL', 'sess\u0000one'],
      ['a DEL', 'sess\u007fone'],
      ['a U+2028 line separator', 'sess\u2028one'],
      ['an emoji', 'sess-\u{1F600}-one'],
      ['a Latin-1 letter (fetch would send a byte the server may read otherwise)', 'caf\u00e9-session'],
      ['a CR LF (header injection)', 'abc\r\nX-Evil: 1'],
      ['a tab', 'sess\tone'],
      ['spaces at both ends (fetch would trim them)', '  sess-1  '],
      ['a space at the end', 'sess-1 '],
    ];

    test.each(unsendable)(
      'createSession answering an id with %s: open() fails at once with kind unsendable-id and an unclosable event',
      BOUND,
      async (_label, id) => {
        const warnings: string[] = [];
        const m = manager({ logger: { warn: (message) => warnings.push(message) } });
        const unclosable: unknown[] = [];
        const other: string[] = [];
        m.on('unclosable', (event) => unclosable.push(event));
        for (const name of ['opened', 'closed', 'expired', 'retried'] as const) m.on(name, () => other.push(name));
        server.setOverride(always('createSession', () => jsonResponse(201, { id, persistChanges: true })));
        const before = server.requests.length;
        const error = await failure(m.open(BOOK));
        expect(error).toBeInstanceOf(GraphRequestError);
        expect(error).toMatchObject({ kind: 'unsendable-id', attempt: 1 });
        expect((error as Error).message).toMatch(
          new RegExp(
            /^POST \/me\/drive\/items\/A\/workbook\/createSession failed: unsendable-id: Graph created session ".*", /
              .source +
              /but its id cannot be sent in a header \(.+\): /.source +
              /it cannot be used or closed, and stays open on the server until Graph expires it$/.source,
          ),
        );
        // Nothing after the create: no close to a trimmed or mangled id, no retry.
        // The file look-up, then the one create: nothing is sent with the id.
        expect(server.requests.slice(before).map((r) => workbookRoute(r.url))).toEqual(['', 'createSession']);
        expect(unclosable).toEqual([{ workbook: BOOK, error }]);
        expect(warnings).toEqual([
          'workbook-sessions: a session was created that cannot be closed: its ' +
            'id cannot be sent in a header; it stays open until Graph expires it',
        ]);
        // Never counted closed or expired: it may still be open.
        expect(other).toEqual([]);
        expect(m.stats().totals).toMatchObject({ opened: 0, closed: 0, expired: 0 });
      },
    );

    test('the message shows the id shortened and escaped, never whole', BOUND, async () => {
      const id = `${'x'.repeat(40)}\u2028${'y'.repeat(40)}`;
      server.setOverride(always('createSession', () => jsonResponse(201, { id })));
      const error = (await failure(manager().open(BOOK))) as Error;
      expect(error.message).toContain('Graph created session "xxxxxx…yyyy"');
      expect(error.message).toContain('it contains U+2028 at index 40');
      expect(error.message).not.toContain('x'.repeat(7));
    });

    test('control characters in a short id are shown escaped, so the message stays one clean line', BOUND, async () => {
      server.setOverride(always('createSession', () => jsonResponse(201, { id: 'ab\r\ncd' })));
      const error = (await failure(manager().open(BOOK))) as Error;
      expect(error.message).toContain(
        'Graph created session "ab\\u000d\\u000acd", but its id ' +
          'cannot be sent in a header (it contains U+000D at index 2',
      );
      expect(error.message).not.toMatch(/[\r\n]/);
    });

    test('an id with spaces inside (not at the ends) is carried exactly', BOUND, async () => {
      server.setOverride((request) =>
        workbookRoute(request.url) === 'createSession'
          ? jsonResponse(201, { id: 'sess 1' })
          : workbookRoute(request.url) === 'closeSession'
            ? new Response(null, { status: 204 })
            : undefined,
      );
      const before = server.requests.length;
      const book = await manager().open(BOOK);
      await book.close();
      const close = server.requests.slice(before).find((r) => workbookRoute(r.url) === 'closeSession');
      expect(close?.headers['workbook-session-id']).toBe('sess 1');
    });

    test(
      'recover() fails a journal id that cannot be sent at once, sends nothing for it, and closes the others',
      BOUND,
      async () => {
        const dir = await tempDir();
        const good = await manager().open(BOOK);
        // Left open by a process that is gone: the journal names it and two ids that cannot be sent.
        const lines = [openLine({ id: 'uni\u2603' }), openLine({ id: 'nul\u0000id' }), openLine({ id: good.id })];
        await fs.writeFile(path.join(dir, 'sessions.journal'), lines.map((l) => `${l}\n`).join(''), { mode: 0o600 });
        const m = manager({ journal: { path: dir } });
        const retried: RetryEvent[] = [];
        m.on('retried', (event) => retried.push(event));
        const before = server.requests.length;
        const report = await m.recover();
        expect(report.failed.map((s) => [s.id, s.error])).toEqual([
          ['uni\u2603', expect.stringContaining('cannot be sent in a header: it contains U+2603 at index 3')],
          ['nul\\u0000id', expect.stringContaining('cannot be sent in a header: it contains U+0000 at index 3')],
        ]);
        expect(report.closed.map((s) => s.workbook)).toEqual([BOOK]);
        expect(retried).toEqual([]);
        expect(
          server.requests.slice(before).map((r) => [workbookRoute(r.url), r.headers['workbook-session-id']]),
        ).toEqual([['closeSession', good.id]]);
        expect(good.state).toBe('open');
        await good.close().catch(() => undefined);
      },
    );
  },
);

describe('tokens that cannot travel in a header: a client error before anything is sent', () => {
  test.each([
    ['a CR LF', 'Zq9\r\nX-Evil: 1'],
    ['a NUL', 'Zq9\u0000en'],
    ['a non-ASCII letter', 'Zq9\u00e9n'],
    ['a space', 'Zq9 en'],
  ])('createBearerClient() refuses a fixed token with %s, without showing it', (_label, token) => {
    expect(() => createBearerClient({ baseUrl: server.url, token })).toThrow(TypeError);
    expect(() => createBearerClient({ baseUrl: server.url, token })).toThrow(
      /^The access token cannot be sent in the Authorization header: .* \(the token itself is not shown\)$/,
    );
    try {
      createBearerClient({ baseUrl: server.url, token });
    } catch (error) {
      expect((error as Error).message).not.toContain('Zq9');
    }
  });

  test(
    'a token function returning a token with CR LF fails open() as a client error, unretried, with nothing sent',
    BOUND,
    async () => {
      const m = new SessionManager({
        client: createBearerClient({ baseUrl: server.url, token: () => 'secret\r\nX-Evil: 1' }),
        exitHooks: false,
        retries: 3,
        retryBaseDelayMs: 1,
        retryMaxDelayMs: 2,
      });
      managers.push(m);
      const retried: RetryEvent[] = [];
      m.on('retried', (event) => retried.push(event));
      const before = server.requests.length;
      const error = await failure(m.open(BOOK));
      expect(error).toMatchObject({ name: 'GraphRequestError', kind: 'client', attempt: 1 });
      expect((error as Error).message).toContain('The access token cannot be sent in the Authorization header');
      expect((error as Error).message).not.toContain('secret');
      expect(retried).toEqual([]);
      expect(server.requests.length).toBe(before);
    },
  );

  test(
    "a header fetch refuses to send (fetch's own TypeError) is a client error, not a network failure to retry",
    BOUND,
    async () => {
      // A client whose own middleware sets a token fetch cannot send, as a credential might return.
      const client = Client.initWithMiddleware({
        middleware: [bearerMiddleware('tok\u2603en') as Middleware, new HTTPMessageHandler()],
        baseUrl: server.url,
      });
      const m = new SessionManager({ client, exitHooks: false, retries: 3, retryBaseDelayMs: 1, retryMaxDelayMs: 2 });
      managers.push(m);
      const retried: RetryEvent[] = [];
      m.on('retried', (event) => retried.push(event));
      const before = server.requests.length;
      const error = await failure(m.open(BOOK));
      expect(error).toMatchObject({ name: 'GraphRequestError', kind: 'client', attempt: 1 });
      expect(retried).toEqual([]);
      expect(server.requests.length).toBe(before);
    },
  );
});

describe('query values: percent-encoded, never cut or extended', () => {
  test.each([
    ['an & and a # in $filter', { $filter: "name eq 'R&D #1'" }],
    ['an injected parameter in $select', { $select: 'values&$top=1' }],
    ['an = and a + in a value', { $filter: 'a=b+c' }],
    ['a % in a value', { $search: '100%' }],
    ['non-ASCII in a value', { $filter: "name eq 'Q1 \u2603'" }],
  ])('api().get({ query }) with %s arrives as given', BOUND, async (_label, query) => {
    const book = await manager().open(BOOK);
    server.setOverride(always('worksheets', () => jsonResponse(200, { value: [] })));
    const before = server.requests.length;
    await book.api('/worksheets').get({ query });
    const sent = server.requests.slice(before).find((r) => workbookRoute(r.url) === 'worksheets');
    const params = new URL(sent?.url ?? '', server.url).searchParams;
    expect(Object.fromEntries(params)).toEqual(query);
    await book.close();
  });
});

describe('long-running createSession polling: bounded', () => {
  test(
    'a Retry-After: 0 on every poll does not make polls run back to back: at most one per pollIntervalMs',
    BOUND,
    async () => {
      let polls = 0;
      server.setOverride((request) => {
        const route = workbookRoute(request.url);
        if (route === 'createSession')
          return jsonResponse(202, {}, { Location: `${request.origin}/v1.0${BOOK}/workbook/operations/slow` });
        if (route === 'operations/slow') {
          polls++;
          return jsonResponse(200, { id: 'slow', status: 'running' }, { 'Retry-After': '0' });
        }
        return undefined;
      });
      const error = await failure(manager({ pollIntervalMs: 20, operationTimeoutMs: 400 }).open(BOOK));
      expect(error).toMatchObject({ name: 'GraphRequestError', kind: 'malformed' });
      expect((error as Error).message).toContain('createSession did not finish within 400 ms');
      // Each wait is at least 20 ms (a timer may fire up to 1 ms early): 400 / 19 polls, plus the last.
      expect(polls).toBeGreaterThan(0);
      expect(polls).toBeLessThanOrEqual(Math.floor(400 / 19) + 1);
    },
  );
});

describe('functions called wrongly: TypeError or RangeError naming the value', () => {
  test('createBearerClient() and createGraphClient() without options', () => {
    expect(() => createBearerClient(undefined as never)).toThrow(
      new TypeError('Expected createBearerClient() options to be an object with `baseUrl`, `token`, got `undefined`'),
    );
    expect(() => createGraphClient(undefined as never)).toThrow(
      new TypeError(
        'Expected createGraphClient() options to be an object with `credential`, `scopes`, `baseUrl`, got `undefined`',
      ),
    );
    expect(() => createBearerClient('http://x' as never)).toThrow(
      new TypeError(
        'Expected createBearerClient() options to be an object with `baseUrl`, `token`, got "http://x" (string)',
      ),
    );
  });

  test('createBearerClient() and createGraphClient() refuse unknown keys', () => {
    expect(() => createBearerClient({ baseUrl: server.url, token: 't', tokens: 'x' } as never)).toThrow(
      new TypeError('Unknown createBearerClient() option `tokens`; expected one of: baseUrl, token'),
    );
    expect(() =>
      createGraphClient({ credential: { getToken: () => Promise.resolve(null) }, scope: ['x'] } as never),
    ).toThrow('Unknown createGraphClient() option `scope`');
  });

  test(
    'createGraphClient() refuses a string scopes (it would ' + 'be split into characters) and a missing credential',
    () => {
      const credential = { getToken: () => Promise.resolve(null) };
      expect(() => createGraphClient({ credential, scopes: 'https://graph.microsoft.com/.default' as never })).toThrow(
        new TypeError(
          'Expected `scopes` to be an array of strings, got ' +
            '"https://graph.microsoft.com/.default" (string) (wrap a single scope in an array)',
        ),
      );
      expect(() => createGraphClient({ credential, scopes: [''] })).toThrow(
        new TypeError('Expected each of `scopes` to be a non-empty string, got "" (string)'),
      );
      expect(() => createGraphClient({ credential, scopes: [42 as never] })).toThrow(
        new TypeError('Expected each of `scopes` to be a non-empty string, got `42` (number)'),
      );
      expect(() => createGraphClient({} as never)).toThrow(
        new TypeError(
          'Expected `credential` to be an @azure/identity credential (an object with getToken()), got `undefined`',
        ),
      );
      expect(() => createGraphClient({ credential })).not.toThrow();
    },
  );

  test('createGraphClient() passes the scopes it was given to the credential, whole', async () => {
    const asked: unknown[] = [];
    const credential = {
      getToken: (scopes: string | string[]) => {
        asked.push(scopes);
        return Promise.resolve(null);
      },
    };
    const client = createGraphClient({ credential, scopes: ['https://graph.microsoft.com/Files.ReadWrite'] });
    await client
      .api('/me')
      .get()
      .catch(() => undefined);
    expect(asked).toEqual([['https://graph.microsoft.com/Files.ReadWrite']]);
  });

  test('parseRetryAfter() refuses a `now` that is not a finite number instead of returning NaN', () => {
    expect(() => parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Number.NaN)).toThrow(
      new TypeError('Expected `now` to be a finite number (epoch ms), got NaN (number)'),
    );
    expect(() => parseRetryAfter('5', undefined as never)).toThrow(TypeError);
    expect(() => parseRetryAfter(5 as never, 0)).toThrow(
      new TypeError('Expected the Retry-After value to be a string, got number'),
    );
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(10_000);
  });

  test('decideRetry() refuses a context that would give a NaN or negative delay, naming the value', () => {
    const policy = { retries: 3, baseDelayMs: 100, maxDelayMs: 1000, deadlineMs: 10_000 };
    const context = { attempt: 1, idempotent: true, policy, elapsedMs: 0, random: 0.5 };
    const error = new GraphRequestError({ kind: 'http', method: 'GET', path: '/x', status: 503 });
    expect(() => decideRetry(error, undefined as never)).toThrow(
      new TypeError('Expected the decideRetry() context to be an object, got `undefined`'),
    );
    expect(() => decideRetry(error, { ...context, attempt: Number.NaN })).toThrow(
      new TypeError('Expected `attempt` to be a number, got `NaN` (number)'),
    );
    expect(() => decideRetry(error, { ...context, attempt: 0 })).toThrow(
      new RangeError('Expected `attempt` to be an integer >= 1, got `0` (number)'),
    );
    expect(() => decideRetry(error, { ...context, idempotent: 'yes' as never })).toThrow(
      new TypeError('Expected `idempotent` to be a boolean, got "yes" (string)'),
    );
    expect(() => decideRetry(error, { ...context, random: 5 })).toThrow(
      new RangeError('Expected `random` to be a finite number from 0 to 1, got `5` (number)'),
    );
    expect(() => decideRetry(error, { ...context, elapsedMs: '5' as never })).toThrow(
      new TypeError('Expected `elapsedMs` to be a number, got "5" (string)'),
    );
    expect(() => decideRetry(error, { ...context, policy: undefined as never })).toThrow(
      new TypeError('Expected `policy` to be a RetryPolicy object, got `undefined`'),
    );
    expect(() => decideRetry(error, { ...context, policy: { ...policy, baseDelayMs: -5 } })).toThrow(
      new RangeError('Expected `policy.baseDelayMs` to be a finite number >= 0, got `-5` (number)'),
    );
    // Refused also for a failure that is not retried at all: the call itself is wrong.
    expect(() => decideRetry(new Error('x'), { ...context, attempt: -1 })).toThrow(RangeError);
    expect(
      decideRetry(error, { ...context, policy: { ...policy, retries: Infinity, deadlineMs: Infinity } }).retry,
    ).toBe(true);
  });

  test('new GraphRequestError() refuses an init without a known kind, a method and a path', () => {
    expect(() => new GraphRequestError(undefined as never)).toThrow(
      new TypeError('Expected the GraphRequestError init to be an object, got undefined'),
    );
    expect(() => new GraphRequestError({ kind: 'oops', method: 'GET', path: '/x' } as never)).toThrow(
      /^Expected `kind` to be one of http, network, .*, got "oops"$/,
    );
    expect(() => new GraphRequestError({ kind: 'http', path: '/x' } as never)).toThrow(
      new TypeError('Expected `method` to be a string, got undefined'),
    );
  });

  test('shortId() refuses a value that is not a string with a TypeError', () => {
    expect(() => shortId(5 as never)).toThrow(new TypeError('Expected the session id to be a string, got number'));
    expect(() => shortId(undefined as never)).toThrow(
      new TypeError('Expected the session id to be a string, got undefined'),
    );
  });

  test('markClosed(), lock(), compact() refuse bad values with a TypeError naming them, writing nothing', async () => {
    const dir = await tempDir();
    const journal = new SessionJournal({ path: dir });
    await expect(markClosed(journal, 5 as never, 'closed')).rejects.toThrow(
      new TypeError('Expected `id` to be a non-empty string, got `5` (number)'),
    );
    await expect(markClosed(journal, 'S-1', 'gone' as never)).rejects.toThrow(
      new TypeError('Expected `reason` to be one of closed, recovered, expired, got "gone" (string)'),
    );
    await expect(lock(journal, { wait: 'yes' as never })).rejects.toThrow(
      new TypeError('Expected `wait` to be a boolean, got "yes" (string)'),
    );
    await expect(lock(journal, { signal: {} as never })).rejects.toThrow(
      new TypeError('Expected `signal` to be an AbortSignal, got a value of type object'),
    );
    await expect(compact(journal, { force: 1 as never })).rejects.toThrow(
      new TypeError('Expected `force` to be a boolean, got `1` (number)'),
    );
    await expect(compact(journal, { forse: true } as never)).rejects.toThrow(
      new TypeError('Unknown compact() option `forse`; expected one of: force, wait, signal'),
    );
    await expect(compact(journal, null as never)).rejects.toThrow(
      new TypeError('Expected compact() options to be an object, got `null`'),
    );
    expect(await fs.readdir(dir)).toEqual([]);
    await journal.close();
  });

  test('a SessionJournal at a device is refused when built, not after reading it for seconds', () => {
    expect(() => new SessionJournal({ path: '/dev/full' })).toThrow(
      new TypeError(
        'Expected the journal `path` to be a file or a directory, ' +
          'got "/dev/full" (string), which is a character device',
      ),
    );
    expect(() => new SessionJournal({ path: '/dev/zero' })).toThrow(/which is a character device$/);
  });
});
