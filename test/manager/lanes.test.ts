// Lanes: one workbook at a time (or perWorkbookConcurrency), a global limit, and one lane per file under all its names.

import { afterEach, beforeEach, describe, expect, test, vi, afterAll } from 'vitest';
import { GraphRequestError, SessionClosedError, type SessionManager } from '../../src/index.js';
import { BOOK_A, BOOK_B, BOOK_C, BOOK_D, overHttp, settle, fakeTimeGraph } from '../helpers/graph.js';
import { SessionManager as Manager } from '../../src/manager/session-manager.js';
import type { WorkbookFile } from '../../src/testing/index.js';
import { WorkbookResolver, fileKey, parseWorkbookRef } from '../../src/transport/workbook-ref.js';
import { startBadServer, type BadServer } from '../helpers/bad-server.js';
import { createBearerClient } from '../../src/transport/graph-client.js';
import { removeTempDirs } from '../fixtures/journal-spawn.js';
import { DRIVE, ROOT_PATH, SHEET, emulatorWithOneFile } from '../helpers/one-file.js';

describe('over HTTP (emulator)', () => {
  // Scenarios through the real Graph client against the emulator over HTTP on loopback.
  let env: Awaited<ReturnType<typeof overHttp>>;

  afterEach(async () => {
    await env.close();
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
});

describe('over HTTP (emulator): a refresh behind a busy lane', () => {
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  /** Polls (real time) until `check` is true, for at most `ms`. */
  async function until(check: () => boolean, ms = 3000): Promise<void> {
    const end = Date.now() + ms;
    while (!check()) {
      if (Date.now() > end) throw new Error('condition not reached in time');
      await sleep(5);
    }
  }

  let env: Awaited<ReturnType<typeof overHttp>>;

  beforeEach(async () => {
    env = await overHttp();
  });

  afterEach(async () => {
    await env.close();
  });

  // Regression guard: a refresh overtaken in its lane by a close is not sent on the closed session.
  test('refresh() queued behind a busy lane is not sent after a close that overtook it', async () => {
    const { service } = env;
    const sessions = env.manager();
    const first = await sessions.open(BOOK_A);
    const second = await sessions.open(BOOK_A);
    service.injectFault({ workbook: BOOK_A, route: 'worksheets', delayMs: 300 });
    const busy = settle(second.api('/worksheets').get());
    await until(() => service.stats().requestsByRoute.worksheets === 1);
    const refreshed = settle(first.refresh());
    const closed = first.close();
    await closed;
    const outcome = await refreshed;
    await busy;
    // No refreshSession reached the server after the close (a 404 on a closed session).
    expect(service.stats().requestsByRoute.refreshSession - service.stats().refreshed).toBe(0);
    expect(outcome.ok).toBe(false);
    expect(outcome.ok ? undefined : outcome.error).toBeInstanceOf(SessionClosedError);
  });
});

describe('on fake timers (emulator behind msw)', () => {
  // Time-based behaviour, in process through msw, on vitest's fake clock.
  const { graph, manager, flush } = fakeTimeGraph();

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

  describe('a request on the wire holds its lane', () => {
    test(
      'request(): a call aborted after it was sent rejects ' + 'at once, but the next call waits for its answer',
      async () => {
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
      },
    );
  });
});

describe('one file, one lane, under every name', () => {
  type Env = Awaited<ReturnType<typeof overHttp>>;

  let env: Env | undefined;

  let bad: BadServer | undefined;

  afterAll(removeTempDirs);

  afterEach(async () => {
    await env?.close();
    env = undefined;
    await bad?.close();
    bad = undefined;
  });

  /** {@link emulatorWithOneFile}, kept in `env` to be closed after the test. */
  async function oneFile(options: Parameters<typeof overHttp>[0] = {}): Promise<{ env: Env; file: WorkbookFile }> {
    const setup = await emulatorWithOneFile(options);
    env = setup.env;
    return setup;
  }

  /** `count` calls at once through each handle, all of them on one file. */
  async function callsAtOnce(
    handles: readonly { api: (p: string) => { get: () => Promise<unknown> } }[],
    count: number,
  ): Promise<void> {
    await Promise.all(
      handles.flatMap((h) => Array.from({ length: count }, () => h.api(`${SHEET}/range(address='A1')`).get())),
    );
  }

  describe('one file, one lane (emulator over HTTP, 15 ms latency)', () => {
    const LATENCY = { latency: { fixedMs: 15 } };

    test('two spellings of one root path: maxInFlightPerWorkbook 1', async () => {
      const { env } = await oneFile(LATENCY);
      const sessions = env.manager();
      const a = await sessions.open('/me/drive/root:/Reports/Q1 Sales.xlsx:');
      const b = await sessions.open('/me/drive/root:/reports/Q1%20Sales.xlsx:');
      env.service.resetStats();
      await callsAtOnce([a, b], 3);
      expect(env.service.stats()).toMatchObject({ maxInFlightPerWorkbook: 1, cooldownViolations: 0 });
    });

    test('two spellings share a lane even with resolveWorkbooks off (no GET {item} sent)', async () => {
      const { env } = await oneFile(LATENCY);
      const sessions = env.manager({ resolveWorkbooks: false });
      const a = await sessions.open('/me/drive/root:/Reports/Q1 Sales.xlsx:');
      const b = await sessions.open('/me/drive/root:/Reports/Q1%20Sales.xlsx:');
      await callsAtOnce([a, b], 3);
      expect(env.service.stats()).toMatchObject({ maxInFlightPerWorkbook: 1, requestsByRoute: { item: 0 } });
    });

    test('id and path, and two drives, of one file: maxInFlightPerWorkbook 1', async () => {
      const { env, file } = await oneFile(LATENCY);
      const sessions = env.manager();
      const handles = await Promise.all([
        sessions.open(`/me/drive/items/${file.itemId}`),
        sessions.open(`/drives/${DRIVE}/items/${file.itemId}`),
        sessions.open(`/groups/G1/drive/root:${ROOT_PATH}:`),
      ]);
      env.service.resetStats();
      const calls = callsAtOnce(handles, 3);
      await new Promise<void>((resolve) => setImmediate(resolve));
      // The manager's own view: one lane, one request in it at a time.
      expect(sessions.stats()).toMatchObject({ lanes: 1, inFlight: 1 });
      await calls;
      expect(env.service.stats()).toMatchObject({ maxInFlightPerWorkbook: 1, cooldownViolations: 0 });
    });

    test('with resolveWorkbooks off, id and path of one file are two lanes (what resolving prevents)', async () => {
      const { env, file } = await oneFile(LATENCY);
      const sessions = env.manager({ resolveWorkbooks: false });
      const handles = await Promise.all([
        sessions.open(`/me/drive/items/${file.itemId}`),
        sessions.open(`/drives/${DRIVE}/items/${file.itemId}`),
      ]);
      env.service.resetStats();
      await callsAtOnce(handles, 3);
      expect(env.service.stats().maxInFlightPerWorkbook).toBe(2);
    });

    test("a Retry-After on one name holds the file's other names too: cooldownViolations 0", async () => {
      const { env, file } = await oneFile(LATENCY);
      const sessions = env.manager();
      const byPath = await sessions.open('/me/drive/root:/Reports/Q1 Sales.xlsx:');
      const bySpelling = await sessions.open('/me/drive/root:/Reports/Q1%20Sales.xlsx:');
      const byId = await sessions.open(`/drives/${DRIVE}/items/${file.itemId}`);
      env.service.resetStats();
      env.service.injectFault({
        workbook: `/me/drive/root:${ROOT_PATH}:`,
        route: 'range',
        status: 429,
        retryAfterSeconds: 1,
      });
      const first = byPath.api(`${SHEET}/range(address='A1')`).get();
      await callsAtOnce([bySpelling, byId], 2);
      await first;
      expect(env.service.stats()).toMatchObject({
        faultsInjected: 1,
        cooldownViolations: 0,
        maxInFlightPerWorkbook: 1,
      });
    });
  });

  describe('resolving a reference to its file', () => {
    test(
      'GET {item} is sent once per reference: concurrent ' + 'opens share it, later opens and spellings reuse it',
      async () => {
        const { env, file } = await oneFile();
        const sessions = env.manager();
        const first = await Promise.all(
          Array.from({ length: 4 }, () => sessions.open('/me/drive/root:/Reports/Q1 Sales.xlsx:')),
        );
        expect(env.service.stats().requestsByRoute.item).toBe(1);
        const later = [
          await sessions.open('/me/drive/root:/Reports/Q1 Sales.xlsx:'),
          await sessions.open('/me/drive/root:/REPORTS/q1%20sales.xlsx:'),
        ];
        expect(env.service.stats().requestsByRoute.item).toBe(1);
        // Another reference of the file is asked about once too.
        later.push(
          await sessions.open(`/me/drive/items/${file.itemId}`),
          await sessions.open(`/me/drive/items/${file.itemId}`),
        );
        expect(env.service.stats().requestsByRoute.item).toBe(2);
        await Promise.all([...first, ...later].map((h) => h.close()));
        expect(env.service.stats()).toMatchObject({ created: 8, open: 0 });
      },
    );

    test('a reference Graph cannot find fails open() with its 404 and sends no createSession', async () => {
      const { env } = await oneFile();
      const sessions = env.manager();
      const error = await sessions.open('/me/drive/root:/Missing.xlsx:').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GraphRequestError);
      expect(error).toMatchObject({
        status: 404,
        graphCode: 'itemNotFound',
        method: 'GET',
        path: '/me/drive/root:/Missing.xlsx:',
      });
      expect(env.service.stats().requestsByRoute.createSession).toBe(0);
      // A failure is not remembered: the next open asks again.
      await sessions.open('/me/drive/root:/Missing.xlsx:').catch(() => undefined);
      expect(env.service.stats().requestsByRoute.item).toBe(2);
    });

    test('an answer without id and parentReference.driveId fails open() as malformed, no createSession', async () => {
      bad = await startBadServer({
        override: (r) => (r.url.includes('/workbook') ? undefined : Response.json({ id: 'A' })),
      });
      const sessions = new Manager({
        client: createBearerClient({ baseUrl: bad.url, token: bad.token }),
        exitHooks: false,
      });
      const error = await sessions.open('/me/drive/items/A').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GraphRequestError);
      expect((error as GraphRequestError).kind).toBe('malformed');
      expect((error as Error).message).toBe(
        'GET /me/drive/items/A failed: malformed: the answer names no `id` and ' +
          '`parentReference.driveId`, so the file behind this workbook reference is unknown',
      );
      expect(bad.requests.map((r) => r.url)).toEqual(['/v1.0/me/drive/items/A?$select=id,parentReference']);
      await sessions.shutdown();
    });

    test('an open aborted during the look-up sends no createSession', async () => {
      const { env } = await oneFile({ latency: { fixedMs: 40 } });
      const sessions: SessionManager = env.manager();
      const controller = new AbortController();
      const opening = settle(sessions.open(`/me/drive/root:${ROOT_PATH}:`, { signal: controller.signal }));
      setTimeout(() => controller.abort(new Error('caller gave up')), 10);
      const result = await opening;
      expect(result).toMatchObject({ ok: false, error: { message: 'caller gave up' } });
      await sessions.shutdown();
      expect(env.service.stats()).toMatchObject({ created: 0, requestsByRoute: { item: 1, createSession: 0 } });
    });

    test('WorkbookResolver.laneOf gives every name of a resolved file one lane', async () => {
      const asked: string[] = [];
      const resolver = new WorkbookResolver((path) => {
        asked.push(path);
        return Promise.resolve({ id: 'X', parentReference: { driveId: 'D' } });
      });
      const byPath = parseWorkbookRef('/me/drive/root:/Book.xlsx:');
      expect(resolver.laneOf(byPath.path)).toBe(byPath.key);
      await resolver.resolve(byPath);
      await resolver.resolve(parseWorkbookRef('/me/drive/items/X'));
      const lane = fileKey({ driveId: 'D', itemId: 'X' });
      expect(lane).toBe('/drives/d/items/x');
      // Graph has answered one drive's ids in either case: both give the one lane.
      expect(fileKey({ driveId: 'd', itemId: 'x' })).toBe(lane);
      expect(resolver.laneOf(byPath.path)).toBe(lane);
      expect(resolver.laneOf('/me/drive/root:/BOOK.xlsx:')).toBe(lane);
      expect(resolver.laneOf('/me/drive/items/X')).toBe(lane);
      expect(resolver.laneOf('/me/drive/items/Y')).toBe('/me/drive/items/Y');
      expect(asked).toEqual(['/me/drive/root:/Book.xlsx:', '/me/drive/items/X']);
    });
  });
});
