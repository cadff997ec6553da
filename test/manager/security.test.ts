import { inspect } from 'node:util';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import {
  SessionManager,
  createBearerClient,
  isGraphRequestError,
  isSessionClosedError,
  isSessionExpiredError,
  type Logger,
  type SessionEvents,
} from '../../src/index.js';
import {
  type BadServer,
  type Override,
  graphErrorResponse,
  jsonResponse,
  startBadServer,
  workbookRoute,
  answeringServer,
  failure,
} from '../helpers/bad-server.js';
import { openLine, removeTempDirs, tempDir } from '../fixtures/journal-spawn.js';

// Secrets: the bearer token never shows in anything a user, a log or a listener can see, and never
// travels to another host; session ids are shortened wherever they are reported.

const BOOK = '/me/drive/items/A';

const OPAQUE_TOKEN = 'opaque-Token_0123456789abcdefXYZ';

// Graph's access tokens are JWTs: recognisable by shape even when echoed without "Bearer".
const JWT_TOKEN =
  'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.c2lnbmF0dXJlLXBhcnQ';

const EVENTS: (keyof SessionEvents)[] = [
  'opened',
  'closed',
  'closeFailed',
  'retried',
  'expired',
  'reopened',
  'ended',
  'unclosable',
];

const servers: BadServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

afterAll(removeTempDirs);

/** Everything observable: log lines, event payloads, errors in every form, reports. */
class Observed {
  readonly texts: string[] = [];
  readonly errors: unknown[] = [];

