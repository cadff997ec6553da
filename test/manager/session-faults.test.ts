// Session faults: an expired, forgotten or conflicting session is recreated, failed or given up, as Graph's rules say.

import { afterEach, beforeEach, describe, expect, test, afterAll } from 'vitest';
import {
  GraphRequestError,
  SessionClosedError,
  SessionExpiredError,
  isSessionFault,
  isSessionRecreatable,
  sessionFaultOf,
} from '../../src/index.js';
import { BOOK_A, createdElsewhere, overHttp } from '../helpers/graph.js';
import { GraphError } from '@microsoft/microsoft-graph-client';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { MAX_RECREATES_IN_A_ROW } from '../../src/session/workbook-session.js';
import { openLine, removeTempDirs, tempDir } from '../fixtures/journal-spawn.js';

describe('over HTTP (emulator)', () => {
  // Scenarios through the real Graph client against the emulator over HTTP on loopback.
  let env: Awaited<ReturnType<typeof overHttp>>;

  afterEach(async () => {
    await env.close();
  });

  describe('session faults', () => {
    beforeEach(async () => {
      env = await overHttp();
    });

    test('a persistent session that expired mid-work is recreated and the call replayed', async () => {
      const sessions = env.manager();
      const reopened: string[] = [];
      sessions.on('reopened', (e) => reopened.push(e.reason));
      const book = await sessions.open(BOOK_A);
      const first = book.id;
      await book.api("/worksheets('Sheet1')/range(address='A1')").patch({ values: [['before']] });
      env.service.advanceTime(5 * 60_000 + 1);
      await book.api("/worksheets('Sheet1')/range(address='A2')").patch({ values: [['after']] });
      expect(book.id).not.toBe(first);
      expect(book.state).toBe('open');
      expect(reopened).toEqual(['expired']);
      expect(env.service.readRange(BOOK_A, 'Sheet1', 'A1:A2')).toEqual([['before'], ['after']]);
      await book.close();
      expect(env.service.stats()).toMatchObject({ created: 2, closed: 1, expired: 1, open: 0 });
    });

    test('a non-persistent session that expired fails with SessionExpiredError', async () => {
      const sessions = env.manager();
      const book = await sessions.open(BOOK_A, { persistChanges: false });
      env.service.expireSession(book.id);
      const error = await book
        .api('/worksheets')
        .get()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SessionExpiredError);
      expect((error as Error).message).toMatch(/changes are lost/);
      expect(book.state).toBe('closed');
      expect(book.closeReason).toBe('expired');
      // Disposing it afterwards is harmless and sends nothing.
      await book.close();
      expect(env.service.stats().requestsByRoute.closeSession).toBe(0);
    });

    test(
      'refresh() on a session the server forgot marks it ' + 'expired; a persistent one reopens on its next call',
      async () => {
        const sessions = env.manager();
        const book = await sessions.open(BOOK_A);
        env.service.expireSession(book.id);
        await expect(book.refresh()).rejects.toMatchObject({ name: 'GraphRequestError', status: 404 });
        expect(book.state).toBe('closed');
        expect(book.closeReason).toBe('expired');
        await book.api('/worksheets').get();
        expect(book.state).toBe('open');
        expect(env.service.stats()).toMatchObject({ created: 2, refreshed: 0 });
        await book.close();
      },
    );

    test('a 404 for a missing worksheet is not mistaken for an expired session', async () => {
      const sessions = env.manager();
      const book = await sessions.open(BOOK_A);
      const id = book.id;
      const error = (await book
        .api("/worksheets('Nope')/usedRange")
        .get()
        .catch((e: unknown) => e)) as GraphRequestError;
      expect(error).toBeInstanceOf(GraphRequestError);
      expect(error.status).toBe(404);
      expect(book.id).toBe(id);
      expect(book.state).toBe('open');
      await book.close();
      expect(env.service.stats().created).toBe(1);
    });

    test('closing a session the server already expired counts as closed, not failed', async () => {
      const sessions = env.manager();
      const events: string[] = [];
      sessions.on('closed', (e) => events.push(`closed:${String(e.alreadyExpired)}`));
      sessions.on('closeFailed', () => events.push('closeFailed'));
      const book = await sessions.open(BOOK_A);
      env.service.expireSession(book.id);
      await book.close();
      expect(events).toEqual(['closed:true']);
      expect(sessions.stats().totals).toMatchObject({ closed: 0, expired: 1, closeFailures: 0 });
    });

    test('invalidSessionAccessConflict ends the session for good', async () => {
      const sessions = env.manager();
      const book = await sessions.open(BOOK_A);
      env.service.injectFault({
        workbook: BOOK_A,
        route: 'worksheets',
        status: 409,
        code: 'accessConflict',
        innerCode: 'invalidSessionAccessConflict',
      });
      await expect(book.api('/worksheets').get()).rejects.toMatchObject({ innerCode: 'invalidSessionAccessConflict' });
      expect(book.state).toBe('closed');
      expect(book.closeReason).toBe('failed');
      await expect(book.api('/worksheets').get()).rejects.toBeInstanceOf(SessionClosedError);
    });
  });
});

