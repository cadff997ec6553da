import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { inspect } from 'node:util';
import { SessionManager, createBearerClient, isGraphRequestError, type SessionManagerOptions } from '../src/index.js';
import {
  type BadServer,
  graphErrorResponse,
  jsonResponse,
  startBadServer,
  workbookRoute,
  fastManager,
} from './helpers/bad-server.js';

// The transport against a real HTTP server that answers exactly what Graph may answer, through the
// real Graph client: error chains, second-level rules, session faults, failed operations,
// Location and resourceLocation as given, redaction, request timeouts.

const BOOK = '/me/drive/items/A';
const BOUND = { timeout: 10_000 };
let server: BadServer;
const managers: SessionManager[] = [];

const manager = (options: Omit<SessionManagerOptions, 'client'> = {}): SessionManager =>
  fastManager(server, managers, { retries: 3, ...options });

const routeCount = (route: string): number => server.requests.filter((r) => workbookRoute(r.url) === route).length;

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

/** A session the service really created, answered as a sessionInfoResource GET answers it. */
async function sessionInfo(): Promise<Response> {
  const created = await server.service.handle(
    new Request(`${server.url}/v1.0${BOOK}/workbook/createSession`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: '{"persistChanges":true}',
    }),
  );
  return jsonResponse(200, await created.json());
}

beforeAll(async () => {
  server = await startBadServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  server.setOverride(undefined);
  for (const m of managers.splice(0)) await m.shutdown({ timeoutMs: 2000 });
  expect(server.service.stats().open).toBe(0);
  server.requests.length = 0;
});

describe('error bodies read as Graph writes them', () => {
  test('GraphRequestError.codes keeps a three-level chain, innererror spelt in lower case', BOUND, async () => {
    const book = await manager().open(BOOK);
    server.setOverride((request) =>
      workbookRoute(request.url) === 'worksheets'
        ? graphErrorResponse(400, {
            code: 'gatewayTimeout',
            message: 'outer',
            innererror: {
              code: 'gatewayTimeoutUncategorized',
              innerError: { code: 'MaxRequestDurationExceeded', message: 'deep' },
            },
          })
        : undefined,
    );
    const error = await failure(book.api('/worksheets').get());
    expect(error).toMatchObject({
      codes: ['gatewayTimeout', 'gatewayTimeoutUncategorized', 'MaxRequestDurationExceeded'],
      graphCode: 'gatewayTimeout',
      innerCode: 'gatewayTimeoutUncategorized',
    });
    expect((error as Error).message).toBe(
      `GET ${BOOK}/workbook/worksheets failed: 400 gatewayTimeout/gatewayTimeoutUncategorized/MaxRequestDurationExceeded: outer`,
    );
    await book.close();
  });
});

describe('error bodies read by level, whatever the server puts there', () => {
  test(
    'GraphRequestError.innerCode is the second level even when the top level has no code: a session Graph says is gone is recreated, not faulted',
    BOUND,
    async () => {
      const m = manager({ retries: 0 });
      const book = await m.open(BOOK);
      const first = book.id;
      let sent = 0;
      server.setOverride((request) =>
        request.method === 'PATCH' && sent++ === 0
          ? graphErrorResponse(503, {
              message: 'no top-level code',
              innerError: { code: 'invalidSessionReCreatable', innerError: { code: 'deeper' } },
            })
          : undefined,
      );
      // As `gone` (not applied), a write is replayed in a new session; as `faulted`, it would fail with outcomeUnknown.
      await book.api("/worksheets('Sheet1')/range(address='A1')").patch({ values: [[9]] });
      expect(book.id).not.toBe(first);
      expect(sent).toBe(2);
      server.setOverride((request) =>
        workbookRoute(request.url) === 'worksheets'
          ? graphErrorResponse(400, { code: '', innerError: { code: 'invalidArgument' } })
          : undefined,
      );
      const error = await failure(book.api('/worksheets').get());
      expect(error).toMatchObject({ codes: ['invalidArgument'], graphCode: undefined, innerCode: 'invalidArgument' });
      await book.close();
    },
  );

  test('GraphRequestError shows a huge or multi-line code and message on one short line', BOUND, async () => {
    const book = await manager().open(BOOK);
    server.setOverride((request) =>
      workbookRoute(request.url) === 'worksheets'
        ? graphErrorResponse(400, {
            code: `${'x'.repeat(100_000)}\nforged log line`,
            message: `m\u001b[31m${'y'.repeat(100_000)}`,
            innerError: { code: 'invalidArgument' },
          })
        : undefined,
    );
    const error = (await failure(book.api('/worksheets').get())) as Error & { codes: string[]; graphCode: string };
    expect(error).toMatchObject({ innerCode: 'invalidArgument' });
    expect(error.message.length).toBeLessThan(1000);
    expect(['\n', '\u001b'].filter((c) => error.message.includes(c))).toEqual([]);
    expect(error.graphCode.length).toBeLessThanOrEqual(100);
    expect(error.codes.every((c) => !c.includes('\n'))).toBe(true);
    await book.close();
  });

  test(
    'SessionManager.open() reads a created session whose JSON comes labelled text/plain, so it is used and closed',
    BOUND,
    async () => {
      server.setOverride(async (request) => {
        if (workbookRoute(request.url) !== 'createSession') return undefined;
        const created = await server.service.handle(
          new Request(`${server.url}/v1.0${BOOK}/workbook/createSession`, {
            method: 'POST',
            headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
            body: '{"persistChanges":true}',
          }),
        );
        return new Response(await created.text(), { status: 201, headers: { 'content-type': 'text/plain' } });
      });
      const book = await manager().open(BOOK);
      expect(server.service.stats().open).toBe(1);
      await book.close();
      expect(server.service.stats().open).toBe(0);
    },
  );
});

