// Retries: which failures are resent and when, Retry-After cooldowns, backoff, request timeouts and deadlines.

import { afterEach, beforeEach, describe, expect, test, vi, afterAll } from 'vitest';
import { GraphRequestError, SessionManager, createBearerClient } from '../../src/index.js';
import { BOOK_A, BOOK_B, overHttp, settle, fakeTimeGraph } from '../helpers/graph.js';
import { Priority, Scheduler } from '../../src/coordination/scheduler.js';
import { MAX_TIMER_MS } from '../../src/util/timers.js';
import { graphErrorResponse, workbookRoute, answeringServer, failure } from '../helpers/bad-server.js';
import { transportsOver } from '../helpers/transport.js';
import { WorkbookService } from '../../src/testing/index.js';
import { killChildren } from '../fixtures/exit-spawn.js';
import { removeTempDirs } from '../fixtures/journal-spawn.js';

describe('over HTTP (emulator)', () => {
  // Scenarios through the real Graph client against the emulator over HTTP on loopback.
  let env: Awaited<ReturnType<typeof overHttp>>;

  afterEach(async () => {
    await env.close();
  });

  describe('retries', () => {
    beforeEach(async () => {
      env = await overHttp();
    });

    test(
      'a 429 with Retry-After: 1 is retried after the ' + 'cooldown, and nothing reaches that workbook meanwhile',
      async () => {
        const sessions = env.manager();
        const retried: number[] = [];
        sessions.on('retried', (e) => retried.push(e.delayMs));
        const book = await sessions.open(BOOK_A);
        env.service.injectFault({ workbook: BOOK_A, route: 'worksheets', count: 1, status: 429, retryAfterSeconds: 1 });
        // Queued behind the throttled call in the same lane: must wait for the cooldown too.
        const calls = [
          book.api('/worksheets').get(),
          book.api("/worksheets('Sheet1')/usedRange").get(),
          book.api('/worksheets').get(),
        ];
        await Promise.all(calls);
        const stats = env.service.stats();
        expect(stats.requestsByRoute.worksheets).toBe(3);
        expect(stats.cooldownViolations).toBe(0);
        expect(retried).toEqual([1000]);
        await book.close();
      },
    );

    test('a POST that gets 504 is not retried; a GET is', async () => {
      const sessions = env.manager({ retryBaseDelayMs: 1, retryMaxDelayMs: 5 });
      const book = await sessions.open(BOOK_A);
      env.service.injectFault({ workbook: BOOK_A, route: 'tableRowsAdd', count: 1, status: 504 });
      const post = await book
        .api("/tables('Sales')/rows/add")
        .post({ values: [['x']] })
        .catch((e: unknown) => e);
      expect(post).toBeInstanceOf(GraphRequestError);
      expect((post as GraphRequestError).status).toBe(504);
      expect(env.service.stats().requestsByRoute.tableRowsAdd).toBe(1);

      env.service.injectFault({ workbook: BOOK_A, route: 'worksheets', count: 2, status: 504 });
      await expect(book.api('/worksheets').get()).resolves.toMatchObject({ value: [{ name: 'Sheet1' }] });
      expect(env.service.stats().requestsByRoute.worksheets).toBe(3);
      await book.close();
    });

    test('a POST marked idempotent is retried after a 504 and after a dropped connection', async () => {
      const sessions = env.manager({ retryBaseDelayMs: 1, retryMaxDelayMs: 5 });
      const book = await sessions.open(BOOK_A);
      env.service.injectFault({ workbook: BOOK_A, route: 'range', count: 1, status: 504 });
      env.service.injectFault({ workbook: BOOK_A, route: 'range', count: 1, drop: true });
      await book.api("/worksheets('Sheet1')/range(address='B2')").patch({ values: [[7]] }, { idempotent: true });
      expect(env.service.stats().requestsByRoute.range).toBe(3);
      expect(env.service.readRange(BOOK_A, 'Sheet1', 'B2')).toEqual([[7]]);
      await book.close();
    });

    test('a token that cannot be had fails at once as a client error, without retries or requests', async () => {
      const { SessionManager, createBearerClient } = await import('../../src/index.js');
      const client = createBearerClient({
        baseUrl: env.emulator.url,
        token: () => {
          throw new Error('AADSTS70043: the refresh token has expired');
        },
      });
      const sessions = new SessionManager({ client, exitHooks: false });
      const retried: unknown[] = [];
      sessions.on('retried', (e) => retried.push(e));
      const error = (await sessions.open(BOOK_A).catch((e: unknown) => e)) as GraphRequestError;
      expect(error).toBeInstanceOf(GraphRequestError);
      expect(error.kind).toBe('client');
      expect(error.message).toContain('AADSTS70043');
      expect(retried).toEqual([]);
      expect(env.service.stats().requests).toBe(0);
      await sessions.shutdown();
    });

    test('retries stop at the count, and the error says which attempt failed', async () => {
      const sessions = env.manager({ retries: 2, retryBaseDelayMs: 1, retryMaxDelayMs: 2 });
      const book = await sessions.open(BOOK_A);
      env.service.injectFault({ workbook: BOOK_A, route: 'worksheets', count: 5, status: 503, retryAfterSeconds: 0 });
      const error = (await book
        .api('/worksheets')
        .get()
        .catch((e: unknown) => e)) as GraphRequestError;
      expect(error).toBeInstanceOf(GraphRequestError);
      expect(error.status).toBe(503);
      expect(error.attempt).toBe(3);
      expect(env.service.stats().requestsByRoute.worksheets).toBe(3);
      await book.close();
    });

    test('closeSession is retried after a 503, and the session ends closed', async () => {
      const sessions = env.manager({ retryBaseDelayMs: 1, retryMaxDelayMs: 2 });
      const book = await sessions.open(BOOK_A);
      env.service.injectFault({ workbook: BOOK_A, route: 'closeSession', count: 2, status: 503, retryAfterSeconds: 0 });
      await book.close();
      expect(env.service.stats()).toMatchObject({ open: 0, closed: 1 });
      expect(env.service.stats().requestsByRoute.closeSession).toBe(3);
    });
  });
});

