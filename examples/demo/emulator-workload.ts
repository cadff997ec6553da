/**
 * The demo's workload against the embedded emulator: writers in `await using` scopes on several
 * workbooks, one that throws, injected 429s and 503s, a long-running createSession, an idle close,
 * a session the server forgets, a burst of requests sharing one session, and a shutdown as on SIGTERM.
 */
import { once } from 'node:events';
import { SessionManager, createBearerClient, shortId, type ShutdownReport } from '../../src/index.js';
import { type RunningEmulator, type WorkbookSeed, startEmulator } from '../../src/testing/index.js';
import { runBurst } from './burst.js';
import type { Progress } from './progress.js';
import { type DemoSummary, type ServerWorkbookCounts, summarise } from './summary.js';

export const IDLE_TIMEOUT_MS = 1_500;
export const PER_WORKBOOK_CONCURRENCY = 1;

const BOOKS = {
  sales: '/me/drive/items/01SALES',
  stock: '/me/drive/items/02STOCK',
  budget: '/me/drive/root:/Finance/Budget.xlsx:',
  report: '/me/drive/items/04REPORT',
  orders: '/me/drive/items/06ORDERS',
} as const;
/** On a second emulator whose createSession is long-running (202, then polling). */
const ARCHIVE = '/me/drive/items/05ARCHIVE';

const ordersBook = (): WorkbookSeed => ({
  worksheets: {
    Orders: { tables: { Orders: { columns: ['writer', 'line', 'qty'] } } },
    Notes: { cells: [['quarter', 'Q3']] },
  },
});

const WRITERS_PER_BOOK = 3;
const ROWS_PER_WRITER = 2;
/** Requests at once on orders, each with its own lease on the one shared session. */
export const BURST_REQUESTS = 30;

