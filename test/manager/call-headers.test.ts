import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createBearerClient, type SessionManager } from '../../src/index.js';
import { CallSender } from '../../src/transport/send.js';
import {
  type BadServer,
  type SeenRequest,
  fastManager,
  jsonResponse,
  startBadServer,
  workbookRoute,
} from '../helpers/bad-server.js';

// Per-call headers: what a call may add, that it reaches Graph as given (and on each retry), and what
// is refused before any request.

const BOOK = '/me/drive/items/A';
const BOUND = { timeout: 10_000 };
let server: BadServer;
const managers: SessionManager[] = [];

beforeAll(async () => {
  server = await startBadServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  server.setOverride(undefined);
  for (const m of managers.splice(0)) {
    const report = await m.shutdown({ timeoutMs: 2000 });
    expect(report.leftOpen).toBe(0);
  }
  expect(server.service.stats().open).toBe(0);
});

const manager = (): SessionManager => fastManager(server, managers);

/** The requests sent to `route` since `from`. */
const sentTo = (route: string, from: number): SeenRequest[] =>
  server.requests.slice(from).filter((r) => workbookRoute(r.url) === route);

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('headers arrive at Graph as given', () => {
  test('a GET carries Prefer and If-None-Match beside the session id', BOUND, async () => {
    const book = await manager().open(BOOK);
    const before = server.requests.length;
    const answer = await book.api('/worksheets').get<{ value: unknown[] }>({
      headers: { Prefer: 'include-unknown-enum-members', 'If-None-Match': 'W/"1"' },
    });
    expect(Array.isArray(answer.value)).toBe(true);
    const [sent] = sentTo('worksheets', before);
    expect(sent?.headers['prefer']).toBe('include-unknown-enum-members');
    expect(sent?.headers['if-none-match']).toBe('W/"1"');
    expect(sent?.headers['workbook-session-id']).toBe(book.id);
    expect(sent?.headers['authorization']).toBe(`Bearer ${server.token}`);
    await book.close();
  });

  test('a PATCH with a body carries If-Match, and its Content-Type stays JSON', BOUND, async () => {
    const book = await manager().open(BOOK);
    const route = "worksheets/Sheet1/range(address='A1')";
    server.setOverride((request) => (workbookRoute(request.url) === route ? jsonResponse(200, {}) : undefined));
    const before = server.requests.length;
    await book
      .api(`/${route}`)
      .patch({ values: [[1]] }, { headers: { 'If-Match': '"etag-1"', Prefer: 'return=minimal' } });
    const [sent] = sentTo(route, before);
    expect(sent?.method).toBe('PATCH');
    expect(sent?.headers['if-match']).toBe('"etag-1"');
    expect(sent?.headers['prefer']).toBe('return=minimal');
    expect(sent?.headers['content-type']).toBe('application/json');
    expect(sent?.body).toBe('{"values":[[1]]}');
    await book.close();
  });

  test('every retry carries the headers again', BOUND, async () => {
    const book = await manager().open(BOOK);
    let calls = 0;
    server.setOverride((request) => {
      if (workbookRoute(request.url) !== 'worksheets') return undefined;
      calls++;
      return calls === 1 ? jsonResponse(503, { error: { code: 'serviceUnavailable', message: 'busy' } }) : undefined;
    });
    const before = server.requests.length;
    await book.api('/worksheets').get({ headers: { 'x-trace': 't-1' } });
    const sent = sentTo('worksheets', before);
    expect(sent).toHaveLength(2);
    expect(sent.map((r) => r.headers['x-trace'])).toEqual(['t-1', 't-1']);
    await book.close();
  });

  test('the headers checked are the headers sent: changing the object afterwards changes nothing', BOUND, async () => {
    const book = await manager().open(BOOK);
    const headers: Record<string, string> = { Prefer: 'a' };
    const before = server.requests.length;
    const call = book.api('/worksheets').get({ headers });
    headers['Prefer'] = 'b';
    headers['Authorization'] = 'Bearer stolen';
    await call;
    const [sent] = sentTo('worksheets', before);
    expect(sent?.headers['prefer']).toBe('a');
    expect(sent?.headers['authorization']).toBe(`Bearer ${server.token}`);
    await book.close();
  });
});

describe('the transport: its own headers win over a call’s', () => {
  test('a session id, Authorization or Content-Type given in call headers is not what is sent', BOUND, async () => {
    const book = await manager().open(BOOK);
    const sender = new CallSender(createBearerClient({ baseUrl: server.url, token: server.token }), 5000, Date.now);
    const route = "worksheets/Sheet1/range(address='A1')";
    server.setOverride((request) => (workbookRoute(request.url) === route ? jsonResponse(200, {}) : undefined));
    const before = server.requests.length;
    await sender.send({
      method: 'PATCH',
      path: `${BOOK}/workbook/${route}`,
      sessionId: book.id,
      body: '{}',
      headers: {
        'Workbook-Session-Id': 'other',
        authorization: 'Bearer other',
        'CONTENT-TYPE': 'text/plain',
        Prefer: 'kept',
      },
    });
    const [sent] = sentTo(route, before);
    expect(sent?.headers['workbook-session-id']).toBe(book.id);
    expect(sent?.headers['authorization']).toBe(`Bearer ${server.token}`);
    expect(sent?.headers['content-type']).toBe('application/json');
    expect(sent?.headers['prefer']).toBe('kept');
    await book.close();
  });
});

