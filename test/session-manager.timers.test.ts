import { describe, expect, test, vi } from 'vitest';
import { SessionClosedError } from '../src/index.js';
import { BOOK_A, BOOK_B, fakeTimeGraph, settle } from './helpers/graph.js';

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
    graph.service().injectFault({ workbook: BOOK_A, route: 'worksheets', count: 1, status: 429, retryAfterSeconds: 1 });
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

describe('long-running createSession', () => {
  test('polls with a doubling interval and gives up after operationTimeoutMs, closing nothing it never got', async () => {
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
  });
});

describe('abort signals', () => {
  test('a call aborted while queued in its lane is never sent and rejects with the reason', async () => {
    const sessions = manager();
    const book = await sessions.open(BOOK_A);
    graph.service().setLatency({ fixedMs: 1_000 });
    const first = settle(book.api('/worksheets').get());
    const controller = new AbortController();
    const queued = settle(book.api("/worksheets('Sheet1')/usedRange").get({ signal: controller.signal }));
    await flush();
    controller.abort(new Error('no longer needed'));
    const result = await queued;
    expect(result.ok === false && (result.error as Error).message).toBe('no longer needed');
    await vi.advanceTimersByTimeAsync(1_000);
    await flush();
    expect((await first).ok).toBe(true);
    expect(graph.service().stats().requestsByRoute.usedRange).toBe(0);
  });

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

  test('shutdown({ signal }) stops waiting when the signal aborts, and reports what is left', async () => {
    const sessions = manager();
    await sessions.open(BOOK_A);
    graph.service().setLatency({ fixedMs: 5_000 });
    const controller = new AbortController();
    const shutdown = sessions.shutdown({ timeoutMs: 60_000, signal: controller.signal });
    await flush();
    controller.abort();
    const report = await shutdown;
    expect(report).toMatchObject({ timedOut: true, leftOpen: 1, closed: 0 });
  });
});

