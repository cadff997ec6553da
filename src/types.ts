/** Where a handle is in its life. */
export type SessionState = 'opening' | 'open' | 'closing' | 'closed';

/**
 * Why a session ended: `disposed` (scope exit or `close()`), `idle` (the idle deadline passed),
 * `shutdown` (the manager or the process stopped), `expired` (Graph no longer knew it),
 * `failed` (Graph said it cannot be used again).
 */
export type CloseReason = 'disposed' | 'idle' | 'shutdown' | 'expired' | 'failed';

/** What became of one session during a shutdown. */
export interface ShutdownSessionOutcome {
  /** The session id, shortened (never the whole id); `(creating)` for a create still under way. */
  readonly id: string;
  readonly workbook: string;
  /**
   * `closed`: Graph confirmed; `expired`: Graph had already dropped it; `failed`: close failed;
   * `pending`: not settled by the deadline.
   */
  readonly outcome: 'closed' | 'expired' | 'failed' | 'pending';
  /** Why a close failed, without secrets. */
  readonly error?: string;
}

/** What `shutdown()` did. */
export interface ShutdownReport {
  readonly closed: number;
  readonly expired: number;
  readonly failed: number;
  /**
   * Sessions that may still be open on the server: closes that failed, closes not settled when the
   * deadline passed (or waiting was cut short), and creates still under way then (listed in
   * `sessions` with the id `(creating)`; Graph may yet create them, and they are closed the moment
   * Graph answers with their id, if the process still runs).
   */
  readonly leftOpen: number;
  /** True when the deadline passed (or waiting was aborted) before every close settled. */
  readonly timedOut: boolean;
  readonly durationMs: number;
  readonly sessions: readonly ShutdownSessionOutcome[];
}