describe('over HTTP (emulator): Retry-After on a 504', () => {
  let env: Awaited<ReturnType<typeof overHttp>>;

  beforeEach(async () => {
    env = await overHttp();
  });

  afterEach(async () => {
    await env.close();
  });

  // Regression guard: a Retry-After on a 504 pauses the lane as one on a 429 or 503 does.
  test('a GET answered 504 with Retry-After: 1 is not resent inside the cooldown', async () => {
    const { service } = env;
    const sessions = env.manager();
    const book = await sessions.open(BOOK_A);
    service.injectFault({ workbook: BOOK_A, route: 'worksheets', status: 504, retryAfterSeconds: 1 });
    const started = Date.now();
    await book.api('/worksheets').get();
    expect(service.stats().cooldownViolations).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });
});

describe('on fake timers (emulator behind msw)', () => {
  // Time-based behaviour, in process through msw, on vitest's fake clock.
  const { graph, manager, flush } = fakeTimeGraph();

  describe('Retry-After', () => {
    test('a 429 with Retry-After: 1 is retried no sooner than 1 s, and the lane sends nothing meanwhile', async () => {
      const sessions = manager();
      const book = await sessions.open(BOOK_A);
      const order: string[] = [];
      const log = ({ request }: { request: Request }): void =>
        void order.push(new URL(request.url).pathname.split('/').at(-1) ?? '');
      graph.server.events.on('request:start', log);
      graph
        .service()
        .injectFault({ workbook: BOOK_A, route: 'worksheets', count: 1, status: 429, retryAfterSeconds: 1 });
      const first = settle(book.api('/worksheets').get());
      // Queued behind the throttled call before its 429 arrives.
      const second = settle(book.api("/worksheets('Sheet1')/usedRange").get());
      await flush();
      expect(graph.service().stats().requestsByRoute.worksheets).toBe(1);

      await vi.advanceTimersByTimeAsync(999);
      await flush();
      expect(graph.service().stats().requestsByRoute.worksheets).toBe(1);
      expect(graph.service().stats().requestsByRoute.usedRange).toBe(0);

      await vi.advanceTimersByTimeAsync(1);
      await flush();
      expect((await first).ok).toBe(true);
      expect((await second).ok).toBe(true);
      expect(graph.service().stats().requestsByRoute.worksheets).toBe(2);
      expect(graph.service().stats().cooldownViolations).toBe(0);
      // The retry kept its place ahead of the call queued after it.
      expect(order).toEqual(['worksheets', 'worksheets', 'usedRange']);
      graph.server.events.removeListener('request:start', log);
    });

    test('an HTTP-date Retry-After is honoured the same way', async () => {
      const sessions = manager();
      const book = await sessions.open(BOOK_B);
      const retried: number[] = [];
      sessions.on('retried', (e) => retried.push(e.delayMs));
      graph.server.use(
        (await import('msw')).http.get(
          'https://graph.microsoft.com/v1.0/me/drive/items/B/workbook/worksheets',
          () => {
            return new Response(JSON.stringify({ error: { code: 'tooManyRequests', message: 'slow down' } }), {
              status: 429,
              headers: { 'content-type': 'application/json', 'retry-after': new Date(Date.now() + 3000).toUTCString() },
            });
          },
          { once: true },
        ),
      );
      const call = settle(book.api('/worksheets').get());
      await flush();
      await vi.advanceTimersByTimeAsync(2000);
      expect(graph.service().stats().requestsByRoute.worksheets).toBe(0);
      await vi.advanceTimersByTimeAsync(1500);
      await flush();
      expect((await call).ok).toBe(true);
      // HTTP-dates have whole seconds: the wait is between 2 and 3 s.
      expect(retried[0]).toBeGreaterThan(2000);
      expect(retried[0]).toBeLessThanOrEqual(3000);
    });
  });

  describe('an abort during a backoff', () => {
    test('a call aborted during a retry backoff stops at once: no further attempt', async () => {
      const sessions = manager({ retryBaseDelayMs: 10_000, retryMaxDelayMs: 10_000 });
      const book = await sessions.open(BOOK_A);
      graph.service().injectFault({ workbook: BOOK_A, route: 'worksheets', count: 3, status: 504 });
      const controller = new AbortController();
      const call = settle(book.api('/worksheets').get({ signal: controller.signal }));
      await flush();
      expect(graph.service().stats().requestsByRoute.worksheets).toBe(1);
      controller.abort(new Error('stop'));
      const result = await call;
      expect(result.ok === false && (result.error as Error).message).toBe('stop');
      await vi.advanceTimersByTimeAsync(60_000);
      expect(graph.service().stats().requestsByRoute.worksheets).toBe(1);
    });
  });

  describe('closes retried past the call budget', () => {
    test('a close is retried through more 429s than `retries` allows a call, until it succeeds', async () => {
      const sessions = manager({ retries: 2 });
      const book = await sessions.open(BOOK_A);
      graph
        .service()
        .injectFault({ workbook: BOOK_A, route: 'closeSession', count: 6, status: 429, retryAfterSeconds: 1 });
      const closing = settle(book.close());
      for (let i = 0; i < 7; i++) {
        await vi.advanceTimersByTimeAsync(1_000);
        await flush();
      }
      expect((await closing).ok).toBe(true);
      expect(graph.service().stats()).toMatchObject({ open: 0, closed: 1 });
      expect(graph.service().stats().requestsByRoute.closeSession).toBe(7);
    });
  });
});

