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

/** What a claim to create a workbook's shared session answered (see {@link SharedSessions}). */
export type SharedClaim =
  /** A shared session exists: use it. */
  | { readonly outcome: 'adopt'; readonly id: string }
  /** Create one now, and `store()` it. */
  | { readonly outcome: 'create' }
  /** Another process is creating one; look again within `waitMs`. */
  | { readonly outcome: 'wait'; readonly waitMs: number };

/** What an idle timer's question to {@link SharedSessions.retire} answered. */
export type SharedRetire =
  /** Nobody used it for the idle timeout: it is no longer shared, and the asker closes it. */
  | { readonly outcome: 'retired' }
  /** Used elsewhere more recently: idle in `leftMs` at the earliest. */
  | { readonly outcome: 'busy'; readonly leftMs: number }
  /** Another process retired or replaced it: the asker lets go of it without a close. */
  | { readonly outcome: 'gone' };

/**
 * Where the id of each workbook's shared session is kept (the sessions of `acquire()`). In one
 * process the manager's own map is all there is, and this seam answers as if nobody else existed
 * (`localSharing`); a fleet keeps the id in a shared store beside the workbook's lane, so every
 * process leasing the workbook uses one session.
 */
export interface SharedSessions {
  /** The shared session's id, if one exists; the question counts as a use. */
  find(lane: string): Promise<string | undefined>;
  /**
   * Asked in the lane right before a createSession, so that no two processes create at once.
   * `replacing` (the id the asker saw end) is forgotten first if it is still the shared one.
   */
  claim(lane: string, token: string, replacing: string | undefined): Promise<SharedClaim>;
  /**
   * Makes the session `id`, created under `token`'s claim, the shared one. Answers the id shared
   * now (another's when it was stored first) and whether other processes see it (`shared`).
   */
  store(lane: string, token: string, id: string): Promise<{ readonly id: string; readonly shared: boolean }>;
  /** Ends `token`'s claim without a session (its create failed). */
  abandon(lane: string, token: string): Promise<void>;
  /** Forgets the session `id`, only if it is still the shared one (compare and delete). */
  release(lane: string, id: string): Promise<void>;
  /** A lease or a call used the session `id` now. */
  touch(lane: string, id: string): Promise<void>;
  /** The asker's idle timer fired for `id`: may it close it (see {@link SharedRetire})? */
  retire(lane: string, id: string, idleMs: number): Promise<SharedRetire>;
}

/** One process alone: nothing is shared beyond the manager's own map, and an idle session is closed. */
export const localSharing: SharedSessions = {
  find: () => Promise.resolve(undefined),
  claim: () => Promise.resolve({ outcome: 'create' }),
  store: (_lane, _token, id) => Promise.resolve({ id, shared: false }),
  abandon: () => Promise.resolve(),
  release: () => Promise.resolve(),
  touch: () => Promise.resolve(),
  retire: () => Promise.resolve({ outcome: 'retired' }),
};
