/**
 * The coordination seam: what the library needs to agree on about a workbook before it sends to
 * it. In one process this is `Scheduler` with `localLanes`; a fleet of processes plugs in a gate
 * shared by all of them (leases that expire, a cooldown only the server's clock ends) without the
 * transport or the sessions changing.
 */

/** Options of one request in its lane. */
export interface LaneOptions {
  /** Higher runs first (see `Priority`): closes go ahead of everything. */
  readonly priority: number;
  /** Aborts the wait for a place; a running task handles the signal itself. */
  readonly signal?: AbortSignal | undefined;
}

/** What the transport and the manager use: lanes, cooldowns, and what is under way. */
export interface Coordination {
  /**
   * Runs `task` in `workbook`'s lane (one at a time by default, as Graph advises) under the global
   * limit. The place is held until the task settles: a request on the wire is in flight for Graph.
   */
  run<T>(workbook: string, task: () => Promise<T>, options: LaneOptions): Promise<T>;
  /**
   * Pauses `workbook`'s lane for `ms` from `now`; a cooldown only grows. It applies before this
   * returns, so the lane cannot start its next request inside it; a shared gate tells the others
   * in the background.
   */
  cooldown(workbook: string, ms: number, now?: number): void;
  /** Requests waiting for a place. */
  readonly queued: number;
  /** Requests holding a place. */
  readonly running: number;
  /** Workbooks with work queued, running or cooling down. */
  readonly lanes: number;
  /** From now on no cooldown holds the process open (its owner has shut down). */
  release(): void;
  /** Ends every cooldown and lets paused lanes run. */
  dispose(): void;
}

/** A place in a lane, held while one request runs. */
export interface LaneLease {
  /** Gives the place back. Never rejects: a lease not given back expires. */
  release(): void | Promise<void>;
}

/**
 * Where a lane's places come from beyond this process. The local queue orders a process's own
 * requests (priorities, closes first); before one runs, it takes a place from the gate, and gives
 * it back when the request settles. Synchronous answers are taken without a tick.
 */
export interface LaneGate {
  /** `priority` is the request's (see `Priority`): a gate may treat closes apart, as they must always go out. */
  acquire(lane: string, signal: AbortSignal | undefined, priority: number): LaneLease | Promise<LaneLease>;
  /** A cooldown seen here: tell the others. */
  cooledDown(lane: string, until: number): void;
}

const NO_LEASE: LaneLease = { release: () => undefined };

/** The gate of a single process: its own queues are all the coordination there is. */
export const localLanes: LaneGate = {
  acquire: () => NO_LEASE,
  cooledDown: () => undefined,
};

/** One session of a workbook's budget, held from its create until Graph confirmed its end. */
export interface SessionSlot {
  /** Gives the place back; a second call does nothing. */
  release(): void;
}

/** Options of one wait for a place in a workbook's session budget. */
export interface ReserveOptions {
  /** Aborts the wait. */
  readonly signal?: AbortSignal | undefined;
  /** Fails the wait with a SessionBudgetTimeoutError after this long. */
  readonly timeoutMs: number;
  /** Called once when the reservation has to wait. */
  readonly onWait?: () => void;
}

/**
 * A per-workbook session budget: at most `limit` sessions of one workbook open or being made at
 * once. A reservation beyond it waits, first come first served. A fleet keeps the count in a
 * shared store, where a reservation nobody gives back ages out.
 */
export interface SessionBudget {
  readonly limit: number;
  /** Waits for a place in `lane`'s budget. */
  reserve(lane: string, options: ReserveOptions): Promise<SessionSlot>;
  /**
   * A session that exists already (Graph made it for a create nobody waits for any more) counts
   * at once, over the budget if it must: it is being closed, and must not be forgotten meanwhile.
   */
  force(lane: string): SessionSlot;
  /** Reservations waiting now, over all workbooks. */
  readonly waiting: number;
  /** Places held now in `lane`. */
  held(lane: string): number;
}
