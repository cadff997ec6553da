import { describe, expect, test, vi } from 'vitest';
import { GraphTransport, LATE_POLL_MS, type CreatedSession } from '../src/transport/graph-transport.js';
import { Priority, Scheduler } from '../src/coordination/scheduler.js';
import { MAX_TIMER_MS } from '../src/util/timers.js';
import { BOOK_A, fakeTimeGraph, settle } from './helpers/graph.js';

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

/** A transport on its own scheduler, for the calls the manager does not expose (signals, deadlines, late sessions). */
function transport(more: Partial<ConstructorParameters<typeof GraphTransport>[0]> = {}): GraphTransport {
  return new GraphTransport({
    client: graph.client,
    scheduler: new Scheduler({ concurrency: 4, perWorkbookConcurrency: 1 }),
    policy: { retries: 3, baseDelayMs: 500, maxDelayMs: 5_000, deadlineMs: 120_000 },
    pollIntervalMs: 1_000,
    operationTimeoutMs: 20_000,
    requestTimeoutMs: 60_000,
    onRetry: () => undefined,
    now: () => Date.now(),
    random: () => 0.5,
    ...more,
  });
}

describe('a request on the wire holds its lane', () => {
  test('request(): a call aborted after it was sent rejects at once, but the next call waits for its answer', async () => {
    const sessions = manager();
    const book = await sessions.open(BOOK_A);
    graph.service().injectFault({ workbook: BOOK_A, route: 'worksheets', count: 1, delayMs: 5_000 });
    const controller = new AbortController();
    const first = settle(book.api('/worksheets').get({ signal: controller.signal }));
    await flush();
    expect(graph.service().stats().requestsByRoute.worksheets).toBe(1);
    controller.abort(new Error('stop waiting'));
    const result = await first;
    expect(result.ok === false && (result.error as Error).message).toBe('stop waiting');
    const second = settle(book.api("/worksheets('Sheet1')/usedRange").get());
    await flush();
    // The first request is still on the wire: its lane is not free.
    expect(graph.service().stats().requestsByRoute.usedRange).toBe(0);
    await advance(5_000);
    expect((await second).ok).toBe(true);
    expect(graph.service().stats().maxInFlightPerWorkbook).toBe(1);
  });
});

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

  test('close() after a 429 with Retry-After: 600 fails at once with retryAfterMs; the lane stays paused, and a shutdown ends at its deadline', async () => {
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
  });

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

describe('long-running createSession', () => {
  test('createSession(): an operation that finishes after operationTimeoutMs is still polled, and its session handed to onLateSession', async () => {
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
  });

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

describe('requestTimeoutMs and deadlines', () => {
  test('closeSession(): a deadline signal cuts off a close waiting for its answer, as a network failure', async () => {
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
  });

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
