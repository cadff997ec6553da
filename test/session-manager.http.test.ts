import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import {
  GraphRequestError,
  ManagerShutDownError,
  SessionClosedError,
  SessionExpiredError,
  type SessionManager,
  type WorkbookSession,
} from '../src/index.js';
import { BOOK_A, BOOK_B, BOOK_C, BOOK_D, overHttp, settle } from './helpers/graph.js';

// Scenarios through the real Graph client against the emulator over HTTP on loopback.
let env: Awaited<ReturnType<typeof overHttp>>;

afterEach(async () => {
  await env.close();
});

describe('scope exit', () => {
  beforeEach(async () => {
    env = await overHttp();
  });

  test('`await using` closes the session when the block ends normally', async () => {
    const sessions = env.manager();
    let id = '';
    {
      await using book = await sessions.open(BOOK_A);
      id = book.id;
      const used = await book.api("/worksheets('Sheet1')/usedRange").get<{ values: unknown[][] }>();
      expect(used.values).toEqual([
        [1, 2],
        [3, 4],
      ]);
      expect(env.service.stats().open).toBe(1);
    }
    expect(env.service.stats()).toMatchObject({ created: 1, closed: 1, open: 0 });
    expect(env.service.sessions().find((s) => s.id === id)?.state).toBe('closed');
  });

  test('`await using` closes the session when the block throws, and the error is the body’s', async () => {
    const sessions = env.manager();
    let handle: WorkbookSession | undefined;
    const run = async (): Promise<void> => {
      await using book = await sessions.open(BOOK_A);
      handle = book;
      await book.api("/worksheets('Sheet1')/range(address='A1')").patch({ values: [[42]] });
      throw new Error('body failed');
    };
    await expect(run()).rejects.toThrow('body failed');
    expect(handle?.state).toBe('closed');
    expect(handle?.closeReason).toBe('disposed');
    expect(env.service.stats()).toMatchObject({ created: 1, closed: 1, open: 0 });
    // A persistent session writes to the file.
    expect(env.service.readRange(BOOK_A, 'Sheet1', 'A1')).toEqual([[42]]);
  });

  test('withSession closes on success and on throw, and returns the callback’s value', async () => {
    const sessions = env.manager();
    const names = await sessions.withSession(BOOK_B, async (book) => {
      const sheets = await book.api('/worksheets').get<{ value: Array<{ name: string }> }>();
      return sheets.value.map((s) => s.name);
    });
    expect(names).toEqual(['Sheet1']);
    await expect(
      sessions.withSession(BOOK_B, () => {
        throw new RangeError('nope');
      }),
    ).rejects.toThrow(RangeError);
    expect(env.service.stats()).toMatchObject({ created: 2, closed: 2, open: 0 });
  });

  test('a call on a closed handle fails with SessionClosedError naming the reason, and sends nothing', async () => {
    const sessions = env.manager();
    const book = await sessions.open(BOOK_A);
    await book.close();
    const before = env.service.stats().requests;
    const error = await book
      .api('/worksheets')
      .get()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionClosedError);
    expect((error as SessionClosedError).reason).toBe('disposed');
    expect((error as SessionClosedError).message).toMatch(/is closed \(reason: disposed\)/);
    expect(env.service.stats().requests).toBe(before);
  });

  test('close() is idempotent and safe to call concurrently: one closeSession request', async () => {
    const sessions = env.manager();
    const book = await sessions.open(BOOK_A);
    const [a, b] = [book.close(), book[Symbol.asyncDispose]()];
    expect(a).toBe(b);
    await Promise.all([a, b, book.close()]);
    await book.close();
    expect(env.service.stats().requestsByRoute.closeSession).toBe(1);
  });

  test('a non-persistent session works on its own copy, which vanishes when it closes', async () => {
    const sessions = env.manager();
    await sessions.withSession(
      BOOK_C,
      async (book) => {
        expect(book.persistChanges).toBe(false);
        await book.api("/worksheets('Sheet1')/range(address='A1')").patch({ values: [[99]] });
        const seen = await book.api("/worksheets('Sheet1')/range(address='A1')").get<{ values: unknown[][] }>();
        expect(seen.values).toEqual([[99]]);
      },
      { persistChanges: false },
    );
    expect(env.service.readRange(BOOK_C, 'Sheet1', 'A1')).toEqual([[1]]);
  });
});

