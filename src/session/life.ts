import type { CloseReason, SessionState } from '../types.js';
import type { SessionFault } from './faults.js';

/**
 * How a session's life ended:
 * - `closed`: Graph confirmed the close;
 * - `expired`: Graph no longer had it (found on close, or a call or refresh found it gone);
 * - `ended`: given up for good without a close request (Graph said it cannot be used);
 * - `close-failed`: the close failed after its retries; the session may still be open, and a later
 *   close tries again;
 * - `handed-over`: given up after a fault that does not prove it gone; a stand-in closes it;
 * - `released`: a fleet's shared session another process retired or replaced: let go of here
 *   without a close (this process closed nothing, and says so by no event).
 */
export type EndOutcome = 'closed' | 'expired' | 'ended' | 'close-failed' | 'handed-over' | 'released';

/** A close that was asked for while a reopen ran: it runs once the reopen has settled. */
export interface DeferredClose {
  readonly done: Promise<void>;
  /** Aborted by the signal of any close() that joins it (a shutdown's deadline). */
  readonly abort: AbortController;
}

/**
 * A reopen under way: from the createSession until the manager has taken the new session in.
 * Calls wait for it, and a close asked for meanwhile runs after it (`closeAfter`).
 */
export interface Reopen {
  readonly done: Promise<void>;
  closeAfter: DeferredClose | undefined;
}

/**
 * A session's life, one phase at a time. Only the session changes it, and every change of phase
 * is told to its manager (`SessionHost.changed`), which turns it into events, totals, journal
 * writes and reaper calls.
 */
export type SessionLife =
  /** The first createSession is under way. */
  | { readonly phase: 'opening' }
  /** Usable. `reopen` is set while the manager takes in a session a reopen just created. */
  | { readonly phase: 'open'; readonly id: string; readonly reopen?: Reopen }
  /** A closeSession is under way; every close() joins `done`. */
  | {
      readonly phase: 'closing';
      readonly id: string;
      readonly reason: CloseReason;
      readonly done: Promise<void>;
      readonly abort: AbortController;
    }
  /** A persistent session that went idle or expired is being created again. */
  | {
      readonly phase: 'reopening';
      readonly previousId: string;
      readonly previous: CloseReason;
      readonly reopen: Reopen;
    }
  /** Over, for the reason and with the outcome given; `done` is what every later close() returns. */
  | {
      readonly phase: 'ended';
      readonly id: string;
      readonly reason: CloseReason;
      readonly outcome: EndOutcome;
      readonly error?: unknown;
      readonly done: Promise<void>;
    };

export type SessionPhase = SessionLife['phase'];

/** The state a handle shows: a reopen shows as opening, every end as closed. */
export function stateOf(life: SessionLife): SessionState {
  switch (life.phase) {
    case 'opening':
    case 'reopening':
      return 'opening';
    case 'open':
      return 'open';
    case 'closing':
      return 'closing';
    case 'ended':
      return 'closed';
  }
}

/** The id a handle shows: the current one, the one being replaced while a reopen runs, '' before the first. */
export function idOf(life: SessionLife): string {
  switch (life.phase) {
    case 'opening':
      return '';
    case 'reopening':
      return life.previousId;
    default:
      return life.id;
  }
}

/** Why the session closed, once it has (while a reopen runs: why the previous one did). */
export function reasonOf(life: SessionLife): CloseReason | undefined {
  switch (life.phase) {
    case 'opening':
    case 'open':
      return undefined;
    case 'reopening':
      return life.previous;
    default:
      return life.reason;
  }
}

/** The reopen a call or close must wait for, if one is under way. */
export function reopenOf(life: SessionLife): Reopen | undefined {
  return life.phase === 'reopening' || life.phase === 'open' ? life.reopen : undefined;
}

/** True when the session ended but may still be open on the server: its close failed. */
export function closeFailed(life: SessionLife): boolean {
  return life.phase === 'ended' && life.outcome === 'close-failed';
}

/**
 * May a call on this handle create a new session? Only for a persistent one (its changes are in
 * the file), never after its user or a shutdown closed it (`final`), only when it went idle or
 * Graph dropped it, and never while its close failed (it may still be open: one at a time).
 */
export function mayReopen(life: SessionLife, persistChanges: boolean, final: boolean): boolean {
  return (
    life.phase === 'ended' &&
    persistChanges &&
    !final &&
    (life.reason === 'idle' || life.reason === 'expired') &&
    life.outcome !== 'close-failed'
  );
}

/** The reason a close records: an idle close joined by a user's or a shutdown's counts as theirs. */
export function closeReasonAfter(life: SessionLife, asked: CloseReason): CloseReason {
  if (life.phase !== 'ended') return asked;
  return life.reason === 'idle' && asked !== 'idle' ? asked : life.reason;
}

/** What a fault (after any check) means for the session a request was sent in. */
export type ConfirmedFault = Exclude<SessionFault, 'unconfirmed' | 'none'> | 'confirmed-gone';

/**
 * How a session given up for `fault` ends: `failed` when Graph ended it or too many sessions in a
 * row faulted, `expired` otherwise; and whether a close is still owed (only a session Graph has
 * confirmed gone needs none).
 */
export function endFor(
  fault: ConfirmedFault,
  recreatesInARow: number,
  maxRecreates: number,
): { readonly reason: CloseReason; readonly outcome: EndOutcome } {
  const reason: CloseReason = fault === 'ended' || recreatesInARow >= maxRecreates ? 'failed' : 'expired';
  if (fault !== 'confirmed-gone') return { reason, outcome: 'handed-over' };
  return { reason, outcome: reason === 'expired' ? 'expired' : 'ended' };
}

/** What a call does after its request met a session fault. */
export type AfterFault =
  /** Throw the request's own error. */
  | 'rethrow'
  /** Throw a SessionExpiredError: a non-persistent session's changes are gone. */
  | 'expired'
  /** Throw the handle's SessionClosedError: it may not go on (a shutdown began). */
  | 'closed'
  /** Throw the error marked `outcomeUnknown`: it may have been applied, and is never sent twice. */
  | 'outcome-unknown'
  /** Send the call once more, in the session the handle goes on in. */
  | 'replay';

/**
 * The session-fault rules for a call whose request met `fault`, pure. `current` says whether the
 * request was sent in the handle's current, open session (then it is this call that gives it up).
 */
export function afterFault(input: {
  readonly fault: ConfirmedFault;
  readonly current: boolean;
  readonly persistChanges: boolean;
  readonly mayGoOn: boolean;
  readonly idempotent: boolean;
  readonly replayed: boolean;
  readonly final: boolean;
}): AfterFault {
  if (input.fault === 'ended') return 'rethrow';
  if (!input.persistChanges) return 'expired';
  if (input.current && !input.mayGoOn) return 'closed';
  // The session is behind us; a new one carries on (this call's own, or one another call made).
  if (input.fault === 'faulted' && !input.idempotent) return 'outcome-unknown';
  if (input.replayed || input.final) return 'rethrow';
  return 'replay';
}