describe('on fake timers (emulator behind msw): the transport', () => {
  // The transport's time rules on vitest's fake clock, against the emulator behind msw: lanes held by
  // requests on the wire, Retry-After however long or short, polls after the operation timeout,
  // request timeouts and deadlines.

  const { graph, manager, flush } = fakeTimeGraph();

  const advance = async (ms: number, steps = 10): Promise<void> => {
    for (let i = 0; i < steps; i++) {
      await vi.advanceTimersByTimeAsync(ms / steps);
      await flush();
    }
  };

  const transport = transportsOver(graph.client);

  describe('Retry-After', () => {
    test('closeSession answered 429 with Retry-After: 0 backs off instead of spinning', async () => {
      const sessions = manager();
      const book = await sessions.open(BOOK_A);
      graph
        .service()
        .injectFault({ workbook: BOOK_A, route: 'closeSession', count: 1_000, status: 429, retryAfterSeconds: 0 });
      const closing = settle(book.close());
      await advance(3_000, 30);
      // Backoff 500 ms doubling (with jitter): a handful of closes in 3 s, not thousands.
      expect(graph.service().stats().requestsByRoute.closeSession).toBeLessThanOrEqual(5);
      expect(graph.service().stats().requestsByRoute.closeSession).toBeGreaterThanOrEqual(2);
      graph.reset();
      await advance(200_000, 20);
      await closing;
    });

    test(
      'close() after a 429 with Retry-After: 600 fails at once with ' +
        'retryAfterMs; the lane stays paused, and a shutdown ends at its deadline',
      async () => {
        const sessions = manager({ retryDeadlineMs: 120_000 });
        const book = await sessions.open(BOOK_A);
        graph
          .service()
          .injectFault({ workbook: BOOK_A, route: 'closeSession', count: 1, status: 429, retryAfterSeconds: 600 });
        const closed = await settle(book.close());
        expect(closed.ok).toBe(false);
        expect((closed as { error: unknown }).error).toMatchObject({
          name: 'GraphRequestError',
          status: 429,
          retryAfterMs: 600_000,
          attempt: 1,
        });
        expect(graph.service().stats().requestsByRoute.closeSession).toBe(1);
        // The shutdown's close waits behind the cooldown; its deadline ends the wait and reports the session.
        const shutdown = settle(sessions.shutdown({ timeoutMs: 10_000 }));
        await advance(10_000);
        const report = await shutdown;
        expect(report.ok && report.value).toMatchObject({ leftOpen: 1, timedOut: true });
        await advance(600_000, 20);
        // Nothing was sent inside the cooldown, nor left queued to go out after it.
        expect(graph.service().stats().requestsByRoute.closeSession).toBe(1);
      },
    );

    test('a Retry-After of an hour pauses the workbook lane for the whole hour, past the retry deadline', async () => {
      const sessions = manager({ idleTimeoutMs: Infinity, keepAlive: false });
      const book = await sessions.open(BOOK_A);
      const other = await sessions.open(BOOK_A);
      graph
        .service()
        .injectFault({ workbook: BOOK_A, route: 'worksheets', count: 1, status: 429, retryAfterSeconds: 3_600 });
      const failed = await settle(book.api('/worksheets').get());
      expect(failed.ok === false && failed.error).toMatchObject({ status: 429, retryAfterMs: 3_600_000, attempt: 1 });
      const waiting = settle(other.api('/worksheets').get());
      await advance(3_599_000, 20);
      expect(graph.service().stats().requestsByRoute.worksheets).toBe(1);
      await advance(2_000);
      // Sent once the hour passed (the session expired meanwhile on Graph's clock, so it may be replayed in a new one).
      expect(graph.service().stats().requestsByRoute.worksheets).toBeGreaterThanOrEqual(2);
      await waiting;
    });

    test('Scheduler.cooldown: a Retry-After past 2^31-1 ms pauses the lane for all of it', async () => {
      const scheduler = new Scheduler({ concurrency: 1, perWorkbookConcurrency: 1 });
      scheduler.cooldown(BOOK_A, MAX_TIMER_MS + 60_000, Date.now());
      let ran = false;
      const run = scheduler.run(
        BOOK_A,
        async () => {
          ran = true;
        },
        { priority: Priority.call },
      );
      await vi.advanceTimersByTimeAsync(MAX_TIMER_MS + 59_000);
      expect(ran).toBe(false);
      await vi.advanceTimersByTimeAsync(1_000);
      await run;
      expect(ran).toBe(true);
    });
  });

  describe('requestTimeoutMs and deadlines', () => {
    test(
      'closeSession(): a deadline signal cuts off a ' + 'close waiting for its answer, as a network failure',
      async () => {
        const api = transport();
        const created = await api.createSession(BOOK_A, true);
        graph.service().setLatency({ fixedMs: 30_000 });
        const deadline = new AbortController();
        const closing = settle(api.closeSession(BOOK_A, created.id, undefined, { deadline: deadline.signal }));
        await advance(1_000);
        deadline.abort(new Error('shutdown deadline'));
        await flush();
        const result = await closing;
        expect(result.ok === false && result.error).toMatchObject({ name: 'GraphRequestError', kind: 'network' });
        expect(result.ok === false && (result.error as Error).message).toContain('no answer before the deadline');
        graph.service().setLatency(undefined);
        const last = settle(api.closeSession(BOOK_A, created.id));
        await advance(1_000);
        expect((await last).ok).toBe(true);
        expect(graph.service().stats().open).toBe(0);
      },
    );

    test('SessionManager: requestTimeoutMs (default 60 s) cuts off a hung GET, which is then retried', async () => {
      const sessions = manager();
      const book = await sessions.open(BOOK_A);
      graph.service().injectFault({ workbook: BOOK_A, route: 'worksheets', count: 1, delayMs: 10 * 60_000 });
      const call = settle(book.api('/worksheets').get());
      await advance(59_000);
      expect(graph.service().stats().requestsByRoute.worksheets).toBe(1);
      await advance(5_000);
      expect((await call).ok).toBe(true);
      expect(graph.service().stats().requestsByRoute.worksheets).toBe(2);
    });
  });

  describe('closes never spin', () => {
    test('closeSession with retryBaseDelayMs 0 still backs off between attempts', async () => {
      const sessions = manager({ retryBaseDelayMs: 0, retryMaxDelayMs: 0 });
      const book = await sessions.open(BOOK_A);
      graph
        .service()
        .injectFault({ workbook: BOOK_A, route: 'closeSession', count: 1_000, status: 503, retryAfterSeconds: 0 });
      const closing = settle(book.close());
      await advance(1_000, 20);
      // 50 ms or more apart, doubling: a handful in a second, not a thousand.
      expect(graph.service().stats().requestsByRoute.closeSession).toBeLessThanOrEqual(25);
      graph.reset();
      await advance(200_000, 20);
      await closing;
    });
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

  const routeCount = (route: string): number =>
    env.server.requests.filter((r) => workbookRoute(r.url) === route).length;

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
        env.server.setOverride((request) =>
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
        const createdBefore = env.server.service.stats().created;
        const closesBefore = routeCount('closeSession');
        const book = await m.open(BOOK);
        env.server.setOverride((request) =>
          workbookRoute(request.url) === 'worksheets'
            ? graphErrorResponse(503, { code: 'serviceNotAvailable', message: 'busy' })
            : undefined,
        );
        const error = await failure(book.api('/worksheets').get());
        expect(error).toMatchObject({ status: 503, attempt: 1 });
        // Never resent in the session that faulted: the idempotent GET is replayed once, in a new session.
        const sent = env.server.requests
          .filter((r) => workbookRoute(r.url) === 'worksheets')
          .map((r) => r.headers['workbook-session-id']);
        expect(sent).toHaveLength(2);
        expect(new Set(sent).size).toBe(2);
        let closes = 0;
        env.server.setOverride((request) =>
          workbookRoute(request.url) === 'closeSession' && closes++ === 0
            ? graphErrorResponse(503, { code: 'serviceNotAvailable', message: 'busy' })
            : undefined,
        );
        await m.shutdown();
        // Each session (the faulted one, the one the replay faulted in) closed, and the close answered 503 sent again.
        expect(env.server.service.stats().created - createdBefore).toBe(2);
        expect(env.server.service.stats().open).toBe(0);
        expect(routeCount('closeSession') - closesBefore).toBe(3);
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
        env.server.setOverride((request) => {
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
        env.server.setOverride(undefined);
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
      const before = env.server.requests.length;
      expect(
        () =>
          new SessionManager({
            client: createBearerClient({ baseUrl: env.server.url, token: env.server.token }),
            exitHooks: false,
            requestTimeoutMs: value as number,
          }),
      ).toThrow(new type(message));
      expect(env.server.requests.length).toBe(before);
    });
  });
});

describe("the emulator's cooldowns", () => {
  const TOKEN = 'regression-token';

  const BOOK = '/me/drive/items/A';

  async function send(
    svc: WorkbookService,
    method: string,
    urlPath: string,
    init: { body?: unknown; session?: string } = {},
  ): Promise<{ status: number; body: unknown; headers: Headers }> {
    const headers = new Headers({ Authorization: `Bearer ${TOKEN}` });
    if (init.session !== undefined) headers.set('workbook-session-id', init.session);
    const res = await svc.handle(
      new Request(`https://graph.microsoft.com${urlPath}`, {
        method,
        headers,
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      }),
    );
    const text = await res.text();
    return { status: res.status, body: text === '' ? null : (JSON.parse(text) as unknown), headers: res.headers };
  }

  afterEach(async () => {
    vi.restoreAllMocks();
    await killChildren();
  });

  afterAll(removeTempDirs);

  // Regression guard: a shorter Retry-After never shortens a longer cooldown already announced.
  test('counts a request inside a long Retry-After even after a shorter one was announced', async () => {
    const service = new WorkbookService({ token: TOKEN, now: () => 1_800_000_000_000, workbooks: { [BOOK]: {} } });
    service.injectFault({ workbook: BOOK, route: 'worksheets', status: 429, retryAfterSeconds: 10 });
    service.injectFault({ workbook: BOOK, route: 'worksheets', status: 503, retryAfterSeconds: 1 });
    const first = await send(service, 'GET', `/v1.0${BOOK}/workbook/worksheets`);
    expect(first.headers.get('retry-after')).toBe('10');
    // A client ignoring the 10 s cooldown: this one arrives at once (violation 1) and is told 1 s.
    const second = await send(service, 'GET', `/v1.0${BOOK}/workbook/worksheets`);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(service.stats().cooldownViolations).toBe(1);
    service.advanceTime(2000);
    // 2 s after the first answer: still inside the 10 s cooldown announced for this workbook.
    expect((await send(service, 'GET', `/v1.0${BOOK}/workbook/worksheets`)).status).toBe(200);
    expect(service.stats().cooldownViolations).toBe(2);
  });
});