describe('closes', () => {
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

  test('shutdown stops waiting at its deadline, reports what is left, and its closes stop too', async () => {
    const sessions = manager();
    await sessions.open(BOOK_A);
    await sessions.open(BOOK_B);
    graph.service().injectFault({ route: 'closeSession', count: 50, status: 503, retryAfterSeconds: 2 });
    const shutdown = sessions.shutdown({ timeoutMs: 3_000 });
    await vi.advanceTimersByTimeAsync(3_000);
    const report = await shutdown;
    expect(report).toMatchObject({ closed: 0, leftOpen: 2, timedOut: true });
    expect(report.sessions.map((s) => s.outcome)).toEqual(['pending', 'pending']);
    const sent = graph.service().stats().requestsByRoute.closeSession;
    await vi.advanceTimersByTimeAsync(60_000);
    await flush();
    expect(graph.service().stats().requestsByRoute.closeSession).toBe(sent);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('idle close', () => {
  test('a session with no call for idleTimeoutMs is closed, with reason idle', async () => {
    const sessions = manager({ idleTimeoutMs: 60_000 });
    const book = await sessions.open(BOOK_A, { persistChanges: false });
    await vi.advanceTimersByTimeAsync(30_000);
    await book.api('/worksheets').get();
    await vi.advanceTimersByTimeAsync(59_000);
    expect(book.state).toBe('open');
    await vi.advanceTimersByTimeAsync(1_500);
    await flush();
    expect(book.state).toBe('closed');
    expect(book.closeReason).toBe('idle');
    expect(graph.service().stats()).toMatchObject({ closed: 1, open: 0 });
    // A non-persistent session cannot come back: its copy is gone.
    const error = await book
      .api('/worksheets')
      .get()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionClosedError);
    expect((error as SessionClosedError).reason).toBe('idle');
  });

  test('a call in flight is not idle; the clock starts again when it answers', async () => {
    const sessions = manager({ idleTimeoutMs: 10_000 });
    const book = await sessions.open(BOOK_A);
    graph.service().setLatency({ fixedMs: 25_000 });
    const slow = settle(book.api('/worksheets').get());
    await vi.advanceTimersByTimeAsync(20_000);
    expect(book.state).toBe('open');
    await vi.advanceTimersByTimeAsync(5_000);
    await flush();
    expect((await slow).ok).toBe(true);
    graph.service().setLatency(undefined);
    await vi.advanceTimersByTimeAsync(9_000);
    expect(book.state).toBe('open');
    await vi.advanceTimersByTimeAsync(2_000);
    await flush();
    expect(book.closeReason).toBe('idle');
  });

  test('a persistent session closed for idleness reopens on the next call (event reopened)', async () => {
    const sessions = manager({ idleTimeoutMs: 5_000 });
    const reopened: Array<{ reason: string }> = [];
    sessions.on('reopened', (e) => reopened.push({ reason: e.reason }));
    const book = await sessions.open(BOOK_A);
    const first = book.id;
    await vi.advanceTimersByTimeAsync(6_000);
    await flush();
    expect(book.closeReason).toBe('idle');
    await expect(book.api('/worksheets').get()).resolves.toMatchObject({ value: [{ name: 'Sheet1' }] });
    expect(book.state).toBe('open');
    expect(book.id).not.toBe(first);
    expect(reopened).toEqual([{ reason: 'idle' }]);
    expect(graph.service().stats()).toMatchObject({ created: 2, closed: 1, open: 1 });
  });

  test('a call made while the idle close is in flight waits for it, then reopens', async () => {
    const sessions = manager({ idleTimeoutMs: 5_000 });
    const book = await sessions.open(BOOK_A);
    graph.service().setLatency({ fixedMs: 1_000 });
    await vi.advanceTimersByTimeAsync(5_500);
    expect(book.state).toBe('closing');
    const call = settle(book.api('/worksheets').get());
    await vi.advanceTimersByTimeAsync(3_000);
    await flush();
    expect((await call).ok).toBe(true);
    expect(book.state).toBe('open');
    expect(graph.service().stats()).toMatchObject({ created: 2, closed: 1, open: 1 });
  });

  test('close() during a reopen, then shutdown({ timeoutMs }): the shutdown deadline stops that close too, and no close is sent after the report', async () => {
    const sessions = manager({ idleTimeoutMs: 5_000, retryBaseDelayMs: 100, retryMaxDelayMs: 200 });
    const book = await sessions.open(BOOK_A);
    await vi.advanceTimersByTimeAsync(6_000);
    await flush();
    expect(book.closeReason).toBe('idle');
    graph.service().injectFault({ workbook: BOOK_A, route: 'createSession', delayMs: 1_000 });
    graph
      .service()
      .injectFault({ workbook: BOOK_A, route: 'closeSession', count: 1_000, status: 503, retryAfterSeconds: null });
    const call = settle(book.api('/worksheets').get());
    await flush();
    expect(book.state).toBe('opening');
    // The user's close comes first and waits for the reopen; the shutdown's close joins it.
    const closed = settle(book.close());
    const shutdown = sessions.shutdown({ timeoutMs: 2_000 });
    await vi.advanceTimersByTimeAsync(2_000);
    await flush();
    const report = await shutdown;
    expect(report).toMatchObject({ leftOpen: 1, timedOut: true });
    const sent = graph.service().stats().requestsByRoute.closeSession;
    await vi.advanceTimersByTimeAsync(30_000);
    await flush();
    expect(graph.service().stats().requestsByRoute.closeSession).toBe(sent);
    expect((await closed).ok).toBe(false);
    expect((await call).ok).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('no timer runs while no session is tracked', async () => {
    const sessions = manager({ idleTimeoutMs: 5_000 });
    expect(vi.getTimerCount()).toBe(0);
    const book = await sessions.open(BOOK_A);
    expect(vi.getTimerCount()).toBe(1);
    await book.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('keep-alive', () => {
  test('a session kept past Graph’s expiry is refreshed before Graph would expire it', async () => {
    const sessions = manager({ idleTimeoutMs: 20 * 60_000 });
    const book = await sessions.open(BOOK_A);
    // The emulator's clock follows the fake one: without refreshes, it would expire at 5 minutes.
    await vi.advanceTimersByTimeAsync(12 * 60_000);
    await flush();
    expect(graph.service().stats().refreshed).toBeGreaterThanOrEqual(3);
    expect(graph.service().stats()).toMatchObject({ expired: 0, open: 1 });
    await expect(book.api('/worksheets').get()).resolves.toBeDefined();
    expect(graph.service().stats().created).toBe(1);
  });

  test('with keepAlive off, the same session expires on the server and is recreated on the next call', async () => {
    const sessions = manager({ idleTimeoutMs: 20 * 60_000, keepAlive: false });
    const book = await sessions.open(BOOK_A);
    await vi.advanceTimersByTimeAsync(6 * 60_000);
    expect(graph.service().stats().refreshed).toBe(0);
    await book.api('/worksheets').get();
    expect(graph.service().stats()).toMatchObject({ created: 2, expired: 1 });
  });
});

describe('await using semantics', () => {
  test('when the body throws and close fails too, the body’s error is kept as `suppressed`', async () => {
    const sessions = manager({ retries: 0 });
    const events: string[] = [];
    sessions.on('closeFailed', (e) => events.push(`closeFailed:${e.reason}`));
    // A close refused for good (a 403 is not resent; a 500 would be, until the deadline).
    graph.service().injectFault({ route: 'closeSession', count: 1, status: 403, code: 'accessDenied' });
    const bodyError = new Error('body failed');
    const error = (await sessions
      .withSession(BOOK_A, () => {
        throw bodyError;
      })
      .catch((e: unknown) => e)) as Error & { error: unknown; suppressed: unknown };
    expect(error.name).toBe('SuppressedError');
    expect(error.suppressed).toBe(bodyError);
    expect((error.error as Error).name).toBe('GraphRequestError');
    expect(events).toEqual(['closeFailed:disposed']);
    // Nothing is forgotten: the shutdown tries again and succeeds.
    const report = await sessions.shutdown();
    expect(report).toMatchObject({ closed: 1, failed: 0, leftOpen: 0 });
    expect(graph.service().stats().open).toBe(0);
  });

  test('the same through native `await using` (lowered here): SuppressedError carries both', async () => {
    const sessions = manager({ retries: 0 });
    // A close refused for good (a 403 is not resent; a 500 would be, until the deadline).
    graph.service().injectFault({ route: 'closeSession', count: 1, status: 403, code: 'accessDenied' });
    const run = async (): Promise<void> => {
      await using _book = await sessions.open(BOOK_A);
      throw new Error('body failed');
    };
    const error = (await run().catch((e: unknown) => e)) as Error & { suppressed: Error; error: Error };
    expect(error.name).toBe('SuppressedError');
    expect(error.suppressed.message).toBe('body failed');
    expect(error.error.name).toBe('GraphRequestError');
  });
});