describe('bad headers: a TypeError naming the header, before any request', () => {
  const FRAMING = 'it frames the request on the wire';
  const refused: [string, unknown, string][] = [
    ['not an object', 'Prefer: x', 'Expected `headers` to be an object of strings, got "Prefer: x" (string)'],
    ['null', null, 'Expected `headers` to be an object of strings, got `null`'],
    ['an array', [['Prefer', 'x']], 'Expected `headers` to be an object of strings, got an array'],
    ['a number value', { 'If-Match': 1 }, 'Expected header `If-Match` to be a string, got `1` (number)'],
    ['an undefined value', { Prefer: undefined }, 'Expected header `Prefer` to be a string, got `undefined`'],
    [
      'a name with a space',
      { 'If Match': 'x' },
      'Expected header name "If Match" (string) to be an HTTP token (letters, digits, !#$%&\'*+-.^_`|~)',
    ],
    [
      'a name with a colon',
      { 'Prefer:': 'x' },
      'Expected header name "Prefer:" (string) to be an HTTP token (letters, digits, !#$%&\'*+-.^_`|~)',
    ],
    [
      'an empty name',
      { '': 'x' },
      'Expected header name "" (string) to be an HTTP token (letters, digits, !#$%&\'*+-.^_`|~)',
    ],
    [
      'a line break in a value',
      { Prefer: 'a\r\nAuthorization: Bearer x' },
      'Expected header `Prefer` to hold no line break, NUL or character above U+00FF, ' +
        'got "a\\r\\nAuthorization: Bearer x" (string)',
    ],
    [
      'a NUL in a value',
      { Prefer: 'a\0b' },
      'Expected header `Prefer` to hold no line break, NUL or character above U+00FF, got "a\\u0000b" (string)',
    ],
    [
      'a character above U+00FF',
      { Prefer: 'snow \u2603' },
      'Expected header `Prefer` to hold no line break, NUL or character above U+00FF, got "snow \u2603" (string)',
    ],
    [
      'the same name twice',
      { Prefer: 'a', prefer: 'b' },
      'The headers `Prefer` and `prefer` are the same header; give it once',
    ],
    [
      'Authorization',
      { Authorization: 'Bearer x' },
      "The header `Authorization` cannot be set on a call: the client's credential sends it",
    ],
    [
      'authorization in lower case',
      { authorization: 'x' },
      "The header `authorization` cannot be set on a call: the client's credential sends it",
    ],
    [
      'workbook-session-id',
      { 'workbook-session-id': 's' },
      "The header `workbook-session-id` cannot be set on a call: the handle sends its session's id",
    ],
    [
      'Workbook-Session-Id',
      { 'Workbook-Session-Id': 's' },
      "The header `Workbook-Session-Id` cannot be set on a call: the handle sends its session's id",
    ],
    [
      'Content-Type',
      { 'Content-Type': 'text/plain' },
      'The header `Content-Type` cannot be set on a call: a body is always sent as JSON',
    ],
    ['Host', { Host: 'evil.example' }, `The header \`Host\` cannot be set on a call: ${FRAMING}`],
    ['Content-Length', { 'Content-Length': '0' }, `The header \`Content-Length\` cannot be set on a call: ${FRAMING}`],
    [
      'Transfer-Encoding',
      { 'Transfer-Encoding': 'chunked' },
      `The header \`Transfer-Encoding\` cannot be set on a call: ${FRAMING}`,
    ],
    ['CONNECTION', { CONNECTION: 'close' }, `The header \`CONNECTION\` cannot be set on a call: ${FRAMING}`],
    ['Keep-Alive', { 'Keep-Alive': 'timeout=5' }, `The header \`Keep-Alive\` cannot be set on a call: ${FRAMING}`],
    ['Upgrade', { Upgrade: 'h2c' }, `The header \`Upgrade\` cannot be set on a call: ${FRAMING}`],
    ['TE', { TE: 'trailers' }, `The header \`TE\` cannot be set on a call: ${FRAMING}`],
    ['Expect', { Expect: '100-continue' }, `The header \`Expect\` cannot be set on a call: ${FRAMING}`],
  ];

  test('every method refuses each of them, and nothing is sent', BOUND, async () => {
    const book = await manager().open(BOOK);
    const before = server.requests.length;
    const api = book.api('/worksheets');
    for (const [label, headers, message] of refused) {
      const calls = [
        api.get({ headers } as never),
        api.post({}, { headers } as never),
        api.patch({}, { headers } as never),
        api.delete({ headers } as never),
      ];
      for (const call of calls) {
        const error = await failure(call);
        expect(error, label).toBeInstanceOf(TypeError);
        expect((error as Error).message, label).toBe(message);
      }
    }
    expect(server.requests.length).toBe(before);
    await book.close();
  });

  test('a name such as constructor is an ordinary header; __proto__ is refused', BOUND, async () => {
    const book = await manager().open(BOOK);
    const before = server.requests.length;
    await book.api('/worksheets').get({ headers: { constructor: 'c', toString: 't' } });
    const [sent] = sentTo('worksheets', before);
    expect(sent?.headers['constructor']).toBe('c');
    expect(sent?.headers['tostring']).toBe('t');
    const headers = JSON.parse('{"__proto__":"p"}') as Record<string, string>;
    const error = await failure(book.api('/worksheets').get({ headers }));
    expect((error as Error).message).toBe(
      'The header `__proto__` cannot be set on a call: the Graph client cannot carry a header of that name',
    );
    await book.close();
  });
});