describe('second-level codes decide, as graph-codes.ts lists them', () => {
  test.each([
    [503, 'accessConflict'],
    [429, 'requestAborted'],
    [504, 'unsupportedWorkbook'],
  ])(
    'a %i with the do-not-resend code %s is sent once, even for an idempotent GET',
    BOUND,
    async (status, innerCode) => {
      const book = await manager().open(BOOK);
      server.setOverride((request) =>
        workbookRoute(request.url) === 'worksheets'
          ? graphErrorResponse(status, { code: 'x', message: 'no', innerError: { code: innerCode } })
          : undefined,
      );
      const error = await failure(book.api('/worksheets').get());
      expect(error).toMatchObject({ status, innerCode, attempt: 1 });
      expect(routeCount('worksheets')).toBe(1);
      await book.close();
    },
  );

  test(
    'a 503 with no second-level code on a sessionful call is not resent in that session; a close answered so is',
    BOUND,
    async () => {
      const m = manager();
      const createdBefore = server.service.stats().created;
      const closesBefore = routeCount('closeSession');
      const book = await m.open(BOOK);
      server.setOverride((request) =>
        workbookRoute(request.url) === 'worksheets'
          ? graphErrorResponse(503, { code: 'serviceNotAvailable', message: 'busy' })
          : undefined,
      );
      const error = await failure(book.api('/worksheets').get());
      expect(error).toMatchObject({ status: 503, attempt: 1 });
      // Never resent in the session that faulted: the idempotent GET is replayed once, in a new session.
      const sent = server.requests
        .filter((r) => workbookRoute(r.url) === 'worksheets')
        .map((r) => r.headers['workbook-session-id']);
      expect(sent).toHaveLength(2);
      expect(new Set(sent).size).toBe(2);
      let closes = 0;
      server.setOverride((request) =>
        workbookRoute(request.url) === 'closeSession' && closes++ === 0
          ? graphErrorResponse(503, { code: 'serviceNotAvailable', message: 'busy' })
          : undefined,
      );
      await m.shutdown();
      // Each session (the faulted one, the one the replay faulted in) closed, and the close answered 503 sent again.
      expect(server.service.stats().created - createdBefore).toBe(2);
      expect(server.service.stats().open).toBe(0);
      expect(routeCount('closeSession') - closesBefore).toBe(3);
    },
  );
});

