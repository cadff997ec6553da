import type { RecoveryReport } from '../journal/recovery.js';
import type { ShutdownReport } from '../types.js';
import { shortId } from '../util/ids.js';
import { shortWorkbook } from './attributes.js';
import { traced } from './tracing.js';

/**
 * The spans of the manager's work, one function each so that the code they wrap changes by a line:
 * what each says is decided here.
 */

/** `open()`: the look-up, the wait for the budget and createSession (polls included) nest under it. */
export function tracedOpen<T extends { readonly id: string }>(
  workbook: string,
  persistChanges: boolean,
  work: () => Promise<T>,
): Promise<T> {
  return traced(
    'open',
    () => ({
      'workbook_sessions.workbook': shortWorkbook(workbook),
      'workbook_sessions.session.persist_changes': persistChanges,
    }),
    work,
    (session) => ({ 'workbook_sessions.session.id': shortId(session.id) }),
  );
}

/** One session's close: closeSession, and the refreshSession that checks a bare 404. */
export function tracedClose<T extends string>(workbook: string, id: string, work: () => Promise<T>): Promise<T> {
  return traced(
    'close',
    () => ({ 'workbook_sessions.workbook': shortWorkbook(workbook), 'workbook_sessions.session.id': shortId(id) }),
    work,
    (outcome) => ({ 'workbook_sessions.close.outcome': outcome }),
  );
}

/** A shutdown: the closes it makes nest under it. */
export function tracedShutdown(timeoutMs: number, work: () => Promise<ShutdownReport>): Promise<ShutdownReport> {
  return traced(
    'shutdown',
    () => ({ 'workbook_sessions.shutdown.timeout_ms': timeoutMs }),
    work,
    (report) => ({
      'workbook_sessions.shutdown.closed': report.closed,
      'workbook_sessions.shutdown.expired': report.expired,
      'workbook_sessions.shutdown.failed': report.failed,
      'workbook_sessions.shutdown.left_open': report.leftOpen,
      'workbook_sessions.shutdown.timed_out': report.timedOut,
    }),
  );
}

/**
 * A recovery that claimed `orphans` sessions of processes that are gone; none when there are none
 * (a reaper's pass finds nothing most of the time).
 */
export function tracedRecovery(orphans: number, work: () => Promise<RecoveryReport>): Promise<RecoveryReport> {
  if (orphans === 0) return work();
  return traced(
    'recover',
    () => ({ 'workbook_sessions.recovery.orphans': orphans }),
    work,
    (report) => ({
      'workbook_sessions.recovery.closed': report.closed.length,
      'workbook_sessions.recovery.expired': report.expired.length,
      'workbook_sessions.recovery.failed': report.failed.length,
    }),
  );
}
