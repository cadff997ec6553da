import fc from 'fast-check';
import { http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import {
  SessionManager,
  createBearerClient,
  isManagerShutDownError,
  isSessionClosedError,
  isSessionExpiredError,
  type CloseReason,
  type WorkbookSession,
} from '../../src/index.js';
import { WorkbookService, type RouteName } from '../../src/testing/index.js';
import { createEmulatorHandlers } from '../../src/testing/msw.js';

// Model-based: random interleavings of open, calls, throws inside scopes, close, double close, idle
// expiry, server-side expiry, faults and shutdown, run in process (msw) on a fake clock and checked
// against a simple model of what each handle should do, and against the emulator's own counters.

const ORIGIN = 'https://graph.microsoft.com';
const WORKBOOKS = ['/me/drive/items/M0', '/me/drive/items/M1', '/me/drive/items/M2'];
const IDLE_MS = 60_000;
const NUM_RUNS = Number(process.env['MODEL_RUNS'] ?? 200);
// What the runs exercised, summed over all of them: printed at the end, so a weak run shows.
const seen = {
  ops: {} as Record<string, number>,
  retries: 0,
  reopened: 0,
  expired: 0,
  idleClosed: 0,
  staleOnExpired: 0,
};

type Op =
  | { t: 'open'; wb: number; persist: boolean }
  | { t: 'call'; h: number; kind: 'get' | 'patch' | 'post' }
  | { t: 'throwInScope'; wb: number; persist: boolean }
  | { t: 'close'; h: number }
  | { t: 'doubleClose'; h: number }
  | { t: 'idle' }
  | { t: 'serverExpire'; h: number }
  | { t: 'fault'; wb: number; fault: '429' | '503' | '504' | 'drop'; route: RouteName }
  | { t: 'burst'; wb: number; calls: number }
  | { t: 'shutdown' };

const handleIndex = fc.nat({ max: 20 });
const wbIndex = fc.nat({ max: WORKBOOKS.length - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('open' as const), wb: wbIndex, persist: fc.boolean() }) },
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('call' as const),
      h: handleIndex,
      kind: fc.constantFrom('get' as const, 'patch' as const, 'post' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('throwInScope' as const), wb: wbIndex, persist: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('close' as const), h: handleIndex }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('doubleClose' as const), h: handleIndex }) },
  { weight: 1, arbitrary: fc.constant({ t: 'idle' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('serverExpire' as const), h: handleIndex }) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      // Throttling is retried for any method: any route.
      fc.record({
        t: fc.constant('fault' as const),
        wb: wbIndex,
        fault: fc.constantFrom('429' as const, '503' as const),
        route: fc.constantFrom<RouteName>('createSession', 'closeSession', 'worksheets', 'range', 'tableRowsAdd'),
      }),
      // 504 and dropped connections are retried only where repeating is harmless.
      fc.record({
        t: fc.constant('fault' as const),
        wb: wbIndex,
        fault: fc.constantFrom('504' as const, 'drop' as const),
        route: fc.constantFrom<RouteName>('createSession', 'closeSession', 'worksheets'),
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('burst' as const), wb: wbIndex, calls: fc.integer({ min: 2, max: 4 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'shutdown' as const }) },
);

interface HandleModel {
  readonly book: WorkbookSession;
  readonly workbook: string;
  readonly persist: boolean;
  state: 'open' | 'closed';
  reason: CloseReason | undefined;
  /** The server forgot it (expireSession) and the handle does not know yet. */
  serverExpired: boolean;
  /** Closed by its user: it never reopens after that. */
  disposed?: boolean;
}

const msw = setupServer();
beforeAll(() => msw.listen({ onUnhandledRequest: 'error' }));
afterAll(() => msw.close());

/** Lets in-process requests and their promise chains run, moving the fake clock in small steps. */
async function drive<T>(
  promise: Promise<T>,
  what: string,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let result: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  promise.then(
    (value) => (result = { ok: true, value }),
    (error: unknown) => (result = { ok: false, error }),
  );
  // Bounded: 30 s of fake time. A hang is a failure, not a stuck test.
  for (let i = 0; i < 3000 && result === undefined; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (result === undefined) await vi.advanceTimersByTimeAsync(10);
  }
  if (result === undefined) throw new Error(`${what} did not settle within 30 s of fake time`);
  return result;
}

async function runModel(ops: readonly Op[], perWorkbookConcurrency: number, seed: number): Promise<void> {
  const service = new WorkbookService({
    workbooks: Object.fromEntries(
      WORKBOOKS.map((w) => [w, { worksheets: { Sheet1: { cells: [[1, 2]], tables: { T: { columns: ['a'] } } } } }]),
    ),
    seed,
  });
  // Requests carrying the id of a session the server no longer has open, by how it ended.
  const staleOnClosed: string[] = [];
  const staleOnExpired = new Set<string>();
  msw.resetHandlers(
    http.all(`${ORIGIN}/*`, ({ request }) => {
      const id = request.headers.get('workbook-session-id');
      if (id !== null) {
        const state = service.sessions().find((s) => s.id === id)?.state;
        if (state === 'closed') staleOnClosed.push(`${request.method} ${new URL(request.url).pathname}`);
        if (state === 'expired') staleOnExpired.add(id);
      }
      return undefined;
    }),
    ...createEmulatorHandlers(service),
  );
  const manager = new SessionManager({
    client: createBearerClient({ baseUrl: ORIGIN, token: service.token }),
    exitHooks: false,
    perWorkbookConcurrency,
    retries: 5,
    retryBaseDelayMs: 10,
    retryMaxDelayMs: 50,
    retryDeadlineMs: 60_000,
    idleTimeoutMs: IDLE_MS,
  });

  manager.on('retried', () => void seen.retries++);
  manager.on('closed', (e) => void (e.reason === 'idle' && seen.idleClosed++));
  const handles: HandleModel[] = [];
  // Session ids the model expects a request on after the server expired them.
  const expectedStale = new Set<string>();
  let shutDown = false;
  let reopens = 0;
  let faults = 0;
  let throttles = 0;
  const pick = (h: number): HandleModel | undefined => handles[h % Math.max(1, handles.length)];

  /** What one call on a handle should do, applied to the model; returns the expected failure, if any. */
  const expectCall = (m: HandleModel): ((error: unknown) => boolean) | undefined => {
    if (m.state === 'open' && !m.serverExpired) return undefined;
    if (m.state === 'open' && m.serverExpired) {
      expectedStale.add(m.book.id);
      m.serverExpired = false;
      if (m.persist) {
        reopens++;
        return undefined;
      }
      m.state = 'closed';
      m.reason = 'expired';
      return isSessionExpiredError;
    }
    if (m.reason === 'idle' && m.persist && !shutDown && m.disposed !== true) {
      reopens++;
      m.state = 'open';
      m.reason = undefined;
      return undefined;
    }
    const reason = m.reason;
    return (error) => isSessionClosedError(error) && error.reason === reason;
  };

  const call = (book: WorkbookSession, kind: 'get' | 'patch' | 'post'): Promise<unknown> =>
    kind === 'get'
      ? book.api('/worksheets').get()
      : kind === 'patch'
        ? book.api("/worksheets('Sheet1')/range(address='A1')").patch({ values: [[7]] })
        : book.api("/tables('T')/rows/add").post({ values: [['x']] });

  const closeModel = (m: HandleModel, reason: CloseReason): void => {
    if (m.state !== 'open') return;
    if (m.serverExpired) expectedStale.add(m.book.id);
    m.serverExpired = false;
    m.state = 'closed';
    m.reason = reason;
  };

  for (const op of ops) {
    seen.ops[op.t] = (seen.ops[op.t] ?? 0) + 1;
    switch (op.t) {
      case 'open': {
        const r = await drive(manager.open(WORKBOOKS[op.wb] as string, { persistChanges: op.persist }), 'open');
        if (shutDown) {
          expect(r.ok === false && isManagerShutDownError(r.error)).toBe(true);
          break;
        }
        if (!r.ok) throw r.error;
        handles.push({
          book: r.value,
          workbook: WORKBOOKS[op.wb] as string,
          persist: op.persist,
          state: 'open',
          reason: undefined,
          serverExpired: false,
        });
        break;
      }
      case 'call': {
        const m = pick(op.h);
        if (m === undefined) break;
        const expected = expectCall(m);
        const r = await drive(call(m.book, op.kind), `${op.kind} call`);
        if (expected === undefined) {
          if (!r.ok) throw r.error;
        } else {
          expect(r.ok, `a ${op.kind} on a handle the model holds closed (${m.reason}) succeeded`).toBe(false);
          if (!r.ok) expect(expected(r.error), `unexpected error: ${String(r.error)}`).toBe(true);
        }
        expect(m.book.state).toBe(m.state);
        break;
      }
      case 'throwInScope': {
        const thrown = new Error('thrown inside the scope');
        let inside: WorkbookSession | undefined;
        const r = await drive(
          manager.withSession(
            WORKBOOKS[op.wb] as string,
            async (book) => {
              inside = book;
              await book.api('/worksheets').get();
              throw thrown;
            },
            { persistChanges: op.persist },
          ),
          'withSession',
        );
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.error).toBe(shutDown ? r.error : thrown);
        if (shutDown) expect(!r.ok && isManagerShutDownError(r.error)).toBe(true);
        else expect(inside?.state).toBe('closed');
        break;
      }
      case 'close':
      case 'doubleClose': {
        const m = pick(op.h);
        if (m === undefined) break;
        const first = m.book.close();
        if (op.t === 'doubleClose') expect(m.book.close()).toBe(first);
        const r = await drive(first, 'close');
        if (!r.ok) throw r.error;
        // Disposing a handle the reaper had closed makes it the user's close: no reopening after it.
        if (m.state === 'closed' && m.reason === 'idle') m.reason = 'disposed';
        m.disposed = true;
        closeModel(m, 'disposed');
        expect(m.book.state).toBe('closed');
        break;
      }
      case 'idle': {
        await vi.advanceTimersByTimeAsync(IDLE_MS + 1000);
        const r = await drive(
          (async () => {
            while (manager.stats().open + manager.stats().closing > 0)
              await new Promise<void>((resolve) => setImmediate(resolve));
          })(),
          'idle closes',
        );
        if (!r.ok) throw r.error;
        for (const m of handles) closeModel(m, 'idle');
        break;
      }
      case 'serverExpire': {
        const m = pick(op.h);
        if (m === undefined) break;
        const expired = service.expireSession(m.book.id);
        expect(expired).toBe(m.state === 'open' && !m.serverExpired);
        if (expired) m.serverExpired = true;
        break;
      }
      case 'fault': {
        // At most four scripted faults a run, so that no request can meet more than its retries allow.
        if (faults >= 4) break;
        faults++;
        if (op.fault === '429' || op.fault === '503') throttles++;
        const workbook = WORKBOOKS[op.wb] as string;
        service.injectFault(
          op.fault === 'drop'
            ? { workbook, route: op.route, drop: true }
            : {
                workbook,
                route: op.route,
                status: Number(op.fault),
                ...(op.fault === '504' ? {} : { retryAfterSeconds: 1 }),
              },
        );
        break;
      }
      case 'burst': {
        // Parallel calls on every healthy open handle of one workbook: the lane must keep them in line.
        const targets = handles.filter(
          (m) => m.workbook === WORKBOOKS[op.wb] && m.state === 'open' && !m.serverExpired,
        );
        const calls = targets.flatMap((m) =>
          Array.from({ length: op.calls }, (_, i) => call(m.book, i % 2 === 0 ? 'get' : 'post')),
        );
        const r = await drive(Promise.all(calls), 'burst');
        if (!r.ok) throw r.error;
        break;
      }
      case 'shutdown': {
        if (shutDown) break;
        const r = await drive(manager.shutdown(), 'shutdown');
        if (!r.ok) throw r.error;
        expect(r.value).toMatchObject({ leftOpen: 0, failed: 0, timedOut: false });
        for (const m of handles) closeModel(m, 'shutdown');
        shutDown = true;
        break;
      }
    }
    for (const m of handles) expect(m.book.state, `handle state after ${op.t}`).toBe(m.state);
  }

  if (!shutDown) {
    const r = await drive(manager.shutdown(), 'final shutdown');
    if (!r.ok) throw r.error;
    expect(r.value).toMatchObject({ leftOpen: 0, failed: 0, timedOut: false });
    for (const m of handles) closeModel(m, 'shutdown');
  }

  const stats = service.stats();
  const totals = manager.stats().totals;
  // After shutdown nothing is open on the server.
  expect(stats.open).toBe(0);
  // Each created session was closed once or counted as expired, and the manager's books agree.
  expect(stats.created).toBe(stats.closed + stats.expired);
  expect(totals.opened + totals.reopened).toBe(stats.created);
  expect(totals.closed).toBe(stats.closed);
  expect(totals.expired).toBe(stats.expired);
  expect(totals.reopened).toBe(reopens);
  seen.reopened += totals.reopened;
  seen.expired += totals.expired;
  seen.staleOnExpired += staleOnExpired.size;
  // No request on a session after its close; after a server-side expiry, only where the model expects one.
  expect(staleOnClosed).toEqual([]);
  expect([...staleOnExpired].sort()).toEqual([...expectedStale].sort());
  // The lanes held.
  expect(stats.maxInFlightPerWorkbook).toBeLessThanOrEqual(perWorkbookConcurrency);
  // With one request at a time nothing reaches a workbook inside its cooldown. With two, the request
  // already on the wire when the other's 429/503 arrives cannot be called back: at most one per throttle.
  if (perWorkbookConcurrency === 1) expect(stats.cooldownViolations).toBe(0);
  else expect(stats.cooldownViolations).toBeLessThanOrEqual(throttles * (perWorkbookConcurrency - 1));
}

test(`model: random interleavings keep every invariant (${NUM_RUNS} runs)`, { timeout: 120_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { minLength: 10, maxLength: 40, size: 'max' }),
      fc.constantFrom(1, 2),
      fc.integer({ min: 1, max: 1_000_000 }),
      async (ops, lanes, seed) => {
        vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
        try {
          await runModel(ops, lanes, seed);
        } finally {
          vi.useRealTimers();
        }
      },
    ),
    {
      numRuns: NUM_RUNS,
      ...(process.env['MODEL_SEED'] === undefined ? {} : { seed: Number(process.env['MODEL_SEED']) }),
    },
  );
  console.log(`model: ${NUM_RUNS} runs exercised ${JSON.stringify(seen)}`);
  // The runs did what they claim.
  expect(seen.retries).toBeGreaterThan(0);
  expect(seen.reopened).toBeGreaterThan(0);
  expect(seen.expired).toBeGreaterThan(0);
  expect(seen.idleClosed).toBeGreaterThan(0);
});
