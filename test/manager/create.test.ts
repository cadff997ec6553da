// createSession: 201 and 202 with polling, long-running operations, late sessions, and opens aborted midway.

import { afterEach, describe, expect, test, vi, afterAll } from 'vitest';
import { GraphRequestError } from '../../src/index.js';
import { BOOK_A, overHttp, settle, fakeTimeGraph } from '../helpers/graph.js';
import { killAllChildren } from '../helpers/child-process.js';
import { removeTempDirs } from '../fixtures/journal-spawn.js';
import { LATE_POLL_MS, type CreatedSession } from '../../src/transport/graph-transport.js';
import { graphErrorResponse, jsonResponse, workbookRoute, answeringServer, failure } from '../helpers/bad-server.js';
import { transportsOver } from '../helpers/transport.js';

describe('over HTTP (emulator)', () => {
  // Scenarios through the real Graph client against the emulator over HTTP on loopback.
  let env: Awaited<ReturnType<typeof overHttp>>;

  afterEach(async () => {
    await env.close();
  });

  describe('createSession', () => {
    test('the long-running path: 202, polling, session info', async () => {
      env = await overHttp({ asyncCreate: { rate: 1, durationMs: 30 } });
      const sessions = env.manager({ pollIntervalMs: 10 });
      const book = await sessions.open(BOOK_A);
      expect(book.state).toBe('open');
      expect(env.service.stats().requestsByRoute.operation).toBeGreaterThanOrEqual(1);
      expect(env.service.stats().requestsByRoute.sessionInfo).toBe(1);
      expect(env.service.openSessions(BOOK_A)).toBe(1);
      await book.close();
      expect(env.service.stats().open).toBe(0);
    });

    test('a failed long-running operation becomes a GraphRequestError with Graph’s code', async () => {
      env = await overHttp({ asyncCreate: { rate: 1, durationMs: 0 } });
      env.service.failNextOperation({ code: 'serviceUnavailable', message: 'try later' });
      const sessions = env.manager({ pollIntervalMs: 10 });
      const error = (await sessions.open(BOOK_A).catch((e: unknown) => e)) as GraphRequestError;
      expect(error).toBeInstanceOf(GraphRequestError);
      expect(error.kind).toBe('operation-failed');
      expect(error.graphCode).toBe('serviceUnavailable');
      expect(sessions.stats().open).toBe(0);
    });

    test('a failing session-info request shows its key shortened, like a session id', async () => {
      env = await overHttp({ asyncCreate: { rate: 1, durationMs: 0 } });
      env.service.injectFault({ route: 'sessionInfo', count: 1, status: 500 });
      // The session exists once its operation succeeded, so its details are asked for until the retry
      // deadline: with none, the first failure is the last.
      const sessions = env.manager({ pollIntervalMs: 10, retryDeadlineMs: 0 });
      const unclosable: string[] = [];
      sessions.on('unclosable', (e) => unclosable.push(e.workbook));
      const error = (await sessions.open(BOOK_A).catch((e: unknown) => e)) as GraphRequestError;
      expect(error).toBeInstanceOf(GraphRequestError);
      expect(error.status).toBe(500);
      expect(error.message).toMatch(/sessionInfoResource\(key='[^']{6}…[^']{4}'\)/);
      // Graph holds a session nobody can close: it is named.
      expect(unclosable).toEqual([BOOK_A]);
      expect(env.service.stats().open).toBe(1);
    });

    test(
      'open(): a succeeded operation whose session info draws more 503s than ' +
        '`retries` allows is asked again until it answers, and nothing is left open',
      async () => {
        env = await overHttp({ asyncCreate: { rate: 1, durationMs: 0 } });
        env.service.injectFault({ route: 'sessionInfo', count: 2, kind: '503-bare' });
        const sessions = env.manager({ pollIntervalMs: 10, retries: 1, retryBaseDelayMs: 10 });
        const book = await sessions.open(BOOK_A);
        expect(env.service.stats().requestsByRoute.sessionInfo).toBe(3);
        await book.close();
        expect(env.service.stats()).toMatchObject({ created: 1, closed: 1, open: 0 });
      },
    );

    test(
      'open(): a succeeded operation whose session info is refused ' +
        'for good fails, and the session is reported `unclosable`',
      async () => {
        env = await overHttp({ asyncCreate: { rate: 1, durationMs: 0 } });
        env.service.injectFault({ route: 'sessionInfo', count: 1, status: 403 });
        const sessions = env.manager({ pollIntervalMs: 10 });
        const unclosable: Array<{ workbook: string; status: number | undefined }> = [];
        sessions.on('unclosable', (e) => unclosable.push({ workbook: e.workbook, status: e.error.status }));
        const result = await settle(sessions.open(BOOK_A));
        expect(result.ok === false && result.error).toMatchObject({ name: 'GraphRequestError', status: 403 });
        expect(unclosable).toEqual([{ workbook: BOOK_A, status: 403 }]);
        expect(env.service.stats()).toMatchObject({ created: 1, open: 1 });
      },
    );

    test('an open aborted while the create is in flight closes the session Graph created', async () => {
      env = await overHttp({ latency: { fixedMs: 40 } });
      // Without the file look-up, so the abort lands while the create itself is in flight.
      const sessions = env.manager({ resolveWorkbooks: false });
      const controller = new AbortController();
      const opening = settle(sessions.open(BOOK_A, { signal: controller.signal }));
      setTimeout(() => controller.abort(new Error('caller gave up')), 10);
      const result = await opening;
      expect(result.ok).toBe(false);
      expect((result as { error: Error }).error.message).toBe('caller gave up');
      await sessions.shutdown();
      expect(env.service.stats()).toMatchObject({ created: 1, closed: 1, open: 0 });
    });
  });
});

