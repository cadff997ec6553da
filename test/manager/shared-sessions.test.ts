// Few sessions per workbook: the session budget, and shared sessions many callers lease at once.

import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  ManagerShutDownError,
  SessionBudgetTimeoutError,
  SessionClosedError,
  type SessionManager,
  type WorkbookSession,
} from '../../src/index.js';
import { MAX_RECREATES_IN_A_ROW } from '../../src/session/session-core.js';
import { BOOK_A, BOOK_B, fakeTimeGraph, overHttp, settle } from '../helpers/graph.js';

const SHEET = "/worksheets('Sheet1')";

/** One unit of work: a read and a write, as a request handler would do. */
async function unit(book: WorkbookSession, n: number): Promise<void> {
  await book.api(`${SHEET}/range(address='A1')`).get();
  await book.api(`${SHEET}/range(address='B${(n % 50) + 1}')`).patch({ values: [[n]] });
}

describe('over HTTP (emulator)', () => {
  let env: Awaited<ReturnType<typeof overHttp>>;

  afterEach(async () => {
    await env.close();
  });

  test('40 concurrent acquire() scopes on one workbook share 1 session, one request at a time', async () => {
    env = await overHttp();
    const sessions = env.manager();
    const ids = new Set<string>();
    await Promise.all(
      Array.from({ length: 40 }, async (_, n) => {
        await using book = await sessions.acquire(BOOK_A);
        ids.add(book.id);
        expect(book.shared).toBe(true);
        await unit(book, n);
      }),
    );
    expect(ids.size).toBe(1);
    const stats = env.service.stats();
    expect(stats).toMatchObject({ created: 1, closed: 0, open: 1, maxInFlightPerWorkbook: 1 });
    // Every lease gave back: the session stays warm for the next caller, which gets the same one.
    expect(sessions.stats()).toMatchObject({ open: 1, shared: 1, leases: 0 });
    await using again = await sessions.acquire(BOOK_A);
    expect(again.id).toBe([...ids][0]);
    const report = await sessions.shutdown();
    expect(report).toMatchObject({ closed: 1, leftOpen: 0 });
    expect(env.service.stats()).toMatchObject({ created: 1, closed: 1, open: 0 });
  });

  test('with the budget at 3, 40 concurrent open()s all complete, never more than 3 open at once', async () => {
    env = await overHttp({ latency: { fixedMs: 5 } });
    const sessions = env.manager({ maxSessionsPerWorkbook: 3 });
    const waits: number[] = [];
    sessions.on('budgetWait', (e) => waits.push(e.waiting));
    let peakWaiting = 0;
    await Promise.all(
      Array.from({ length: 40 }, async (_, n) => {
        await using book = await sessions.open(BOOK_A);
        peakWaiting = Math.max(peakWaiting, sessions.stats().budgetWaiting);
        await unit(book, n);
      }),
    );
    const stats = env.service.stats();
    expect(stats).toMatchObject({ created: 40, closed: 40, open: 0 });
    expect(stats.maxOpenByWorkbook[BOOK_A]).toBeLessThanOrEqual(3);
    expect(stats.maxOpenByWorkbook[BOOK_A]).toBeGreaterThan(1);
    // 37 opens had to wait, each told once; while they waited, stats() said so.
    expect(waits).toHaveLength(37);
    expect(peakWaiting).toBeGreaterThan(0);
    expect(sessions.stats()).toMatchObject({ budgetWaiting: 0, open: 0 });
  });

  test('the budget counts per file: another workbook does not wait', async () => {
    env = await overHttp();
    const sessions = env.manager({ maxSessionsPerWorkbook: 1 });
    const first = await sessions.open(BOOK_A);
    const other = await sessions.open(BOOK_B);
    const waiting = settle(sessions.open(BOOK_A));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sessions.stats()).toMatchObject({ budgetWaiting: 1, open: 2 });
    await first.close();
    const second = await waiting;
    expect(second.ok).toBe(true);
    if (second.ok) await second.value.close();
    await other.close();
    expect(env.service.stats().maxOpenByWorkbook).toEqual({ [BOOK_A]: 1, [BOOK_B]: 1 });
  });

  test('expiry under leases moves every lease to one new session; a pinned lease fails instead', async () => {
    env = await overHttp();
    const sessions = env.manager();
    const leases = await Promise.all(Array.from({ length: 5 }, () => sessions.acquire(BOOK_A)));
    const pinned = await sessions.acquire(BOOK_A, { onNewSession: 'fail' });
    const old = leases[0]?.id ?? '';
    await pinned.api(`${SHEET}/range(address='A1')`).get();
    expect(env.service.expireSession(old)).toBe(true);
    await Promise.all(leases.map((book, n) => unit(book, n)));
    const ids = new Set(leases.map((book) => book.id));
    expect(ids.size).toBe(1);
    expect(ids.has(old)).toBe(false);
    expect(env.service.stats()).toMatchObject({ created: 2, open: 1 });
    // The pinned lease's work must not continue in the new session.
    const error = await pinned
      .api(`${SHEET}/range(address='A1')`)
      .get()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionClosedError);
    expect((error as SessionClosedError).reason).toBe('expired');
    for (const book of [...leases, pinned]) await book.close();
    // No lease sent a request with the expired id after Graph said it was gone.
    const afterExpiry = env.service.sessions().find((s) => s.id === old);
    expect(afterExpiry?.state).toBe('expired');
  });

  test('a pinned lease whose own call finds its session expired fails with SessionClosedError', async () => {
    env = await overHttp();
    const sessions = env.manager();
    const pinned = await sessions.acquire(BOOK_A, { onNewSession: 'fail' });
    expect(env.service.expireSession(pinned.id)).toBe(true);
    const error = await pinned
      .api('/worksheets')
      .get()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionClosedError);
    expect((error as SessionClosedError).reason).toBe('expired');
    // Not replayed in a new session for it.
    expect(env.service.stats().created).toBe(1);
    await pinned.close();
  });

  test('a lease used after its release fails with SessionClosedError; the session stays for the others', async () => {
    env = await overHttp();
    const sessions = env.manager();
    const a = await sessions.acquire(BOOK_A);
    const b = await sessions.acquire(BOOK_A);
    await a.close();
    await a.close();
    expect([a.state, a.closeReason]).toEqual(['closed', 'disposed']);
    const error = await a
      .api(`${SHEET}/range(address='A1')`)
      .get()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionClosedError);
    expect((error as SessionClosedError).reason).toBe('disposed');
    await expect(a.refresh()).rejects.toBeInstanceOf(SessionClosedError);
    expect(b.state).toBe('open');
    await unit(b, 1);
    expect(env.service.stats()).toMatchObject({ created: 1, closed: 0, open: 1 });
    await b.close();
  });

  test('a lease scope that throws gives its lease back and never closes the session under the others', async () => {
    env = await overHttp();
    const sessions = env.manager();
    const other = await sessions.acquire(BOOK_A);
    const failing = sessions.withSession(
      BOOK_A,
      async (book) => {
        expect(book.shared).toBe(true);
        await unit(book, 2);
        throw new Error('handler failed');
      },
      { shared: true },
    );
    await expect(failing).rejects.toThrow('handler failed');
    expect(other.state).toBe('open');
    await unit(other, 3);
    expect(sessions.stats()).toMatchObject({ leases: 1, open: 1 });
    expect(env.service.stats()).toMatchObject({ created: 1, closed: 0 });
    await other.close();
  });

  test('every name of one file shares its one shared session', async () => {
    env = await overHttp({ workbooks: {} });
    env.service.aliasDrive('/me/drive', 'D1');
    env.service.addWorkbook('/drives/D1/root:/Shared.xlsx:', { worksheets: { Sheet1: { cells: [[0]] } } });
    const sessions = env.manager();
    const a = await sessions.acquire('/me/drive/root:/Shared.xlsx:');
    const b = await sessions.acquire('/drives/D1/root:/Shared.xlsx:');
    expect(b.id).toBe(a.id);
    expect(env.service.stats().created).toBe(1);
    await a.close();
    await b.close();
  });

  test('acquire() after shutdown fails with ManagerShutDownError; so does a wait for the budget', async () => {
    env = await overHttp();
    const sessions = env.manager({ maxSessionsPerWorkbook: 1 });
    const held = await sessions.open(BOOK_A);
    const waiting = settle(sessions.open(BOOK_A));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const report = await sessions.shutdown();
    expect(report).toMatchObject({ closed: 1, leftOpen: 0 });
    const waited = await waiting;
    expect(waited.ok ? undefined : waited.error).toBeInstanceOf(ManagerShutDownError);
    await expect(sessions.acquire(BOOK_A)).rejects.toBeInstanceOf(ManagerShutDownError);
    expect(held.state).toBe('closed');
    expect(env.service.stats()).toMatchObject({ created: 1, open: 0 });
  });
});

