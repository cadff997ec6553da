/**
 * The demo's burst: many requests on one workbook at once, each in its own `await using` scope with
 * a lease on the workbook's shared session, as the handlers of a web service would run.
 */
import type { SessionManager, WorkbookSession } from '../../src/index.js';

export interface BurstResult {
  readonly writes: number;
  readonly reads: number;
  /** Sessions the manager created while the burst ran (its `opened` and `reopened` events). */
  readonly sessionsCreated: number;
  /** The same, as the server counted it; null against Microsoft Graph, which publishes no count. */
  readonly serverSessionsCreated: number | null;
  /** The most leases held at once on the shared session. */
  readonly mostLeases: number;
}

/**
 * Runs `requests` requests on `workbook` at once; `call` makes request `n`'s one Graph call and says
 * whether it read or wrote. `serverCreated` reads the server's count of sessions created, if it has one.
 */
export async function runBurst(
  sessions: SessionManager,
  workbook: string,
  options: {
    readonly requests: number;
    readonly call: (book: WorkbookSession, n: number) => Promise<'read' | 'write'>;
    readonly serverCreated?: () => number;
  },
): Promise<BurstResult> {
  // Nothing else runs on this manager meanwhile, so every session created now is the burst's.
  let created = 0;
  const count = (): void => void created++;
  sessions.on('opened', count);
  sessions.on('reopened', count);
  const serverBefore = options.serverCreated?.();
  let mostLeases = 0;
  let writes = 0;
  const request = async (n: number): Promise<void> => {
    await using book = await sessions.acquire(workbook);
    mostLeases = Math.max(mostLeases, sessions.stats().leases);
    if ((await options.call(book, n)) === 'write') writes++;
  };
  try {
    await Promise.all(Array.from({ length: options.requests }, (_, i) => request(i + 1)));
  } finally {
    sessions.off('opened', count);
    sessions.off('reopened', count);
  }
  return {
    writes,
    reads: options.requests - writes,
    sessionsCreated: created,
    serverSessionsCreated:
      options.serverCreated === undefined || serverBefore === undefined ? null : options.serverCreated() - serverBefore,
    mostLeases,
  };
}