describe('over HTTP (emulator): an open aborted as its session arrives', () => {
  // Shutdowns and aborts racing a session's creation, through the real Graph client over HTTP.
  let env: Awaited<ReturnType<typeof overHttp>> | undefined;

  afterEach(async () => {
    await killAllChildren();
    await env?.close();
    env = undefined;
  });

  afterAll(removeTempDirs);

  describe('open() aborted around the moment the session arrives', () => {
    test(
      'open() with a signal aborted 0 to 8 microtask ticks ' +
        'after `opened` either hands out the session or closes it',
      async () => {
        env = await overHttp();
        const sessions = env.manager();
        const service = env.service;
        const outcomes: string[] = [];
        for (let ticks = 0; ticks <= 8; ticks++) {
          const controller = new AbortController();
          sessions.once('opened', () => {
            let left = ticks;
            const tick = (): void => (left-- === 0 ? controller.abort() : queueMicrotask(tick));
            queueMicrotask(tick);
          });
          const result = await settle(sessions.open(BOOK_A, { signal: controller.signal }));
          if (result.ok) {
            outcomes.push('handle');
            await result.value.close();
          } else {
            expect((result.error as Error).name).toBe('AbortError');
            outcomes.push('aborted');
          }
          // Nothing is left open: a session the caller gave up on is closed in the background at once.
          await vi.waitFor(() => expect(service.stats().open).toBe(0));
        }
        expect(outcomes).toHaveLength(9);
        expect(service.stats()).toMatchObject({ created: 9, closed: 9 });
      },
    );
  });
});