describe('on fake timers (emulator behind msw)', () => {
  const { graph, manager, flush } = fakeTimeGraph();

  async function leaseBurst(sessions: SessionManager, count: number): Promise<void> {
    await Promise.all(
      Array.from({ length: count }, async (_, n) => {
        await using book = await sessions.acquire(BOOK_A);
        await unit(book, n);
      }),
    );
  }

  /** A waiting acquire resolved to a lease that serves a unit, then gave it back. */
  async function servesOnce(next: Promise<{ ok: true; value: WorkbookSession } | { ok: false; error: unknown }>) {
    const got = await next;
    expect(got.ok).toBe(true);
    if (!got.ok) return;
    await unit(got.value, 1);
    await got.value.close();
  }

  /** The next acquire gets a place at once: Graph makes its `created`-th session for it, which serves a unit. */
  async function nextAcquireCreates(sessions: SessionManager, created: number): Promise<void> {
    await using book = await sessions.acquire(BOOK_A);
    await unit(book, 1);
    expect(graph.service().stats()).toMatchObject({ created, open: 1 });
  }

  test('40 leases, then idle: exactly 1 createSession and, after idleTimeoutMs, 1 closeSession', async () => {
    const sessions = manager({ idleTimeoutMs: 60_000 });
    await leaseBurst(sessions, 40);
    expect(graph.service().stats()).toMatchObject({ created: 1, closed: 0, maxInFlightPerWorkbook: 1 });
    await vi.advanceTimersByTimeAsync(59_000);
    expect(graph.service().stats().closed).toBe(0);
    await vi.advanceTimersByTimeAsync(2_000);
    await flush();
    expect(graph.service().stats()).toMatchObject({ created: 1, closed: 1, open: 0 });
    expect(sessions.stats()).toMatchObject({ open: 0, leases: 0 });
    // The next caller gets a new session, the one before is not reused.
    await leaseBurst(sessions, 3);
    expect(graph.service().stats()).toMatchObject({ created: 2, closed: 1 });
  });

  test('a lease held past Graph’s expiry keeps the session alive and never lets it go idle', async () => {
    const sessions = manager({ idleTimeoutMs: 60_000, keepAliveIntervalMs: 240_000 });
    const book = await sessions.acquire(BOOK_A);
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    await flush();
    const stats = graph.service().stats();
    expect(stats).toMatchObject({ created: 1, closed: 0, expired: 0, open: 1 });
    expect(stats.refreshed).toBeGreaterThanOrEqual(2);
    await unit(book, 1);
    await book.close();
    await vi.advanceTimersByTimeAsync(61_000);
    await flush();
    expect(graph.service().stats()).toMatchObject({ closed: 1, open: 0 });
  });

  test('a budget wait ends at sessionBudgetTimeoutMs with SessionBudgetTimeoutError, or at its signal', async () => {
    const sessions = manager({ maxSessionsPerWorkbook: 1, sessionBudgetTimeoutMs: 5_000 });
    const held = await sessions.open(BOOK_A);
    const timedOut = settle(sessions.open(BOOK_A));
    const controller = new AbortController();
    const aborted = settle(sessions.open(BOOK_A, { signal: controller.signal }));
    await flush();
    expect(sessions.stats().budgetWaiting).toBe(2);
    controller.abort(new Error('caller gave up'));
    const gaveUp = await aborted;
    expect(gaveUp.ok ? undefined : (gaveUp.error as Error).message).toBe('caller gave up');
    await vi.advanceTimersByTimeAsync(5_000);
    const waited = await timedOut;
    const error = waited.ok ? undefined : waited.error;
    expect(error).toBeInstanceOf(SessionBudgetTimeoutError);
    expect((error as SessionBudgetTimeoutError).limit).toBe(1);
    expect(sessions.stats().budgetWaiting).toBe(0);
    // Nothing was created for either of them.
    expect(graph.service().stats().created).toBe(1);
    await held.close();
  });

  test('a shared create waiting for its budget place stops waiting once no acquire waits for it', async () => {
    const sessions = manager({ maxSessionsPerWorkbook: 1, sessionBudgetTimeoutMs: 60_000, idleTimeoutMs: 600_000 });
    const held = await sessions.open(BOOK_A);
    const first = new AbortController();
    const second = new AbortController();
    const waits = [first, second].map((c) => settle(sessions.acquire(BOOK_A, { signal: c.signal })));
    await flush();
    expect(sessions.stats()).toMatchObject({ budgetWaiting: 1, shared: 1, leases: 2 });
    // One of two gave up: the other still waits, and so does the create.
    first.abort(new Error('first gave up'));
    await flush();
    expect(sessions.stats()).toMatchObject({ budgetWaiting: 1, shared: 1, leases: 1 });
    second.abort(new Error('second gave up'));
    const [a, b] = await Promise.all(waits);
    expect(a?.ok === false && (a.error as Error).message).toBe('first gave up');
    expect(b?.ok === false && (b.error as Error).message).toBe('second gave up');
    await flush();
    // Nobody waits: the wait for the place ended, and nothing will take it when it frees.
    expect(sessions.stats()).toMatchObject({ budgetWaiting: 0, shared: 0, leases: 0 });
    await held.close();
    await flush();
    expect(graph.service().stats()).toMatchObject({ created: 1, closed: 1, open: 0 });
    // The next acquire starts again, and gets the place at once.
    await nextAcquireCreates(sessions, 2);
  });

  test('an acquire right after the last waiter gave up gets its own create, not that give-up', async () => {
    const sessions = manager({ maxSessionsPerWorkbook: 1, sessionBudgetTimeoutMs: 60_000 });
    const held = await sessions.open(BOOK_A);
    const controller = new AbortController();
    const gaveUp = settle(sessions.acquire(BOOK_A, { signal: controller.signal }));
    await flush();
    controller.abort(new Error('gave up'));
    // In the same turn, before the given-up create has settled.
    const next = settle(sessions.acquire(BOOK_A));
    expect((await gaveUp).ok).toBe(false);
    await flush();
    expect(sessions.stats()).toMatchObject({ budgetWaiting: 1, shared: 1, leases: 1 });
    await held.close();
    await servesOnce(next);
    expect(graph.service().stats()).toMatchObject({ created: 2, closed: 1, open: 1 });
  });

  test('a shared reopen waiting for its budget place stops waiting once its last lease is given back', async () => {
    const sessions = manager({ maxSessionsPerWorkbook: 1, sessionBudgetTimeoutMs: 60_000, idleTimeoutMs: 600_000 });
    const lease = await sessions.acquire(BOOK_A);
    const old = lease.id;
    expect(graph.service().expireSession(old)).toBe(true);
    // The expiry is found by this call; its new session waits for the place an open took meanwhile.
    const controller = new AbortController();
    const call = lease.api('/worksheets').get({ signal: controller.signal });
    const called = settle(call);
    const held = settle(sessions.open(BOOK_A));
    await flush();
    const heldOpen = await held;
    expect(heldOpen.ok).toBe(true);
    expect(sessions.stats().budgetWaiting).toBe(1);
    controller.abort(new Error('call given up'));
    expect((await called).ok).toBe(false);
    // The lease is still held: its session's reopen still waits.
    await flush();
    expect(sessions.stats().budgetWaiting).toBe(1);
    await lease.close();
    await flush();
    expect(sessions.stats()).toMatchObject({ budgetWaiting: 0, leases: 0 });
    if (heldOpen.ok) await heldOpen.value.close();
    await flush();
    // Nothing was created for the lease that left; the next lease reopens the shared session.
    expect(graph.service().stats()).toMatchObject({ created: 2, open: 0 });
    await using again = await sessions.acquire(BOOK_A);
    await unit(again, 2);
    expect(again.id).not.toBe(old);
    expect(graph.service().stats()).toMatchObject({ created: 3, open: 1 });
  });

  test('an acquire in the turn its reopen was given up waits for a reopen of its own', async () => {
    // Without a look-up of the file, acquire() reaches the session in the same turn.
    const sessions = manager({ maxSessionsPerWorkbook: 1, sessionBudgetTimeoutMs: 60_000, resolveWorkbooks: false });
    const lease = await sessions.acquire(BOOK_A);
    expect(graph.service().expireSession(lease.id)).toBe(true);
    const controller = new AbortController();
    const called = settle(lease.api('/worksheets').get({ signal: controller.signal }));
    const held = await sessions.open(BOOK_A);
    await flush();
    controller.abort(new Error('call given up'));
    expect((await called).ok).toBe(false);
    void lease.close();
    // In the same turn: given up by that release, whose rejection has not reached the reopen yet.
    const next = settle(sessions.acquire(BOOK_A));
    await flush();
    expect(sessions.stats()).toMatchObject({ budgetWaiting: 1, leases: 1 });
    await held.close();
    await servesOnce(next);
    expect(graph.service().stats()).toMatchObject({ created: 3, open: 1 });
  });

  test('a create already sent is never given up: the next acquire joins it, and Graph makes one session', async () => {
    const sessions = manager({ resolveWorkbooks: false });
    graph.service().injectFault({ route: 'createSession', delayMs: 5_000, count: 1 });
    const controller = new AbortController();
    const first = settle(sessions.acquire(BOOK_A, { signal: controller.signal }));
    await flush();
    expect(graph.service().stats().requestsByRoute.createSession).toBe(1);
    controller.abort(new Error('gave up'));
    expect((await first).ok).toBe(false);
    const next = settle(sessions.acquire(BOOK_A));
    await vi.advanceTimersByTimeAsync(5_000);
    const got = await next;
    expect(got.ok).toBe(true);
    if (got.ok) await got.value.close();
    expect(graph.service().stats()).toMatchObject({ created: 1, open: 1 });
    expect(sessions.stats()).toMatchObject({ shared: 1, open: 1 });
  });

  test('a place granted in the turn its acquire gave up goes back: nothing is created for nobody', async () => {
    const sessions = manager({ maxSessionsPerWorkbook: 1, sessionBudgetTimeoutMs: 60_000, idleTimeoutMs: 600_000 });
    const held = await sessions.open(BOOK_A);
    const controller = new AbortController();
    const waiting = settle(sessions.acquire(BOOK_A, { signal: controller.signal }));
    await flush();
    expect(sessions.stats().budgetWaiting).toBe(1);
    // The held session's end grants its place to the waiting acquire; in the same turn, it gives up.
    sessions.on('closed', () => controller.abort(new Error('gave up')));
    await held.close();
    expect((await waiting).ok).toBe(false);
    await flush();
    expect(graph.service().stats()).toMatchObject({ created: 1, open: 0 });
    // The place is free for the next caller at once.
    await nextAcquireCreates(sessions, 2);
  });

  test('a call waiting for its reopen still gets the session when its lease is given back meanwhile', async () => {
    const sessions = manager({ maxSessionsPerWorkbook: 1, sessionBudgetTimeoutMs: 60_000 });
    const lease = await sessions.acquire(BOOK_A);
    expect(graph.service().expireSession(lease.id)).toBe(true);
    const called = settle(lease.api('/worksheets').get());
    const held = await sessions.open(BOOK_A);
    await flush();
    expect(sessions.stats().budgetWaiting).toBe(1);
    await lease.close();
    await flush();
    // The call still waits for the reopen: it is not given up under it.
    expect(sessions.stats().budgetWaiting).toBe(1);
    await held.close();
    const result = await called;
    expect(result.ok).toBe(true);
    expect(graph.service().stats()).toMatchObject({ created: 3, open: 1 });
  });

  test('reopens given up before anything was sent do not count towards MAX_RECREATES_IN_A_ROW', async () => {
    const sessions = manager({ maxSessionsPerWorkbook: 1, sessionBudgetTimeoutMs: 60_000, resolveWorkbooks: false });
    const first = await sessions.acquire(BOOK_A);
    expect(graph.service().expireSession(first.id)).toBe(true);
    const call = new AbortController();
    const called = settle(first.api('/worksheets').get({ signal: call.signal }));
    const held = await sessions.open(BOOK_A);
    await flush();
    call.abort(new Error('gave up'));
    await called;
    await first.close();
    // Three more reopens of the expired session, each given up while it waits for the place.
    for (let n = 0; n < MAX_RECREATES_IN_A_ROW; n++) {
      const controller = new AbortController();
      const waiting = settle(sessions.acquire(BOOK_A, { signal: controller.signal }));
      await flush();
      expect(sessions.stats().budgetWaiting).toBe(1);
      controller.abort(new Error('gave up'));
      expect((await waiting).ok).toBe(false);
    }
    await held.close();
    const lease = await sessions.acquire(BOOK_A);
    // One real recreate so far: an expiry of the new session still moves the lease on.
    expect(graph.service().expireSession(lease.id)).toBe(true);
    await unit(lease, 1);
    expect(graph.service().stats()).toMatchObject({ created: 4, expired: 2 });
    await lease.close();
  });

  test('a shared session whose close fails is reported once, not once per lease', async () => {
    const sessions = manager({ idleTimeoutMs: 60_000, retries: 0 });
    const failures: string[] = [];
    sessions.on('closeFailed', (e) => failures.push(e.reason));
    await leaseBurst(sessions, 10);
    graph.service().injectFault({ route: 'closeSession', count: 1, status: 403, code: 'accessDenied' });
    await vi.advanceTimersByTimeAsync(61_000);
    await flush();
    expect(failures).toEqual(['idle']);
    expect(sessions.stats()).toMatchObject({ closeFailed: 1 });
    const report = await sessions.shutdown();
    expect(report).toMatchObject({ closed: 1, leftOpen: 0 });
  });
});