describe('long-running createSession', () => {
  const accepted = (origin: string): Response =>
    jsonResponse(202, {}, { Location: `${origin}/v1.0${BOOK}/workbook/operations/op1` });
  const failed = (code: string): Response =>
    jsonResponse(200, {
      id: 'op1',
      status: 'failed',
      error: { code: 'serviceUnavailable', message: 'busy', innererror: { code } },
    });

  test.each(['transientFailure', 'ServiceUnavailableUncategorized', 'TOOMANYREQUESTSUNCATEGORIZED'])(
    'an operation that ends failed with %s sends createSession again, and open() succeeds',
    BOUND,
    async (code) => {
      let creates = 0;
      server.setOverride((request) => {
        const route = workbookRoute(request.url);
        if (route === 'createSession' && creates++ === 0) return accepted(request.origin);
        if (route === 'operations/op1') return failed(code);
        return undefined;
      });
      const book = await manager().open(BOOK);
      expect(book.state).toBe('open');
      expect(routeCount('createSession')).toBe(2);
      await book.close();
    },
  );

  test(
    'an operation that ends failed with another code fails open() with its codes, createSession sent once',
    BOUND,
    async () => {
      server.setOverride((request) => {
        const route = workbookRoute(request.url);
        if (route === 'createSession') return accepted(request.origin);
        if (route === 'operations/op1') return failed('invalidArgument');
        return undefined;
      });
      const error = await failure(manager().open(BOOK));
      expect(error).toMatchObject({
        kind: 'operation-failed',
        codes: ['serviceUnavailable', 'invalidArgument'],
        innerCode: 'invalidArgument',
      });
      expect(routeCount('createSession')).toBe(1);
    },
  );

  test('resend after a failed operation stays within the retry count', BOUND, async () => {
    server.setOverride((request) => {
      const route = workbookRoute(request.url);
      if (route === 'createSession') return accepted(request.origin);
      if (route === 'operations/op1') return failed('transientFailure');
      return undefined;
    });
    const error = await failure(manager({ retries: 2 }).open(BOOK));
    expect(error).toMatchObject({ kind: 'operation-failed', innerCode: 'transientFailure', attempt: 3 });
    expect(routeCount('createSession')).toBe(3);
  });

  test('a poll answered 500 is polled again, and the session it yields opens', BOUND, async () => {
    let polls = 0;
    let real: string | undefined;
    server.setOverride(async (request) => {
      const route = workbookRoute(request.url);
      if (route === 'createSession') return accepted(request.origin);
      if (route === 'operations/op1' && polls++ === 0)
        return graphErrorResponse(500, { code: 'internalServerError', message: 'oops' });
      if (route === 'operations/op1')
        return jsonResponse(200, {
          id: 'op1',
          status: 'succeeded',
          resourceLocation: `${request.origin}/v1.0${BOOK}/workbook/sessionInfoResource(key='k1')`,
        });
      if (route.startsWith('sessionInfoResource')) {
        // A real session on the service, so that its close is counted.
        const created = await server.service.handle(
          new Request(`${server.url}/v1.0${BOOK}/workbook/createSession`, {
            method: 'POST',
            headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
            body: '{"persistChanges":true}',
          }),
        );
        real = ((await created.json()) as { id: string }).id;
        return jsonResponse(200, { id: real, persistChanges: true });
      }
      return undefined;
    });
    const book = await manager().open(BOOK);
    expect(book.id).toBe(real);
    expect(routeCount('operations/op1')).toBe(2);
    await book.close();
  });

  test.each([
    ['Location', (origin: string) => jsonResponse(202, {}, { Location: `${origin}/v1.0/127.0.0.1:1/x?next=https://` })],
    [
      'resourceLocation',
      (origin: string) => jsonResponse(202, {}, { Location: `${origin}/v1.0${BOOK}/workbook/operations/op1` }),
    ],
  ])(
    'SessionManager.open() does not follow a %s whose path or query holds "https://" (the Graph client would read another host there)',
    BOUND,
    async (_name, first) => {
      server.setOverride((request) => {
        const route = workbookRoute(request.url);
        if (route === 'createSession') return first(request.origin);
        if (route === 'operations/op1')
          return jsonResponse(200, {
            id: 'op1',
            status: 'succeeded',
            resourceLocation: `${request.origin}/beta/127.0.0.1:1/x?k=https://`,
          });
        return undefined;
      });
      const error = await failure(manager({ operationTimeoutMs: 2000 }).open(BOOK));
      expect(error).toMatchObject({ kind: 'unsafe-location' });
      expect((error as Error).message).toMatch(/carries "https:\/\/" after its origin/);
    },
  );

  test(
    'SessionManager.open() reads a relative Location and resourceLocation against the request that answered them',
    BOUND,
    async () => {
      server.setOverride(async (request) => {
        const route = workbookRoute(request.url);
        if (route === 'createSession' && request.headers['prefer'] !== undefined)
          return jsonResponse(202, {}, { Location: 'operations/op1?v=1' });
        if (route === 'operations/op1')
          return jsonResponse(200, {
            id: 'op1',
            status: 'Completed',
            resourceLocation: "../sessionInfoResource(key='k3')",
          });
        if (route.startsWith('sessionInfoResource')) return sessionInfo();
        return undefined;
      });
      const book = await manager().open(BOOK);
      const urls = server.requests
        .map((r) => r.url)
        .filter((u) => u.includes('/workbook/') && !u.endsWith('/createSession'));
      expect(urls).toEqual([
        `/v1.0${BOOK}/workbook/operations/op1?v=1`,
        `/v1.0${BOOK}/workbook/sessionInfoResource(key='k3')`,
      ]);
      await book.close();
    },
  );

  test(
    'Location and resourceLocation are fetched exactly as given: their version and their query kept',
    BOUND,
    async () => {
      const query = '?sessionId=YWJjZGVmZ2hpamtsbW5vcA%3D%3D&x=1';
      server.setOverride(async (request) => {
        const route = workbookRoute(request.url);
        if (route === 'createSession' && request.headers['prefer'] !== undefined) {
          return jsonResponse(
            202,
            {},
            { Location: `${request.origin}/beta${BOOK}/workbook/operations/op1?v=o1&w=a%3D%3D` },
          );
        }
        if (route === 'operations/op1') {
          return jsonResponse(200, {
            id: 'op1',
            status: 'succeeded',
            resourceLocation: `${request.origin}/beta${BOOK}/workbook/sessionInfoResource(key='k2')${query}`,
          });
        }
        if (route.startsWith('sessionInfoResource')) return sessionInfo();
        return undefined;
      });
      const book = await manager().open(BOOK);
      const info = server.requests.filter((r) => workbookRoute(r.url).startsWith('sessionInfoResource'));
      expect(info.map((r) => r.url)).toEqual([`/beta${BOOK}/workbook/sessionInfoResource(key='k2')${query}`]);
      expect(server.requests.filter((r) => workbookRoute(r.url) === 'operations/op1').map((r) => r.url)).toEqual([
        `/beta${BOOK}/workbook/operations/op1?v=o1&w=a%3D%3D`,
      ]);
      await book.close();
    },
  );
});