  logger(): Logger {
    const capture =
      (level: string) =>
      (message: string, data?: Record<string, unknown>): void => {
        this.texts.push(`${level} ${message} ${inspect(data, { depth: 10 })} ${safeJson(data)}`);
      };
    return { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') };
  }

  listen(manager: SessionManager): void {
    for (const name of EVENTS) {
      manager.on(name, (payload: unknown) => {
        this.texts.push(`event ${name} ${inspect(payload, { depth: 10 })} ${safeJson(payload)}`);
        const error = (payload as { error?: unknown }).error;
        if (error !== undefined) this.error(error);
      });
    }
  }

  /** Records an error in all its forms: message, toString, JSON, inspect (stack and cause chain). */
  error(error: unknown): void {
    this.errors.push(error);
    const e = error as Error;
    this.texts.push(String(e), String(e.message), String(e.stack), safeJson(e), inspect(e, { depth: 10 }));
    let cause = (e as { cause?: unknown }).cause;
    while (cause !== undefined && cause !== null) {
      this.texts.push(String(cause), inspect(cause, { depth: 10 }));
      cause = (cause as { cause?: unknown }).cause;
    }
    for (const inner of [(e as { error?: unknown }).error, (e as { suppressed?: unknown }).suppressed]) {
      if (inner !== undefined) this.texts.push(String(inner), inspect(inner, { depth: 10 }));
    }
  }

  async expectFailure(promise: Promise<unknown>): Promise<unknown> {
    try {
      await promise;
    } catch (error) {
      this.error(error);
      return error;
    }
    throw new Error('expected a rejection');
  }

  /** All the text, for a scan. */
  all(): string {
    return this.texts.join('\n');
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

/** Answers chosen routes with an error that echoes the request's Authorization header everywhere it can. */
function echoAuthorization(
  routes: Record<string, { status: number; headers?: Record<string, string> } | 'drop'>,
  times = Infinity,
): Override {
  let left = times;
  return (request) => {
    const rule = routes[workbookRoute(request.url)];
    if (rule === undefined || left <= 0) return undefined;
    left--;
    if (rule === 'drop') return 'drop';
    const auth = request.headers['authorization'] ?? '';
    return graphErrorResponse(
      rule.status,
      {
        code: auth,
        message:
          `Request headers: {"Authorization":"${auth}"}; Authorization: ${auth}; ` +
          `token=${auth.replace(/^Bearer /, '')}`,
        innerError: { code: auth, message: `echo ${auth}`, 'request-id': auth, innerError: { code: auth } },
      },
      rule.headers,
    );
  };
}

async function scenario(token: string): Promise<{ observed: Observed; server: BadServer; ids: string[] }> {
  const server = await startBadServer({ service: { token } });
  servers.push(server);
  const observed = new Observed();
  const manager = new SessionManager({
    client: createBearerClient({ baseUrl: server.url, token }),
    exitHooks: false,
    retries: 1,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 2,
    logger: observed.logger(),
  });
  observed.listen(manager);

  // A call answered 400 with the header echoed: not retried, the user sees the error.
  const book = await manager.open(BOOK);
  server.setOverride(echoAuthorization({ worksheets: { status: 400 } }));
  observed.error(await observed.expectFailure(book.api('/worksheets').get()));

  // A 429 echo (retried: a 'retried' event and a debug log), then a 403 echo.
  let first = true;
  server.setOverride((request) => {
    if (workbookRoute(request.url) !== 'tables/T/rows/add') return undefined;
    const status = first ? 429 : 403;
    first = false;
    return echoAuthorization({ 'tables/T/rows/add': { status, headers: { 'Retry-After': '0' } } })(request);
  });
  await observed.expectFailure(book.api('/tables/T/rows/add').post({ values: [[1]] }));

  // A close answered 403 with the echo (refused for good): close() rejects, closeFailed event, a warning logged.
  server.setOverride(echoAuthorization({ closeSession: { status: 403 } }, 2));
  await observed.expectFailure(book.close());

  // A body that throws and a close that fails: a SuppressedError carrying both.
  server.setOverride(echoAuthorization({ closeSession: { status: 403 } }, 2));
  await observed.expectFailure(
    manager.withSession(BOOK, () => {
      throw new Error('body failed');
    }),
  );

  // createSession answered 401 with the echo.
  server.setOverride(echoAuthorization({ createSession: { status: 401 } }, 1));
  await observed.expectFailure(manager.open(BOOK));

  // A dropped connection on a non-idempotent call: a network error whose cause is the client's.
  server.setOverride(undefined);
  const other = await manager.open(BOOK, { persistChanges: false });
  server.setOverride(echoAuthorization({ 'tables/T/rows/add': 'drop' }, 1));
  await observed.expectFailure(other.api('/tables/T/rows/add').post({ values: [[1]] }));

  // A non-persistent session expired on the server, and a call on a closed handle.
  server.setOverride(undefined);
  server.service.expireSession(other.id);
  const expired = await observed.expectFailure(other.api('/worksheets').get());
  expect(isSessionExpiredError(expired)).toBe(true);
  const closed = await observed.expectFailure(book.api('/worksheets').get());
  expect(isSessionClosedError(closed)).toBe(true);
  observed.texts.push(String(book), safeJson(book), inspect(book), String(other), safeJson(other), inspect(other));

  const report = await manager.shutdown();
  observed.texts.push(safeJson(report), inspect(report, { depth: 10 }));
  expect(report.leftOpen).toBe(0);
  expect(server.service.stats().open).toBe(0);
  return { observed, server, ids: server.service.sessions().map((s) => s.id) };
}

describe('the bearer token never shows', () => {
  test.each([
    ['an opaque token echoed with "Bearer"', OPAQUE_TOKEN],
    ['a JWT echoed bare and with "Bearer"', JWT_TOKEN],
  ])('%s: not in error messages, toString, JSON, inspect, logs, events or reports', async (_label, token) => {
    const { observed, server } = await scenario(token);
    // The server did echo it: the test would see a leak.
    const echoed = server.requests.filter((r) => r.headers['authorization'] === `Bearer ${token}`);
    expect(echoed.length).toBeGreaterThan(10);
    expect(observed.errors.length).toBeGreaterThanOrEqual(8);
    expect(
      observed.errors.every(
        (e) =>
          isGraphRequestError(e) ||
          isSessionClosedError(e) ||
          isSessionExpiredError(e) ||
          (e as Error).name === 'SuppressedError',
      ),
    ).toBe(true);
    const text = observed.all();
    expect(text).toContain('[redacted]');
    expect(text).toContain('event closeFailed');
    expect(text).toContain('event retried');
    expect(text).toContain('warn workbook-sessions: closing a session failed');
    expect(text).not.toContain(token);
    // Not even a long piece of it.
    expect(text).not.toContain(token.slice(0, 20));
    expect(text).not.toContain(token.slice(-20));
  });
});

describe('session ids are shortened', () => {
  test('no full session id appears in logs, events, errors, handles or reports', async () => {
    const { observed, ids } = await scenario(OPAQUE_TOKEN);
    expect(ids.length).toBeGreaterThanOrEqual(3);
    const text = observed.all();
    for (const id of ids) {
      expect(id.length).toBeGreaterThan(40);
      expect(text).not.toContain(id);
      // The shortened form is there instead: a head and a tail (before the base64 padding).
      expect(text).toContain(`${id.slice(0, 6)}…${id.replace(/(?:=|%3D)+$/i, '').slice(-4)}`);
    }
  });
});

describe('the token goes to the configured host only', () => {
  async function twoHosts(): Promise<{ server: BadServer; elsewhere: BadServer; manager: SessionManager }> {
    const server = await startBadServer({ service: { token: OPAQUE_TOKEN } });
    const elsewhere = await startBadServer({ service: { token: OPAQUE_TOKEN } });
    servers.push(server, elsewhere);
    const manager = new SessionManager({
      client: createBearerClient({ baseUrl: server.url, token: OPAQUE_TOKEN }),
      exitHooks: false,
      retries: 0,
      pollIntervalMs: 10,
    });
    return { server, elsewhere, manager };
  }

  const carriesToken = (server: BadServer): boolean =>
    server.requests.some((r) => JSON.stringify(r).includes(OPAQUE_TOKEN) || r.headers['authorization'] !== undefined);

  test('a 202 Location on another host is not followed: the other host receives nothing', async () => {
    const { server, elsewhere, manager } = await twoHosts();
    server.setOverride((r) =>
      workbookRoute(r.url) === 'createSession'
        ? jsonResponse(202, {}, { Location: `${elsewhere.url}/v1.0${BOOK}/workbook/operations/1` })
        : undefined,
    );
    await expect(manager.open(BOOK)).rejects.toMatchObject({ name: 'GraphRequestError', kind: 'unsafe-location' });
    expect(elsewhere.requests).toEqual([]);
    await manager.shutdown();
  });

  test('a resourceLocation on another host is not followed', async () => {
    const { server, elsewhere, manager } = await twoHosts();
    server.setOverride((r) => {
      const route = workbookRoute(r.url);
      if (route === 'createSession')
        return jsonResponse(202, {}, { Location: `${r.origin}/v1.0${BOOK}/workbook/operations/1` });
      if (route === 'operations/1')
        return jsonResponse(200, {
          status: 'succeeded',
          resourceLocation: `${elsewhere.url}/v1.0${BOOK}/workbook/sessionInfoResource(key='k')`,
        });
      return undefined;
    });
    await expect(manager.open(BOOK)).rejects.toMatchObject({ name: 'GraphRequestError', kind: 'unsafe-location' });
    expect(elsewhere.requests).toEqual([]);
    await manager.shutdown();
  });

  test('a 307 redirect to another host is not followed: neither the token nor the session id goes there', async () => {
    const { server, elsewhere, manager } = await twoHosts();
    const book = await manager.open(BOOK);
    server.setOverride((r) =>
      workbookRoute(r.url) === 'worksheets'
        ? new Response(null, { status: 307, headers: { Location: `${elsewhere.url}/v1.0${BOOK}/workbook/worksheets` } })
        : undefined,
    );
    await expect(book.api('/worksheets').get()).rejects.toMatchObject({ name: 'GraphRequestError', status: 307 });
    expect(elsewhere.requests).toHaveLength(0);
    server.setOverride(undefined);
    await book.close();
    await manager.shutdown();
    expect(server.service.stats().open).toBe(0);
  });

  test('a token function is asked only for requests to the configured origin', async () => {
    const server = await startBadServer({ service: { token: OPAQUE_TOKEN } });
    const elsewhere = await startBadServer({ service: { token: OPAQUE_TOKEN } });
    servers.push(server, elsewhere);
    let asked = 0;
    const client = createBearerClient({
      baseUrl: server.url,
      token: () => {
        asked++;
        return OPAQUE_TOKEN;
      },
    });
    // Straight through the client, as a user might: a URL naming another host never gets the token.
    for (const url of [
      `${elsewhere.url}/v1.0${BOOK}/workbook/worksheets`,
      `https://graph.microsoft.com/v1.0${BOOK}/workbook/worksheets`,
    ]) {
      await client
        .api(url)
        .get()
        .catch(() => undefined);
    }
    await client.api(`${BOOK}/workbook/worksheets`).get();
    expect(carriesToken(elsewhere)).toBe(false);
    // Asked once per request that reached the configured host, and for nothing else.
    expect(asked).toBe(server.requests.length);
    expect(server.requests.every((r) => r.headers['authorization'] === `Bearer ${OPAQUE_TOKEN}`)).toBe(true);
  });
});

describe('ids and tokens that cannot be sent are refused without showing them', () => {
  // Long enough that a shortened form and the whole differ; the bad character sits in the middle.
  const BAD_ID = `cluster=EMU1&session=${'a1B2c3D4'.repeat(5)}\u2028${'z9Y8x7W6'.repeat(5)}`;

  function expectNoneOf(text: string, secret: string): void {
    expect(text).not.toContain(secret);
    expect(text).not.toContain(secret.slice(0, 20));
    expect(text).not.toContain(secret.slice(-20));
  }

  test(
    'a session id Graph answered that cannot travel in a header: ' +
      'not whole in the error, the unclosable event or the warning',
    async () => {
      const server = await startBadServer({ service: { token: OPAQUE_TOKEN } });
      servers.push(server);
      const observed = new Observed();
      const manager = new SessionManager({
        client: createBearerClient({ baseUrl: server.url, token: OPAQUE_TOKEN }),
        exitHooks: false,
        retries: 1,
        retryBaseDelayMs: 1,
        retryMaxDelayMs: 2,
        logger: observed.logger(),
      });
      observed.listen(manager);
      server.setOverride((r) =>
        workbookRoute(r.url) === 'createSession' ? jsonResponse(201, { id: BAD_ID }) : undefined,
      );
      const error = await observed.expectFailure(manager.open(BOOK));
      expect(error).toMatchObject({ kind: 'unsendable-id' });
      observed.texts.push(safeJson(await manager.shutdown()));
      const text = observed.all();
      expect(text).toContain('event unclosable');
      expect(text).toContain('warn workbook-sessions: a session was created that cannot be closed');
      expect(text).toContain('"cluste…x7W6"');
      expectNoneOf(text, BAD_ID);
      expect(text).not.toContain(OPAQUE_TOKEN);
    },
  );

  test('a journal id that cannot be sent: the recovery report shows it shortened, escaped', async () => {
    const server = await startBadServer({ service: { token: OPAQUE_TOKEN } });
    servers.push(server);
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, 'sessions.journal'), `${openLine({ id: BAD_ID })}\n`, { mode: 0o600 });
    const manager = new SessionManager({
      client: createBearerClient({ baseUrl: server.url, token: OPAQUE_TOKEN }),
      exitHooks: false,
      journal: { path: dir },
    });
    const report = await manager.recover();
    await manager.shutdown();
    expect(report.failed.map((s) => s.id)).toEqual(['cluste…x7W6']);
    const text = `${safeJson(report)} ${inspect(report, { depth: 10 })}`;
    expect(text).toContain('cannot be sent in a header');
    expectNoneOf(text, BAD_ID);
    expect(server.requests).toEqual([]);
  });

  test.each([
    ['an opaque token with a CR LF', `${OPAQUE_TOKEN}\r\nX-Evil: 1`],
    ['a JWT with a non-ASCII character', `${JWT_TOKEN}\u00e9`],
  ])('%s: createBearerClient() and a token function refuse it without showing it', async (_label, token) => {
    const observed = new Observed();
    try {
      createBearerClient({ baseUrl: 'http://127.0.0.1:1', token });
      throw new Error('expected a refusal');
    } catch (error) {
      expect(error).toBeInstanceOf(TypeError);
      observed.error(error);
    }
    const server = await startBadServer({ service: { token: OPAQUE_TOKEN } });
    servers.push(server);
    const manager = new SessionManager({
      client: createBearerClient({ baseUrl: server.url, token: () => token }),
      exitHooks: false,
      retries: 2,
      retryBaseDelayMs: 1,
      retryMaxDelayMs: 2,
      logger: observed.logger(),
    });
    observed.listen(manager);
    const error = await observed.expectFailure(manager.open(BOOK));
    expect(error).toMatchObject({ kind: 'client', attempt: 1 });
    await manager.shutdown();
    expect(server.requests).toEqual([]);
    const text = observed.all();
    expect(text).toContain('The access token cannot be sent in the Authorization header');
    expectNoneOf(text, token);
  });
});

describe('over HTTP (a server that answers anything)', () => {
  // The transport against a real HTTP server that answers exactly what Graph may answer, through the
  // real Graph client: error chains, second-level rules, session faults, failed operations,
  // Location and resourceLocation as given, redaction, request timeouts.

  const BOOK = '/me/drive/items/A';

  const BOUND = { timeout: 10_000 };

  const env = answeringServer({ retries: 3 });
  const manager = env.manager;

  describe('no secret or full id in any text', () => {
    test(
      'a session id and token echoed by the server show only ' +
        'shortened or redacted, in message, fields, JSON and inspect',
      BOUND,
      async () => {
        const book = await manager().open(BOOK);
        const id = book.id;
        expect(id.length).toBeGreaterThan(12);
        env.server.setOverride((request) => {
          if (workbookRoute(request.url) !== 'worksheets') return undefined;
          const sent = request.headers['workbook-session-id'] ?? '';
          return graphErrorResponse(
            400,
            {
              code: `bad_${sent}`,
              message:
                `session ${sent} at /x/sessionInfoResource(key='${sent}')` +
                `?sessionId=${encodeURIComponent(sent)} by ${request.headers['authorization'] ?? ''}`,
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
          expect(text).not.toContain(env.server.token);
        }
        expect((error as Error).message).toContain(id.slice(0, 6));
        expect(error).toMatchObject({ requestId: '[redacted]' });
        await book.close();
      },
    );
  });
});