describe('bad input', () => {
  const { manager } = fakeTimeGraph();

  test('a budget of 0, negative or not an integer is a RangeError naming it', () => {
    for (const bad of [0, -1, 1.5]) {
      expect(() => manager({ maxSessionsPerWorkbook: bad })).toThrow(RangeError);
      expect(() => manager({ maxSessionsPerWorkbook: bad })).toThrow(/maxSessionsPerWorkbook/);
    }
    expect(() => manager({ maxSessionsPerWorkbook: '3' as never })).toThrow(TypeError);
    expect(() => manager({ sessionBudgetTimeoutMs: -1 })).toThrow(/sessionBudgetTimeoutMs/);
  });

  test('only persistent sessions are shared; acquire options are checked', async () => {
    const sessions = manager();
    await expect(sessions.open(BOOK_A, { shared: true, persistChanges: false })).rejects.toThrow(
      /`persistChanges` to be true with `shared`/,
    );
    await expect(sessions.acquire(BOOK_A, { onNewSession: 'move' as never })).rejects.toThrow(/onNewSession/);
    await expect(sessions.acquire(BOOK_A, { persistChanges: false } as never)).rejects.toThrow(
      /Unknown acquire option `persistChanges`/,
    );
    await expect(sessions.acquire('https://graph.microsoft.com/v1.0/me/drive/items/A')).rejects.toThrow(TypeError);
  });
});