describe('on fake timers (emulator behind msw)', () => {
  // Time-based behaviour, in process through msw, on vitest's fake clock.
  const { graph, manager, flush } = fakeTimeGraph();

  describe('long-running createSession', () => {
    test(
      'polls with a doubling interval and gives up after ' + 'operationTimeoutMs, closing nothing it never got',
      async () => {
        graph.reset({ asyncCreate: { rate: 1, durationMs: 10 * 60_000 } });
        const sessions = manager({ pollIntervalMs: 1_000, operationTimeoutMs: 20_000 });
        const opening = settle(sessions.open(BOOK_A));
        // Polls at 1, 3, 7, 15 and 31 s: the one at 31 s finds the deadline passed.
        for (let i = 0; i < 35; i++) {
          await vi.advanceTimersByTimeAsync(1_000);
          await flush();
        }
        const result = await opening;
        expect(result.ok).toBe(false);
        expect((result as { error: Error }).error.message).toMatch(/did not finish within 20000 ms/);
        expect(graph.service().stats().requestsByRoute.operation).toBe(5);
        expect(sessions.stats()).toMatchObject({ open: 0, opening: 0 });
      },
    );
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

  describe('long-running createSession', () => {
    test(
      'createSession(): an operation that finishes after operationTimeoutMs ' +
        'is still polled, and its session handed to onLateSession',
      async () => {
        graph.reset({ asyncCreate: { rate: 1, durationMs: 60_000 } });
        const late: Array<[string, CreatedSession]> = [];
        const api = transport({ onLateSession: (workbook, created) => late.push([workbook, created]) });
        const opening = settle(api.createSession(BOOK_A, true));
        await advance(40_000, 40);
        const result = await opening;
        expect(result.ok === false && (result.error as Error).message).toMatch(/did not finish within 20000 ms/);
        expect(late).toEqual([]);
        await advance(60_000, 60);
        expect(late).toEqual([[BOOK_A, { id: expect.any(String), persistChanges: true }]]);
        expect(graph.service().stats().open).toBe(1);
      },
    );

    test('SessionManager: a session a long-running create yields after operationTimeoutMs is closed', async () => {
      graph.reset({ asyncCreate: { rate: 1, durationMs: 60_000 } });
      const sessions = manager({ pollIntervalMs: 1_000, operationTimeoutMs: 20_000 });
      const opening = settle(sessions.open(BOOK_A));
      await advance(40_000, 40);
      expect((await opening).ok).toBe(false);
      await advance(60_000, 60);
      expect(graph.service().stats()).toMatchObject({ created: 1, open: 0 });
    });

    test(`createSession(): background polling stops ${LATE_POLL_MS} ms after operationTimeoutMs`, async () => {
      graph.reset({ asyncCreate: { rate: 1, durationMs: 60 * 60_000 } });
      const api = transport();
      const opening = settle(api.createSession(BOOK_A, true));
      await advance(LATE_POLL_MS + 60_000, 100);
      expect((await opening).ok).toBe(false);
      const polls = graph.service().stats().requestsByRoute.operation;
      await advance(30 * 60_000, 30);
      expect(graph.service().stats().requestsByRoute.operation).toBe(polls);
    });

    test('createSession(): its signal stops polling at once, in the background phase too', async () => {
      graph.reset({ asyncCreate: { rate: 1, durationMs: 60 * 60_000 } });
      const api = transport();
      const controller = new AbortController();
      const opening = settle(api.createSession(BOOK_A, true, controller.signal));
      await advance(3_000);
      controller.abort(new Error('shutting down'));
      const result = await opening;
      expect(result.ok === false && (result.error as Error).message).toBe('shutting down');
      const polls = graph.service().stats().requestsByRoute.operation;
      await advance(60_000);
      expect(graph.service().stats().requestsByRoute.operation).toBe(polls);

      const second = new AbortController();
      const again = settle(api.createSession(BOOK_A, true, second.signal));
      await advance(40_000, 40);
      expect((await again).ok).toBe(false);
      second.abort();
      const after = graph.service().stats().requestsByRoute.operation;
      await advance(120_000, 20);
      expect(graph.service().stats().requestsByRoute.operation).toBe(after);
    });

    test('createSession(): a poll answered 503 and one dropped are polled again', async () => {
      graph.reset({ asyncCreate: { rate: 1, durationMs: 5_000 } });
      const sessions = manager({ pollIntervalMs: 1_000, retries: 0 });
      graph.service().injectFault({ workbook: BOOK_A, route: 'operation', count: 1, status: 503 });
      graph.service().injectFault({ workbook: BOOK_A, route: 'operation', count: 1, drop: true });
      const opening = settle(sessions.open(BOOK_A));
      await advance(40_000, 40);
      const result = await opening;
      expect(result.ok).toBe(true);
      expect(graph.service().stats().open).toBe(1);
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

  /** A session the service really created, answered as a sessionInfoResource GET answers it. */
  async function sessionInfo(): Promise<Response> {
    const created = await env.server.service.handle(
      new Request(`${env.server.url}/v1.0${BOOK}/workbook/createSession`, {
        method: 'POST',
        headers: { authorization: `Bearer ${env.server.token}`, 'content-type': 'application/json' },
        body: '{"persistChanges":true}',
      }),
    );
    return jsonResponse(200, await created.json());
  }

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
        env.server.setOverride((request) => {
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
        env.server.setOverride((request) => {
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
      env.server.setOverride((request) => {
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
      env.server.setOverride(async (request) => {
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
          const created = await env.server.service.handle(
            new Request(`${env.server.url}/v1.0${BOOK}/workbook/createSession`, {
              method: 'POST',
              headers: { authorization: `Bearer ${env.server.token}`, 'content-type': 'application/json' },
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
      [
        'Location',
        (origin: string) => jsonResponse(202, {}, { Location: `${origin}/v1.0/127.0.0.1:1/x?next=https://` }),
      ],
      [
        'resourceLocation',
        (origin: string) => jsonResponse(202, {}, { Location: `${origin}/v1.0${BOOK}/workbook/operations/op1` }),
      ],
    ])(
      'SessionManager.open() does not follow a %s whose path or query ' +
        'holds "https://" (the Graph client would read another host there)',
      BOUND,
      async (_name, first) => {
        env.server.setOverride((request) => {
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
        env.server.setOverride(async (request) => {
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
        const urls = env.server.requests
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
        env.server.setOverride(async (request) => {
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
        const info = env.server.requests.filter((r) => workbookRoute(r.url).startsWith('sessionInfoResource'));
        expect(info.map((r) => r.url)).toEqual([`/beta${BOOK}/workbook/sessionInfoResource(key='k2')${query}`]);
        expect(env.server.requests.filter((r) => workbookRoute(r.url) === 'operations/op1').map((r) => r.url)).toEqual([
          `/beta${BOOK}/workbook/operations/op1?v=o1&w=a%3D%3D`,
        ]);
        await book.close();
      },
    );
  });
});
