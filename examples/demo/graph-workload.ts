/**
 * The demo's workload against Microsoft Graph, smaller than the emulator's and harmless to the
 * workbook: the writers' sessions are non-persistent, so what they write is dropped when the session
 * ends, and the burst on the shared (always persistent) session only reads. Faults cannot be injected
 * into Graph, and Graph publishes no session counts.
 */
import type { WorkbookWorksheet } from '@microsoft/microsoft-graph-types';
import { once } from 'node:events';
import { SessionManager, isSessionClosedError, type ShutdownReport } from '../../src/index.js';
import { graphClient } from '../support/target.js';
import { runBurst } from './burst.js';
import type { Progress } from './progress.js';
import { type DemoSummary, summarise } from './summary.js';
import { IDLE_TIMEOUT_MS } from './emulator-workload.js';

/** Fewer than on the emulator: each read is a round trip to Graph, one at a time. */
const BURST_REQUESTS = 10;

export async function runGraphDemo(
  progress: Progress,
  env: { tenantId: string; clientId: string; item: string },
): Promise<DemoSummary> {
  const started = Date.now();
  const sessions = new SessionManager({ client: await graphClient(env), idleTimeoutMs: IDLE_TIMEOUT_MS });
  progress.watch(sessions);
  progress.label(env.item, 'workbook');
  const workbook = env.item;
  try {
    progress.step(
      '1. Two writers in `await using` scopes (non-persistent: nothing is saved to the file); a third throws half-way',
    );
    const firstSheet = await sessions.withSession(
      workbook,
      async (book) => (await book.api('/worksheets').get<{ value: WorkbookWorksheet[] }>()).value[0]?.name ?? 'Sheet1',
      { persistChanges: false },
    );
    const writer = async (column: string, throwHalfway: boolean): Promise<void> => {
      await using book = await sessions.open(workbook, { persistChanges: false });
      const cell = book.api(`/worksheets('${firstSheet.replace(/'/g, "''")}')/range(address='${column}1')`);
      await cell.patch({ values: [['workbook-sessions demo']] });
      if (throwHalfway) throw new Error('the writer failed half-way');
      await cell.get();
    };
    const results = await Promise.allSettled([writer('X', false), writer('Y', false), writer('Z', true)]);
    progress.note(
      `writers: ${results.filter((r) => r.status === 'fulfilled').length} done, ` +
        `${results.filter((r) => r.status === 'rejected').length} threw; every session closed on scope exit`,
    );

    progress.step(`2. A reader left idle; the manager closes it after idleTimeoutMs (${IDLE_TIMEOUT_MS} ms)`);
    const reader = await sessions.open(workbook, { persistChanges: false });
    await reader.api('/worksheets').get();
    const timeout = AbortSignal.timeout(IDLE_TIMEOUT_MS * 10);
    while ((await once(sessions, 'closed', { signal: timeout }))[0]?.reason !== 'idle');
    try {
      await reader.api('/worksheets').get();
    } catch (error) {
      if (!isSessionClosedError(error)) throw error;
      progress.note(
        `a later call fails with SessionClosedError (reason ${error.reason}): a non-persistent session is not reopened`,
      );
    }

    progress.step(
      `3. A burst of ${BURST_REQUESTS} reads at once, each in its own ` +
        '`await using book = await sessions.acquire(workbook)` scope: one shared session serves them all',
    );
    const burst = await runBurst(sessions, workbook, {
      requests: BURST_REQUESTS,
      call: async (book) => {
        await book.api('/worksheets').get();
        return 'read';
      },
    });
    progress.note(
      `${BURST_REQUESTS} reads done; sessions created: ${burst.sessionsCreated}, ` +
        `with up to ${burst.mostLeases} leases on it at once`,
    );

    progress.step('4. Shutting down as on SIGTERM, with one session still held');
    const held = await sessions.open(workbook, { persistChanges: false });
    await held.api('/worksheets').get();
    const reports: ShutdownReport[] = [await sessions.shutdown()];
    return summarise({
      target: 'graph',
      started,
      managers: [sessions],
      reports,
      servers: null,
      serverWorkbooks: null,
      workbooks: progress.tallies(),
      burst: { workbook: 'workbook', requests: BURST_REQUESTS, ...burst },
    });
  } finally {
    await sessions.shutdown();
  }
}
