import type { GraphRequestError } from '../errors.js';
import type { RetryEvent } from '../transport/graph-transport.js';
import type { CloseReason } from '../types.js';

export interface SessionStats {
  /** Sessions open now. */
  readonly open: number;
  readonly opening: number;
  readonly closing: number;
  /** Sessions whose close failed and that are still kept for another try. */
  readonly closeFailed: number;
  readonly queued: number;
  readonly inFlight: number;
  /** Workbooks with work queued, running or cooling down. */
  readonly lanes: number;
  /** Opens and acquires waiting for a place in their workbook's session budget. */
  readonly budgetWaiting: number;
  /** Shared sessions, one per workbook at most. */
  readonly shared: number;
  /** Leases held on shared sessions. */
  readonly leases: number;
  /**
   * Fleet mode: `'off'` without the `fleet` option, `'shared'` while coordinating on Redis,
   * `'degraded'` while coordinating locally because Redis cannot be reached (`onRedisDown: 'local'`).
   */
  readonly fleet: 'off' | 'shared' | 'degraded';
  /** Fleet mode: lane leases found expired while their request ran (see the `leaseLost` event). */
  readonly lostLeases: number;
  readonly totals: {
    readonly opened: number;
    readonly closed: number;
    readonly expired: number;
    readonly reopened: number;
    readonly retries: number;
    readonly closeFailures: number;
  };
}

export interface SessionEventInfo {
  /** The session id, shortened. */
  readonly id: string;
  /** The workbook reference in its canonical spelling, as the handle's `workbook` shows it. */
  readonly workbook: string;
}

/** The events a manager emits, with what each carries. Ids are always shortened. */
export interface SessionEvents {
  opened: [SessionEventInfo & { readonly persistChanges: boolean }];
  closed: [SessionEventInfo & { readonly reason: CloseReason; readonly alreadyExpired: boolean }];
  closeFailed: [SessionEventInfo & { readonly reason: CloseReason; readonly error: unknown }];
  retried: [RetryEvent];
  expired: [SessionEventInfo];
  reopened: [SessionEventInfo & { readonly previousId: string; readonly reason: CloseReason }];
  /**
   * A handle that ended for good with the reason `failed`: Graph refused to go on with its session
   * (an `invalidSession*` code other than ReCreatable, `internalServerErrorUncategorized`), or
   * `MAX_RECREATES_IN_A_ROW` sessions in a row faulted.
   */
  ended: [SessionEventInfo & { readonly reason: CloseReason }];
  /**
   * An `open()` or `acquire()` waits: its workbook already has `maxSessionsPerWorkbook` sessions.
   * `waiting` counts the waits over all workbooks, this one included.
   */
  budgetWait: [{ readonly workbook: string; readonly limit: number; readonly waiting: number }];
  /**
   * Graph created a session that cannot be closed, and it stays open on the server until Graph
   * expires it: its id cannot be sent in a header, or its id never arrived (a long-running create
   * succeeded and its session's details could not be read). The open (or reopen) fails with this error.
   */
  unclosable: [{ readonly workbook: string; readonly error: GraphRequestError }];
  /**
   * Fleet mode with `onRedisDown: 'local'`: Redis could not be reached, and lanes, cooldowns and
   * session budgets are this process's alone until `fleetRestored`.
   */
  fleetDegraded: [{ readonly error: unknown }];
  /** Fleet mode: Redis answers again after `fleetDegraded`; coordination is shared again. */
  fleetRestored: [];
  /**
   * Fleet mode: a workbook's lane lease expired while its request ran (the process was paused, or
   * Redis restarted), so another process may have sent to the workbook meanwhile. The request
   * finished; the next one waits for a new lease.
   */
  leaseLost: [{ readonly workbook: string }];
}
