// Idle close and keep-alive: a session unused for idleTimeoutMs is closed; one kept is refreshed before Graph expires
// it.

import { describe, expect, test, vi, afterEach, beforeEach } from 'vitest';
import { SessionClosedError } from '../../src/index.js';
import { BOOK_A, fakeTimeGraph, settle, BOOK_C, overHttp } from '../helpers/graph.js';

describe('on fake timers (emulator behind msw)', () => {
  // Time-based behaviour, in process through msw, on vitest's fake clock.
  const { graph, manager, flush } = fakeTimeGraph();

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
});

describe('on fake timers (emulator behind msw): closes and refreshes racing each other', () => {
  const { graph, manager, flush } = fakeTimeGraph();

  // Regression guard: a handle disposed after its idle close stays disposed: it never opens a new session.
  test('a call on a handle disposed after its idle close fails with SessionClosedError', async () => {
    const sessions = manager({ idleTimeoutMs: 1000 });
    const book = await sessions.open(BOOK_A);
    await vi.advanceTimersByTimeAsync(1000);
    await flush();
    expect(book.closeReason).toBe('idle');
    await book.close(); // the scope ends
    const late = await settle(book.api('/worksheets').get());
    expect(late.ok).toBe(false);
    expect(late.ok ? undefined : late.error).toBeInstanceOf(SessionClosedError);
    expect(graph.service().stats().created).toBe(1);
  });

  // Regression guard: close() during a reopen waits for the reopen and closes the new session.
  test('close() during a reopen closes the reopened session', async () => {
    const sessions = manager({ idleTimeoutMs: 1000 });
    const book = await sessions.open(BOOK_A);
    await vi.advanceTimersByTimeAsync(1000);
    await flush();
    expect(book.state).toBe('closed');
    const call = settle(book.api('/worksheets').get()); // starts the reopen
    await book.close(); // the scope ends meanwhile
    await call;
    await flush();
    expect({ state: book.state, serverOpen: graph.service().stats().open }).toEqual({ state: 'closed', serverOpen: 0 });
  });

  // Regression guard: a keep-alive refresh overtaken in its lane by a close is not sent on the closed session.
  test('a keep-alive refresh is not sent on a session that was closed while it waited in the lane', async () => {
    const sessions = manager({ idleTimeoutMs: Infinity, keepAliveIntervalMs: 1000 });
    const first = await sessions.open(BOOK_A);
    const second = await sessions.open(BOOK_A);
    graph.service().injectFault({ workbook: BOOK_A, route: 'worksheets', delayMs: 5000 });
    await vi.advanceTimersByTimeAsync(500);
    const busy = settle(second.api('/worksheets').get());
    await flush();
    // The keep-alive for `first` comes due and queues behind `second`'s call.
    await vi.advanceTimersByTimeAsync(600);
    await flush();
    const closed = settle(first.close());
    await vi.advanceTimersByTimeAsync(5000);
    await flush();
    expect((await closed).ok).toBe(true);
    expect((await busy).ok).toBe(true);
    // A refresh sent before the close would be fine; one answered 404 went to a closed session.
    const stats = graph.service().stats();
    expect(stats.requestsByRoute.refreshSession - stats.refreshed).toBe(0);
  });

  // Regression guard: a call in flight when a keep-alive comes due does not push the refresh past Graph's expiry.
  test('keep-alive still refreshes a session that had a call in flight when its refresh came due', async () => {
    const sessions = manager({ idleTimeoutMs: Infinity, keepAliveIntervalMs: 1000 });
    const book = await sessions.open(BOOK_C, { persistChanges: false });
    graph.service().injectFault({ workbook: BOOK_C, route: 'worksheets', delayMs: 1000 });
    await vi.advanceTimersByTimeAsync(500);
    const call = settle(book.api('/worksheets').get());
    await flush();
    // The keep-alive comes due at 1000 while the call runs (until 1500).
    await vi.advanceTimersByTimeAsync(1500);
    await flush();
    expect((await call).ok).toBe(true);
    // Graph would expire it 5 min after 1500; keep-alive must refresh it well before.
    await vi.advanceTimersByTimeAsync(10_000);
    await flush();
    expect(graph.service().stats().requestsByRoute.refreshSession).toBeGreaterThanOrEqual(1);
  });
});

describe('over HTTP (emulator): idle closing off', () => {
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  let env: Awaited<ReturnType<typeof overHttp>>;

  beforeEach(async () => {
    env = await overHttp();
  });

  afterEach(async () => {
    await env.close();
  });

  // Regression guard: idleTimeoutMs Infinity arms no timer past 2^31-1 ms, so no 1 ms timer spins.
  test('idleTimeoutMs: Infinity with keepAlive off arms no overflowing timer', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    // Node's own printer is set aside for the test, so the flood does not reach the test output.
    const printers = process.listeners('warning');
    process.removeAllListeners('warning');
    process.on('warning', onWarning);
    try {
      const sessions = env.manager({ idleTimeoutMs: Infinity, keepAlive: false });
      const book = await sessions.open(BOOK_A);
      await sleep(100);
      await book.close();
    } finally {
      process.off('warning', onWarning);
      for (const printer of printers) process.on('warning', printer);
    }
    expect(warnings.filter((name) => name === 'TimeoutOverflowWarning').length).toBe(0);
  });
});