describe('lanes and the global limit', () => {
  beforeEach(async () => {
    env = await overHttp({ latency: { fixedMs: 15 } });
  });

  test('20 parallel calls on one workbook reach the server one at a time', async () => {
    const sessions = env.manager({ concurrency: 8 });
    const book = await sessions.open(BOOK_A);
    await Promise.all(Array.from({ length: 20 }, () => book.api('/worksheets').get()));
    const stats = env.service.stats();
    expect(stats.requestsByRoute.worksheets).toBe(20);
    expect(stats.maxInFlightPerWorkbook).toBe(1);
    await book.close();
  });

  test('calls on different workbooks overlap, up to `concurrency`', async () => {
    const sessions = env.manager({ concurrency: 3 });
    const handles = await Promise.all([BOOK_A, BOOK_B, BOOK_C, BOOK_D].map((b) => sessions.open(b)));
    let most = 0;
    const sampler = setInterval(() => {
      most = Math.max(most, env.service.stats().inFlight);
    }, 2);
    try {
      await Promise.all(handles.flatMap((h) => Array.from({ length: 5 }, () => h.api('/worksheets').get())));
    } finally {
      clearInterval(sampler);
    }
    expect(most).toBeGreaterThanOrEqual(2);
    expect(most).toBeLessThanOrEqual(3);
    expect(env.service.stats().maxInFlightPerWorkbook).toBe(1);
    await Promise.all(handles.map((h) => h.close()));
  });

  test('a close goes ahead of calls queued in its lane; those calls then fail without being sent', async () => {
    const sessions = env.manager();
    const book = await sessions.open(BOOK_A);
    const other = await sessions.open(BOOK_A);
    const calls = Array.from({ length: 4 }, () => settle(other.api('/worksheets').get()));
    const mine = Array.from({ length: 3 }, () => settle(book.api('/worksheets').get()));
    while (env.service.stats().inFlight === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    await other.close();
    const results = await Promise.all(calls);
    // The first call was already in flight; the close overtook the three queued behind it.
    expect(results.map((r) => r.ok)).toEqual([true, false, false, false]);
    expect(results.slice(1).every((r) => !r.ok && r.error instanceof SessionClosedError)).toBe(true);
    expect((await Promise.all(mine)).every((r) => r.ok)).toBe(true);
    expect(env.service.stats().requestsByRoute.worksheets).toBe(4);
    await book.close();
  });

  test('with perWorkbookConcurrency 2, one workbook sees at most 2 at once', async () => {
    const sessions = env.manager({ concurrency: 8, perWorkbookConcurrency: 2 });
    const book = await sessions.open(BOOK_A);
    await Promise.all(Array.from({ length: 12 }, () => book.api('/worksheets').get()));
    expect(env.service.stats().maxInFlightPerWorkbook).toBe(2);
    await book.close();
  });
});

describe('retries', () => {
  beforeEach(async () => {
    env = await overHttp();
  });

  test('a 429 with Retry-After: 1 is retried after the cooldown, and nothing reaches that workbook meanwhile', async () => {
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
  });

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
    const { SessionManager, createBearerClient } = await import('../src/index.js');
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

  test('refresh() on a session the server forgot marks it expired; a persistent one reopens on its next call', async () => {
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
  });

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

  test('open(): a succeeded operation whose session info draws more 503s than `retries` allows is asked again until it answers, and nothing is left open', async () => {
    env = await overHttp({ asyncCreate: { rate: 1, durationMs: 0 } });
    env.service.injectFault({ route: 'sessionInfo', count: 2, kind: '503-bare' });
    const sessions = env.manager({ pollIntervalMs: 10, retries: 1, retryBaseDelayMs: 10 });
    const book = await sessions.open(BOOK_A);
    expect(env.service.stats().requestsByRoute.sessionInfo).toBe(3);
    await book.close();
    expect(env.service.stats()).toMatchObject({ created: 1, closed: 1, open: 0 });
  });

  test('open(): a succeeded operation whose session info is refused for good fails, and the session is reported `unclosable`', async () => {
    env = await overHttp({ asyncCreate: { rate: 1, durationMs: 0 } });
    env.service.injectFault({ route: 'sessionInfo', count: 1, status: 403 });
    const sessions = env.manager({ pollIntervalMs: 10 });
    const unclosable: Array<{ workbook: string; status: number | undefined }> = [];
    sessions.on('unclosable', (e) => unclosable.push({ workbook: e.workbook, status: e.error.status }));
    const result = await settle(sessions.open(BOOK_A));
    expect(result.ok === false && result.error).toMatchObject({ name: 'GraphRequestError', status: 403 });
    expect(unclosable).toEqual([{ workbook: BOOK_A, status: 403 }]);
    expect(env.service.stats()).toMatchObject({ created: 1, open: 1 });
  });

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

describe('shutdown', () => {
  let sessions: SessionManager;
  beforeEach(async () => {
    env = await overHttp();
    sessions = env.manager();
  });

  test('closes every open session and reports it with shortened ids', async () => {
    const handles = await Promise.all([BOOK_A, BOOK_A, BOOK_B, BOOK_C].map((b) => sessions.open(b)));
    env.service.expireSession(handles[3]!.id);
    const report = await sessions.shutdown();
    expect(report).toMatchObject({ closed: 3, expired: 1, failed: 0, leftOpen: 0, timedOut: false });
    expect(report.sessions).toHaveLength(4);
    for (const [i, s] of report.sessions.entries()) {
      expect(s.id.length).toBeLessThan(handles[i]!.id.length);
      expect(handles[i]!.id.startsWith(s.id.slice(0, 6))).toBe(true);
    }
    expect(env.service.stats().open).toBe(0);
    expect(handles.every((h) => h.state === 'closed' && h.closeReason !== undefined)).toBe(true);
  });

  test('a session reopened after expiring is reported closed, not expired, when shutdown closes it', async () => {
    const book = await sessions.open(BOOK_A);
    env.service.expireSession(book.id);
    await book.api('/worksheets').get();
    const report = await sessions.shutdown();
    expect(report).toMatchObject({ closed: 1, expired: 0, leftOpen: 0 });
    expect(env.service.stats()).toMatchObject({ created: 2, closed: 1, expired: 1, open: 0 });
  });

  test('a session given up after a 502 and closed by Graph during the shutdown is reported closed, not expired', async () => {
    const book = await sessions.open(BOOK_A);
    const first = book.id;
    env.service.injectFault({ workbook: BOOK_A, route: 'worksheets', kind: '502' });
    // Its close is slow: the shutdown finds it under way and joins it.
    env.service.injectFault({ workbook: BOOK_A, route: 'closeSession', delayMs: 300 });
    const call = settle(book.api('/worksheets').get());
    await vi.waitFor(() => expect(env.service.stats().requestsByRoute.closeSession).toBe(1));
    const report = await sessions.shutdown();
    expect((await call).ok).toBe(false);
    expect(env.service.sessions().find((s) => s.id === first)?.state).toBe('closed');
    expect(report).toMatchObject({ closed: 2, expired: 0, leftOpen: 0 });
    expect(report.sessions.map((s) => s.outcome)).toEqual(['closed', 'closed']);
  });

  test('open() after shutdown is refused before any request', async () => {
    await sessions.shutdown();
    const before = env.service.stats().requests;
    await expect(sessions.open(BOOK_A)).rejects.toBeInstanceOf(ManagerShutDownError);
    expect(env.service.stats().requests).toBe(before);
  });

  test('shutdown returns one promise to every caller; `await using` on the manager shuts it down', async () => {
    expect(sessions.shutdown()).toBe(sessions.shutdown());
    const other = env.manager();
    {
      await using scoped = other;
      await scoped.open(BOOK_D);
    }
    expect(other.shuttingDown).toBe(true);
    expect(env.service.openSessions(BOOK_D)).toBe(0);
  });

  test('stats() counts what the manager did', async () => {
    const a = await sessions.open(BOOK_A);
    await sessions.open(BOOK_B);
    expect(sessions.stats()).toMatchObject({ open: 2, opening: 0, closing: 0 });
    await a.close();
    expect(sessions.stats()).toMatchObject({ open: 1, totals: { opened: 2, closed: 1 } });
  });
});