describe("over HTTP (emulator): Graph's session-fault rules", () => {
  // Graph's session-fault rules, through the real Graph client against the emulator over HTTP.
  // `retries: 0` keeps the retry loop out of the way, so each fault reaches the session rules.
  let env: Awaited<ReturnType<typeof overHttp>>;

  beforeEach(async () => {
    env = await overHttp();
  });

  afterEach(async () => {
    await env.close();
  });

  afterAll(removeTempDirs);

  const stateOf = (id: string): string | undefined => env.service.sessions().find((s) => s.id === id)?.state;

  describe('a 502 or 503 with no known second-level code on a sessionful call', () => {
    test(
      'a GET in a persistent session: the session is ' + 'closed, a new one made, and the call replayed in it',
      async () => {
        const sessions = env.manager({ retries: 0 });
        const book = await sessions.open(BOOK_A);
        const first = book.id;
        env.service.injectFault({
          workbook: BOOK_A,
          route: 'worksheets',
          status: 503,
          code: 'serviceUnavailable',
          retryAfterSeconds: 0,
        });
        const sheets = await book.api('/worksheets').get<{ value: Array<{ name: string }> }>();
        expect(sheets.value.map((s) => s.name)).toEqual(['Sheet1']);
        expect(book.id).not.toBe(first);
        expect(book.state).toBe('open');
        // Sent once in each session; the faulted one was closed, not left to expire.
        expect(env.service.stats().requestsByRoute.worksheets).toBe(2);
        await sessions.shutdown();
        expect(stateOf(first)).toBe('closed');
        expect(env.service.stats()).toMatchObject({ created: 2, closed: 2, open: 0 });
      },
    );

    test(
      'a non-idempotent PATCH: fails with outcomeUnknown, is ' + 'not resent, and the next call runs in a new session',
      async () => {
        const sessions = env.manager({ retries: 0 });
        const book = await sessions.open(BOOK_A);
        const first = book.id;
        env.service.injectFault({ workbook: BOOK_A, route: 'range', status: 502 });
        const error = await book
          .api("/worksheets('Sheet1')/range(address='A1')")
          .patch({ values: [[7]] })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(GraphRequestError);
        expect(error).toMatchObject({ status: 502, outcomeUnknown: true });
        expect((error as Error).message).toMatch(/outcome unknown/);
        expect(env.service.stats().requestsByRoute.range).toBe(1);
        await book.api("/worksheets('Sheet1')/range(address='A1')").patch({ values: [[8]] });
        expect(book.id).not.toBe(first);
        expect(env.service.readRange(BOOK_A, 'Sheet1', 'A1')).toEqual([[8]]);
        await sessions.shutdown();
        expect(stateOf(first)).toBe('closed');
        expect(env.service.stats()).toMatchObject({ created: 2, open: 0 });
      },
    );

    test('a non-persistent handle fails with SessionExpiredError, and its session is closed', async () => {
      const sessions = env.manager({ retries: 0 });
      const book = await sessions.open(BOOK_A, { persistChanges: false });
      const first = book.id;
      env.service.injectFault({
        workbook: BOOK_A,
        route: 'worksheets',
        status: 503,
        code: 'serviceUnavailable',
        retryAfterSeconds: 0,
      });
      await expect(book.api('/worksheets').get()).rejects.toBeInstanceOf(SessionExpiredError);
      expect(book.state).toBe('closed');
      expect(book.closeReason).toBe('expired');
      const report = await sessions.shutdown();
      expect(report.leftOpen).toBe(0);
      expect(stateOf(first)).toBe('closed');
      expect(env.service.stats()).toMatchObject({ created: 1, open: 0 });
    });

    test('a call queued behind the faulted one goes on in the new session instead of failing', async () => {
      const sessions = env.manager({ retries: 0 });
      const book = await sessions.open(BOOK_A);
      const first = book.id;
      env.service.injectFault({
        workbook: BOOK_A,
        route: 'worksheets',
        status: 503,
        code: 'serviceUnavailable',
        retryAfterSeconds: 0,
      });
      const [a, b] = await Promise.all([
        book.api('/worksheets').get(),
        book.api("/worksheets('Sheet1')/usedRange").get(),
      ]);
      expect(a).toBeDefined();
      expect(b).toMatchObject({
        values: [
          [1, 2],
          [3, 4],
        ],
      });
      expect(book.id).not.toBe(first);
      await sessions.shutdown();
      expect(env.service.stats()).toMatchObject({ created: 2, open: 0 });
    });

    test(
      'a known second-level code decides: 503 ' + 'serviceUnavailableUncategorized is resent in the same session',
      async () => {
        const sessions = env.manager({ retryBaseDelayMs: 1 });
        const book = await sessions.open(BOOK_A);
        const first = book.id;
        env.service.injectFault({ workbook: BOOK_A, route: 'worksheets', status: 503, retryAfterSeconds: 0 });
        await book.api('/worksheets').get();
        expect(book.id).toBe(first);
        expect(env.service.stats().created).toBe(1);
      },
    );
  });

  describe('recreating is bounded', () => {
    test(
      `when every call draws invalidSessionReCreatable, a handle recreates at most ${MAX_RECREATES_IN_A_ROW} ` +
        'sessions in a row, then ends failed, and closes each',
      async () => {
        const sessions = env.manager({ retries: 0 });
        const book = await sessions.open(BOOK_A);
        env.service.injectFault({
          workbook: BOOK_A,
          route: 'worksheets',
          status: 404,
          code: 'itemNotFound',
          innerCode: 'invalidSessionReCreatable',
          count: 100,
        });
        const errors: unknown[] = [];
        for (let i = 0; i < 5; i++)
          errors.push(
            await book
              .api('/worksheets')
              .get()
              .catch((e: unknown) => e),
          );
        expect(book.state).toBe('closed');
        expect(book.closeReason).toBe('failed');
        // The first and every recreate: 1 + MAX_RECREATES_IN_A_ROW sessions, then calls fail without a request.
        expect(env.service.stats().created).toBe(1 + MAX_RECREATES_IN_A_ROW);
        // Each call tries a second session once: two calls use up the bound, the third and later fail at once.
        expect(errors.slice(0, 2).map((e) => (e as GraphRequestError).innerCode)).toEqual([
          'invalidSessionReCreatable',
          'invalidSessionReCreatable',
        ]);
        expect(errors.slice(2).map((e) => e instanceof SessionClosedError && e.reason)).toEqual([
          'failed',
          'failed',
          'failed',
        ]);
        expect(env.service.stats().requestsByRoute.worksheets).toBe(1 + MAX_RECREATES_IN_A_ROW);
        const report = await sessions.shutdown();
        expect(report.leftOpen).toBe(0);
        expect(env.service.stats()).toMatchObject({
          created: 1 + MAX_RECREATES_IN_A_ROW,
          closed: 1 + MAX_RECREATES_IN_A_ROW,
          open: 0,
        });
      },
    );

    test('a call recreates the session at most once: a second fault in the new session fails the call', async () => {
      const sessions = env.manager({ retries: 0 });
      const book = await sessions.open(BOOK_A);
      env.service.injectFault({
        workbook: BOOK_A,
        route: 'worksheets',
        status: 404,
        code: 'itemNotFound',
        innerCode: 'invalidSessionReCreatable',
        count: 2,
      });
      await expect(book.api('/worksheets').get()).rejects.toMatchObject({ innerCode: 'invalidSessionReCreatable' });
      expect(env.service.stats().requestsByRoute.worksheets).toBe(2);
      // A success resets the bound; the handle goes on.
      await book.api('/worksheets').get();
      expect(book.state).toBe('open');
      await sessions.shutdown();
      expect(env.service.stats()).toMatchObject({ created: 3, open: 0 });
    });
  });

  describe('a 404 on closeSession without an invalidSession* code', () => {
    test('close() checks with refreshSession: a session still alive is closed, not counted as expired', async () => {
      const sessions = env.manager();
      const events: string[] = [];
      sessions.on('closed', (e) => events.push(`closed:${String(e.alreadyExpired)}`));
      sessions.on('expired', () => events.push('expired'));
      const book = await sessions.open(BOOK_A);
      env.service.injectFault({ workbook: BOOK_A, route: 'closeSession', status: 404, code: 'itemNotFound' });
      await book.close();
      expect(events).toEqual(['closed:false']);
      expect(stateOf(book.id)).toBe('closed');
      expect(sessions.stats().totals).toMatchObject({ closed: 1, expired: 0 });
    });

    test('close() counts the session expired when refreshSession finds it gone too', async () => {
      const sessions = env.manager();
      const book = await sessions.open(BOOK_A);
      env.service.injectFault({ workbook: BOOK_A, route: 'closeSession', status: 404, code: 'itemNotFound' });
      env.service.injectFault({ workbook: BOOK_A, route: 'refreshSession', status: 404, code: 'itemNotFound' });
      await book.close();
      expect(sessions.stats().totals).toMatchObject({ closed: 0, expired: 1 });
      expect(env.service.stats().requestsByRoute).toMatchObject({ closeSession: 1, refreshSession: 1 });
    });

    test('recover() closes an orphan whose first close drew a bare 404, instead of reporting it expired', async () => {
      const dir = await tempDir();
      const orphan = await createdElsewhere(env.emulator, BOOK_A);
      await fs.writeFile(path.join(dir, 'sessions.journal'), `${openLine({ id: orphan, workbook: BOOK_A })}\n`, {
        mode: 0o600,
      });
      const sessions = env.manager({ journal: { path: dir } });
      env.service.injectFault({ workbook: BOOK_A, route: 'closeSession', status: 404, code: 'itemNotFound' });
      const report = await sessions.recover();
      expect(report.expired).toEqual([]);
      expect(report.closed).toHaveLength(1);
      expect(stateOf(orphan)).toBe('closed');
    });
  });

  describe('an invalidSession* second-level code the error-handling page does not list', () => {
    test(
      'sessionFaultOf() reads it as ended: the call fails, the ' +
        'handle ends, and its session is closed, not used again',
      async () => {
        const sessions = env.manager({ retries: 0 });
        const book = await sessions.open(BOOK_A);
        const first = book.id;
        env.service.injectFault({
          workbook: BOOK_A,
          route: 'worksheets',
          count: 1,
          status: 400,
          code: 'invalidRequest',
          innerCode: 'invalidSessionSomethingNew',
        });
        const error: unknown = await book
          .api('/worksheets')
          .get()
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(error).toMatchObject({ status: 400, innerCode: 'invalidSessionSomethingNew' });
        expect(sessionFaultOf(error)).toBe('ended');
        expect(book.state).toBe('closed');
        expect(env.service.stats().requestsByRoute.worksheets).toBe(1);
        await sessions.shutdown();
        expect(stateOf(first)).toBe('closed');
        expect(env.service.stats()).toMatchObject({ created: 1, open: 0 });
      },
    );
  });

  describe('a close that Graph refuses for now', () => {
    test.each([
      [
        '500 internalServerErrorUncategorized',
        { status: 500, code: 'internalServerError', innerCode: 'internalServerErrorUncategorized' },
      ],
      ['409 accessConflict', { status: 409, code: 'conflict', innerCode: 'accessConflict' }],
      [
        '409 invalidSessionAccessConflict',
        { status: 409, code: 'conflict', innerCode: 'invalidSessionAccessConflict' },
      ],
    ] as const)(
      'close() after a %s is sent again and closes the session, not reported expired',
      async (_label, fault) => {
        const sessions = env.manager({ retryBaseDelayMs: 1, retryMaxDelayMs: 5 });
        const events: string[] = [];
        sessions.on('closed', (e) => events.push(`closed alreadyExpired=${String(e.alreadyExpired)}`));
        sessions.on('closeFailed', () => events.push('closeFailed'));
        const book = await sessions.open(BOOK_A);
        env.service.injectFault({ workbook: BOOK_A, route: 'closeSession', count: 1, ...fault });
        await book.close();
        expect(stateOf(book.id)).toBe('closed');
        expect(events).toEqual(['closed alreadyExpired=false']);
        expect(env.service.stats().requestsByRoute.closeSession).toBe(2);
      },
    );
  });

  describe('a refreshSession that Graph answers with a session fault', () => {
    test(
      'refresh() answered invalidSessionAccessConflict gives the ' +
        'session up and closes it; the next call runs in a new session',
      async () => {
        const sessions = env.manager({ retries: 0 });
        const book = await sessions.open(BOOK_A);
        const first = book.id;
        env.service.injectFault({
          workbook: BOOK_A,
          route: 'refreshSession',
          count: 1,
          status: 409,
          code: 'conflict',
          innerCode: 'invalidSessionAccessConflict',
        });
        await expect(book.refresh()).rejects.toMatchObject({ innerCode: 'invalidSessionAccessConflict' });
        await expect(book.api('/worksheets').get()).rejects.toBeInstanceOf(SessionClosedError);
        await sessions.shutdown();
        // Given up, and closed: not left open for Graph to expire.
        expect(stateOf(first)).toBe('closed');
        expect(env.service.stats().open).toBe(0);
      },
    );

    test(
      'refresh() answered 503 with no second-level code gives ' +
        'the session up and closes it; a persistent handle reopens',
      async () => {
        const sessions = env.manager({ retries: 0 });
        const book = await sessions.open(BOOK_A);
        const first = book.id;
        env.service.injectFault({
          workbook: BOOK_A,
          route: 'refreshSession',
          count: 1,
          status: 503,
          code: 'serviceUnavailable',
          retryAfterSeconds: 0,
        });
        await expect(book.refresh()).rejects.toMatchObject({ status: 503 });
        await book.api('/worksheets').get();
        expect(book.id).not.toBe(first);
        await sessions.shutdown();
        expect(stateOf(first)).toBe('closed');
        expect(env.service.stats()).toMatchObject({ created: 2, open: 0 });
      },
    );
  });

  describe("sessionFaultOf() on errors of the caller's own Graph calls", () => {
    test(
      'sessionFaultOf() reads a GraphError from the Graph ' + 'client: its second-level code is in its JSON body',
      async () => {
        const sessions = env.manager();
        const book = await sessions.open(BOOK_A);
        const id = book.id;
        await book.close();
        // The application's own call, through the Graph client's default response handling: it throws a GraphError.
        const error: unknown = await env.client
          .api(`${BOOK_A}/workbook/worksheets`)
          .header('workbook-session-id', id)
          .get()
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(error).toBeInstanceOf(GraphError);
        expect(error).toMatchObject({ statusCode: 404 });
        expect(sessionFaultOf(error)).toBe('gone');
        expect(isSessionFault(error)).toBe(true);
        expect(isSessionRecreatable(error)).toBe(true);
        // A GraphError for a failure with no answer (statusCode -1) says nothing about the session.
        expect(
          sessionFaultOf(Object.assign(new GraphError(-1), { code: 'TypeError', body: 'TypeError: fetch failed' })),
        ).toBe('none');
        expect(
          sessionFaultOf(
            Object.assign(new GraphError(503), { code: 'serviceNotAvailable', body: '{"code":"serviceNotAvailable"}' }),
          ),
        ).toBe('faulted');
        expect(
          sessionFaultOf(
            Object.assign(new GraphError(503), {
              code: 'x',
              body: '{"code":"x","innerError":{"code":"transientFailure"}}',
            }),
          ),
        ).toBe('none');
      },
    );
  });
});