describe('no secret or full id in any text', () => {
  test(
    'a session id and token echoed by the server show only shortened or redacted, in message, fields, JSON and inspect',
    BOUND,
    async () => {
      const book = await manager().open(BOOK);
      const id = book.id;
      expect(id.length).toBeGreaterThan(12);
      server.setOverride((request) => {
        if (workbookRoute(request.url) !== 'worksheets') return undefined;
        const sent = request.headers['workbook-session-id'] ?? '';
        return graphErrorResponse(
          400,
          {
            code: `bad_${sent}`,
            message: `session ${sent} at /x/sessionInfoResource(key='${sent}')?sessionId=${encodeURIComponent(sent)} by ${request.headers['authorization'] ?? ''}`,
            innerError: { code: 'invalidArgument', 'request-id': sent, 'client-request-id': sent },
          },
          { 'request-id': sent },
        );
      });
      const error = await failure(book.api('/worksheets').get());
      expect(isGraphRequestError(error)).toBe(true);
      const texts = [
        String(error),
        (error as Error).stack ?? '',
        JSON.stringify(error),
        inspect(error, { depth: 10 }),
        JSON.stringify((error as { codes: unknown }).codes),
      ];
      for (const text of texts) {
        expect(text).not.toContain(id);
        expect(text).not.toContain(encodeURIComponent(id));
        expect(text).not.toContain(server.token);
      }
      expect((error as Error).message).toContain(id.slice(0, 6));
      expect(error).toMatchObject({ requestId: '[redacted]' });
      await book.close();
    },
  );
});

describe('requestTimeoutMs', () => {
  test(
    'a hung answer is cut off after requestTimeoutMs: a GET is retried, a POST fails as a network failure',
    BOUND,
    async () => {
      const m = manager({ requestTimeoutMs: 200, retries: 1 });
      const book = await m.open(BOOK);
      let hung = 0;
      server.setOverride((request) => {
        const route = workbookRoute(request.url);
        if ((route === 'worksheets' && hung++ === 0) || route === 'tables/T/rows/add')
          return new Promise<never>(() => undefined);
        return undefined;
      });
      await book.api('/worksheets').get();
      expect(routeCount('worksheets')).toBe(2);
      const error = await failure(book.api('/tables/T/rows/add').post({ values: [[1]] }));
      expect(error).toMatchObject({ kind: 'network', attempt: 1 });
      expect((error as Error).message).toBe(
        `POST ${BOOK}/workbook/tables/T/rows/add failed: network: no answer within 200 ms (requestTimeoutMs)`,
      );
      expect(routeCount('tables/T/rows/add')).toBe(1);
      server.setOverride(undefined);
      await book.close();
    },
  );
});

describe('SessionManager option requestTimeoutMs', () => {
  test.each([
    [0, RangeError, 'Expected `requestTimeoutMs` to be a finite number >= 1 (or Infinity), got `0` (number)'],
    [-1, RangeError, 'Expected `requestTimeoutMs` to be a finite number >= 1 (or Infinity), got `-1` (number)'],
    ['60s', TypeError, 'Expected `requestTimeoutMs` to be a number, got "60s" (string)'],
  ])('requestTimeoutMs %j is refused before any request', (value, type, message) => {
    const before = server.requests.length;
    expect(
      () =>
        new SessionManager({
          client: createBearerClient({ baseUrl: server.url, token: server.token }),
          exitHooks: false,
          requestTimeoutMs: value as number,
        }),
    ).toThrow(new type(message));
    expect(server.requests.length).toBe(before);
  });
});