export async function runEmulatorDemo(progress: Progress): Promise<DemoSummary> {
  const started = Date.now();
  const emulators: RunningEmulator[] = [];
  const managers: SessionManager[] = [];
  try {
    const main = await startEmulator({
      workbooks: Object.fromEntries(Object.values(BOOKS).map((path) => [path, ordersBook()])),
      latency: { fixedMs: 10, jitterMs: 10 },
      seed: 7,
    });
    emulators.push(main);
    const slow = await startEmulator({
      workbooks: { [ARCHIVE]: ordersBook() },
      asyncCreate: { rate: 1, durationMs: 1_500 },
      latency: { fixedMs: 10 },
      seed: 8,
    });
    emulators.push(slow);
    for (const [name, path] of Object.entries(BOOKS)) progress.label(path, name);
    progress.label(ARCHIVE, 'archive');
    progress.note(`live page, open it while the demo runs: ${main.url}/_emulator/#token=${main.token}`);

    // exitHooks stay on (the default): Ctrl-C during the demo closes the sessions too.
    const sessions = new SessionManager({
      client: createBearerClient({ baseUrl: main.url, token: main.token }),
      idleTimeoutMs: IDLE_TIMEOUT_MS,
      perWorkbookConcurrency: PER_WORKBOOK_CONCURRENCY,
    });
    const archive = new SessionManager({
      client: createBearerClient({ baseUrl: slow.url, token: slow.token }),
      idleTimeoutMs: IDLE_TIMEOUT_MS,
      pollIntervalMs: 250,
    });
    managers.push(sessions, archive);
    progress.watch(sessions);
    progress.watch(archive);
    const service = main.service;

    // ---- 1. Writers --------------------------------------------------------------------------------
    progress.step(
      `1. ${WRITERS_PER_BOOK} writers on each of sales, stock and budget, each in an \`await using\` scope; ` +
        'one more on sales throws half-way',
    );
    service.injectFault({ workbook: BOOKS.sales, route: 'tableRowsAdd', count: 2, status: 429, retryAfterSeconds: 1 });
    service.injectFault({ workbook: BOOKS.stock, route: 'createSession', count: 1, status: 503, retryAfterSeconds: 1 });
    service.injectFault({ workbook: BOOKS.budget, route: 'tableRowsAdd', count: 1, status: 503, retryAfterSeconds: 1 });
    progress.note(
      'faults waiting: 2 x 429 on sales rows/add, 503 on stock createSession, ' +
        '503 on budget rows/add (Retry-After: 1 s)',
    );
    progress.note(
      'and on the archive emulator every createSession is long-running: 202 Accepted, then ~1.5 s of polling',
    );

    const writer = async (workbook: string, name: string, throwAfter?: number): Promise<void> => {
      await using book = await sessions.open(workbook);
      for (let line = 1; line <= ROWS_PER_WRITER; line++) {
        await book.api("/tables('Orders')/rows/add").post({ values: [[name, line, line * 10]] });
        if (line === throwAfter) throw new Error(`${name}: the order failed validation`);
      }
    };
    const failing = (async () => {
      try {
        await writer(BOOKS.sales, 'sales-bad', 1);
      } catch (error) {
        progress.note(
          `the throwing writer's error reached its caller ("${(error as Error).message}"); ` +
            'its session was closed on the way out',
        );
      }
    })();
    const archiveReader = (async () => {
      await using book = await archive.open(ARCHIVE);
      progress.note(`archive: the long-running createSession finished, session ${shortId(book.id)} in use`);
      await book.api("/worksheets('Notes')/usedRange").get();
    })();
    const writers = (['sales', 'stock', 'budget'] as const).flatMap((name) =>
      Array.from({ length: WRITERS_PER_BOOK }, (_, i) => writer(BOOKS[name], `${name}-${i + 1}`)),
    );
    await Promise.all([...writers, failing, archiveReader]);
    for (const name of ['sales', 'stock', 'budget'] as const) {
      const expected = WRITERS_PER_BOOK * ROWS_PER_WRITER + (name === 'sales' ? 1 : 0);
      progress.note(
        `${name}: ${service.tableRows(BOOKS[name], 'Orders').length} rows in the file (expected ${expected})`,
      );
    }

    // ---- 2. Idle -----------------------------------------------------------------------------------
    progress.step(
      `2. A reader on report is left idle; the manager closes it after idleTimeoutMs (${IDLE_TIMEOUT_MS} ms)`,
    );
    // Meanwhile a second archive session is being created (long-running again); it is held until shutdown.
    const archiveHeld = archive.open(ARCHIVE);
    const reader = await sessions.open(BOOKS.report);
    await reader.api("/worksheets('Notes')/usedRange").get();
    const idleClosed = waitForClose(sessions, BOOKS.report, 'idle');
    progress.note('reader: one read, then nothing (no close() in sight)');
    await idleClosed;
    progress.note(
      `reader handle: state ${reader.state}, closeReason ${reader.closeReason ?? '-'}; ` +
        `the server has ${service.openSessions(BOOKS.report)} session(s) open on report`,
    );
    await reader.api("/worksheets('Notes')/usedRange").get();
    progress.note(
      'a later call on the handle: the persistent session was reopened; this one is still held when the app shuts down',
    );

    // ---- 3. A session the server forgets ----------------------------------------------------------
    progress.step(
      "3. The server forgets a session on stock (as after Graph's 5-minute expiry); " +
        'the next call reopens it and is replayed',
    );
    const held = await sessions.open(BOOKS.stock);
    service.expireSession(held.id);
    await held.api("/tables('Orders')/rows/add").post({ values: [['stock-late', 1, 5]] });
    progress.note(
      `the row went in through the new session; stock now has ${service.tableRows(BOOKS.stock, 'Orders').length} rows`,
    );
    await (await archiveHeld).api("/worksheets('Notes')/usedRange").get();

    // ---- 4. A burst on one shared session ----------------------------------------------------------
    progress.step(
      `4. A burst of ${BURST_REQUESTS} requests at once on orders, each in its own ` +
        '`await using book = await sessions.acquire(orders)` scope: one shared session serves them all',
    );
    // Half of them add a row, half read the table: each is one call, all in the one lane of orders.
    const burst = await runBurst(sessions, BOOKS.orders, {
      requests: BURST_REQUESTS,
      call: async (book, n) => {
        if (n % 2 === 1) {
          await book.api("/tables('Orders')/rows/add").post({ values: [[`request-${n}`, 1, n]] });
          return 'write';
        }
        await book.api("/tables('Orders')/rows").get();
        return 'read';
      },
      serverCreated: () => service.stats().created,
    });
    progress.note(
      `${BURST_REQUESTS} requests done (${burst.writes} writes, ${burst.reads} reads); ` +
        `orders has ${service.tableRows(BOOKS.orders, 'Orders').length} rows (expected ${burst.writes})`,
    );
    progress.note(
      `sessions created on orders: ${burst.sessionsCreated} (the emulator counted ${burst.serverSessionsCreated}), ` +
        `up to ${burst.mostLeases} leases on it at once; ` +
        'with none left it closes after idleTimeoutMs, or at the shutdown',
    );

    // ---- 5. Shutdown ------------------------------------------------------------------------------
    progress.step(
      '5. Shutting down as on SIGTERM: sessions.shutdown() (the exit hooks call the same on a real signal)',
    );
    service.injectFault({ workbook: BOOKS.stock, route: 'closeSession', count: 1, status: 503, retryAfterSeconds: 1 });
    progress.note(
      `sessions still held: ${sessions.stats().open + archive.stats().open}; the close on stock will meet a 503 first`,
    );
    const reports: ShutdownReport[] = await Promise.all(managers.map((m) => m.shutdown()));

    return summarise({
      target: 'emulator',
      started,
      managers,
      reports,
      servers: emulators.map((e) => e.service.stats()),
      serverWorkbooks: serverWorkbooks(progress, [
        [main, Object.values(BOOKS)],
        [slow, [ARCHIVE]],
      ]),
      workbooks: progress.tallies(),
      burst: { workbook: 'orders', requests: BURST_REQUESTS, ...burst },
    });
  } finally {
    // Should anything above throw, still close every session before the emulators stop.
    await Promise.all(managers.map((m) => m.shutdown()));
    await Promise.all(emulators.map((e) => e.close()));
  }
}

/** What the emulators counted per workbook, by the workbook's label: sessions created, and the most open at once. */
function serverWorkbooks(
  progress: Progress,
  emulators: readonly (readonly [RunningEmulator, readonly string[]])[],
): Record<string, ServerWorkbookCounts> {
  const counts: Record<string, ServerWorkbookCounts> = {};
  for (const [emulator, paths] of emulators) {
    const sessions = emulator.service.sessions();
    const { maxOpenByWorkbook } = emulator.service.stats();
    for (const path of paths) {
      counts[progress.labelOf(path)] = {
        created: sessions.filter((s) => s.workbook === path).length,
        mostOpen: maxOpenByWorkbook[path] ?? 0,
      };
    }
  }
  return counts;
}

/** Resolves when `sessions` closes a session on `workbook` for `reason`. */
async function waitForClose(sessions: SessionManager, workbook: string, reason: string): Promise<void> {
  const timeout = AbortSignal.timeout(IDLE_TIMEOUT_MS * 4);
  for (;;) {
    const [event] = await once(sessions, 'closed', { signal: timeout });
    if (event.workbook === workbook && event.reason === reason) return;
  }
}
