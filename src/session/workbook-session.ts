import { raceAbort } from '../util/abort.js';
import {
  SessionClosedError,
  SessionExpiredError,
  isGraphRequestError,
  isSessionClosedError,
  withOutcomeUnknown,
} from '../errors.js';
import { shortId } from '../util/ids.js';
import type { Reapable } from '../lifecycle/idle-reaper.js';
import { Priority, type Scheduler } from '../coordination/scheduler.js';
import { isGoneOnClose, sessionFaultOf, type SessionFault } from './faults.js';
import type { CloseReason, SessionState } from '../types.js';
import { checkApiPath, checkBoolean, checkKeys, checkSignal, describe } from '../util/validate.js';
import type { CreatedSession, GraphTransport, HttpMethod } from '../transport/graph-transport.js';

/** Options of one call through a handle. */
export interface CallOptions {
  /** Aborts the call: removes it from the queue, or cancels it in flight. */
  readonly signal?: AbortSignal;
  /**
   * The call may safely be sent twice, so a 502, 504 or lost connection is retried. GET is always
   * idempotent; POST, PATCH and DELETE are not unless you say so.
   * @default true for GET, false otherwise
   */
  readonly idempotent?: boolean;
  /** Query parameters, such as `{ $select: 'values' }`. */
  readonly query?: Readonly<Record<string, string>>;
}

/** A request on one path of the workbook, bound to its session. */
export interface WorkbookRequest {
  get<T = unknown>(options?: CallOptions): Promise<T>;
  post<T = unknown>(body?: unknown, options?: CallOptions): Promise<T>;
  patch<T = unknown>(body?: unknown, options?: CallOptions): Promise<T>;
  delete<T = unknown>(options?: CallOptions): Promise<T>;
}

/** What a session needs from its manager. Internal. */
export interface SessionHost {
  readonly transport: GraphTransport;
  readonly scheduler: Scheduler;
  /** The session was created (first time or reopened) and is now open. */
  tracked(core: SessionCore, reopened: { previousId: string; reason: CloseReason } | undefined): Promise<void>;
  /**
   * The session ended: Graph confirmed the close, or it was already gone, or it failed for good.
   * Resolves when the journal (if any) knows; a close waits for that, so a crash right after it
   * does not send recovery after a session that is already closed.
   */
  untracked(core: SessionCore, outcome: 'closed' | 'expired' | 'ended'): Promise<void>;
  /** A close failed after its retries; the session may still be open on the server. */
  closeFailed(core: SessionCore, error: unknown): void;
  /**
   * The handle gave up its session (Graph said it is gone, faulted or ended) and goes on without it.
   * `old` now stands for the given-up session: the manager closes it (best effort) and reports it
   * like any other session until Graph confirms its end.
   */
  gaveUp(core: SessionCore, old: SessionCore): void;
  /** A persistent session may be reopened (the manager is not shutting down). */
  mayReopen(): boolean;
  /** A reopen is under way: the manager counts it as opening and a shutdown waits for it. */
  reopening(workbook: string, done: Promise<unknown>): void;
  /** Given to every createSession: aborted when a shutdown gives up on creates still under way. */
  readonly creates: AbortSignal;
}

const CALL_OPTION_KEYS = ['signal', 'idempotent', 'query'] as const;

/**
 * Sessions a handle may create in a row, after faults, without one call succeeding in them. Past
 * it the handle ends with the reason `failed`: a workbook where every session faults is not fixed
 * by opening more.
 */
export const MAX_RECREATES_IN_A_ROW = 3;

/**
 * The state behind one handle: id, lifecycle, activity clock, the reaper's slot. Internal; users
 * see {@link WorkbookSession}.
 */
export class SessionCore implements Reapable {
  readonly workbook: string;
  readonly persistChanges: boolean;
  readonly handle: WorkbookSession;
  id = '';
  state: SessionState = 'opening';
  reason: CloseReason | undefined;
  /** When the last call answered, or the session opened (epoch ms). The idle clock. */
  lastActivity = 0;
  /** When Graph last heard from this session (any request with its id). The keep-alive clock. */
  lastContact = 0;
  /** Calls running or queued through this session. */
  inFlight = 0;
  /** Set when the close failed after its retries; cleared if a later close succeeds. */
  closeError: unknown;
  heapIndex = -1;
  dueAt = 0;
  readonly #host: SessionHost;
  // Set by the first close() of the current session id and shared by every caller; cleared when a
  // reopen gives the handle a new id, or when a close failed (so a later close tries again).
  #closing: Promise<void> | undefined;
  // Set with #closing; aborted by any signal given to a close() that joins it (a shutdown's deadline).
  #closeAbort: AbortController | undefined;
  // Set while a reopen runs, so concurrent calls share it; cleared when it settles.
  #reopening: Promise<void> | undefined;
  // Set when close() is called while a reopen runs: the reopened session is closed right after.
  #closeAfterReopen: Promise<void> | undefined;
  // Set with #closeAfterReopen; aborted by any signal given to a close() that joins it, so a
  // shutdown's deadline bounds that close as it bounds one already started.
  #closeAfterReopenAbort: AbortController | undefined;
  // Set once the handle was closed by its user or by a shutdown: it never reopens after that.
  #final = false;
  // Sessions created after a fault since a call last succeeded; reset by a success. Bounded by MAX_RECREATES_IN_A_ROW.
  #recreates = 0;

  constructor(host: SessionHost, workbook: string, persistChanges: boolean) {
    this.#host = host;
    this.workbook = workbook;
    this.persistChanges = persistChanges;
    this.handle = new WorkbookSession(this);
  }

  /** The session was created: it is open from now. */
  opened(created: CreatedSession, now: number): void {
    this.id = created.id;
    this.state = 'open';
    this.reason = undefined;
    this.lastActivity = now;
    this.lastContact = now;
  }

  closedError(): SessionClosedError {
    return new SessionClosedError({
      reason: this.reason ?? 'disposed',
      workbook: this.workbook,
      sessionId: shortId(this.id),
    });
  }

  /**
   * One call in the session, with the session-fault rules of DESIGN.md: a session Graph says is
   * gone or faulted is given up (and closed, best effort); a persistent handle goes on in a new
   * one, replaying the call once when it may be sent twice.
   */
  async call(method: HttpMethod, path: string, body: unknown, options: CallOptions | undefined): Promise<unknown> {
    const opts = checkCallOptions(options);
    const idempotent = opts.idempotent ?? method === 'GET';
    const payload = serialise(method, body);
    // The id the request carried ('' when nothing was sent), to tell whether the handle moved on meanwhile.
    const sent = { id: '' };
    // A call goes to a second session at most once, whoever created it.
    let replayed = false;
    for (;;) {
      await this.#usable(opts.signal);
      sent.id = '';
      try {
        const answer = await this.#send(method, path, payload, opts, idempotent, sent);
        this.#recreates = 0;
        return answer;
      } catch (error) {
        if (sent.id === '') {
          // Nothing was sent: the session ended while the call waited in the lane (another call gave
          // it up, say). #usable decides whether the handle goes on in a new one.
          if (isSessionClosedError(error) && !replayed) {
            replayed = true;
            continue;
          }
          throw error;
        }
        const fault = await this.#faultOf(error, sent.id);
        if (fault === 'none') throw error;
        if (sent.id === this.id && this.state === 'open') {
          this.#giveUp(fault);
          if (fault === 'ended') throw error;
          if (!this.persistChanges)
            throw new SessionExpiredError({ workbook: this.workbook, sessionId: shortId(sent.id), cause: error });
          if (!this.#host.mayReopen()) throw this.closedError();
        } else if (fault === 'ended') {
          throw error;
        } else if (!this.persistChanges) {
          throw new SessionExpiredError({ workbook: this.workbook, sessionId: shortId(sent.id), cause: error });
        }
        // The session is behind us; a new one carries on (this call's own, or one another call made).
        // It may or may not have been applied: never sent twice, and the error says so.
        if (fault === 'faulted' && !idempotent) throw isGraphRequestError(error) ? withOutcomeUnknown(error) : error;
        if (replayed || this.#final) throw error;
        replayed = true;
      }
    }
  }

  /**
   * What a failed request says about the session it was sent in. A bare 404 may be a missing
   * worksheet rather than a missing session: a refreshSession tells which.
   */
  async #faultOf(error: unknown, sentId: string): Promise<Exclude<SessionFault, 'unconfirmed'> | 'confirmed-gone'> {
    const fault = sessionFaultOf(error);
    if (fault !== 'unconfirmed') return fault;
    if (this.state !== 'open' || this.id !== sentId) return 'gone';
    try {
      await this.#host.transport.refreshSession(this.workbook, () => this.#idForRequest());
      this.lastContact = Date.now();
      return 'none';
    } catch (probe) {
      const confirmed = sessionFaultOf(probe);
      if (confirmed === 'unconfirmed' || confirmed === 'gone') return 'confirmed-gone';
      return confirmed;
    }
  }

  /**
   * Leaves the current session behind for good. A session Graph has confirmed gone needs nothing
   * more; any other (faulted, ended, or `invalidSessionReCreatable`, which may be a passing fault)
   * is handed to the manager to close, so nothing given up stays open unreported.
   */
  #giveUp(fault: Exclude<SessionFault, 'unconfirmed' | 'none'> | 'confirmed-gone'): void {
    // Ended by Graph, or too many sessions in a row faulted: the handle ends for good.
    const reason: CloseReason = fault === 'ended' || this.#recreates >= MAX_RECREATES_IN_A_ROW ? 'failed' : 'expired';
    if (fault === 'confirmed-gone') {
      this.#end(reason);
    } else {
      const old = new SessionCore(this.#host, this.workbook, this.persistChanges);
      old.id = this.id;
      old.state = 'open';
      old.lastActivity = this.lastActivity;
      old.lastContact = this.lastContact;
      old.#final = true;
      this.state = 'closed';
      this.reason = reason;
      this.#host.gaveUp(this, old);
    }
    if (reason === 'failed') this.#final = true;
  }

  async refresh(options?: { signal?: AbortSignal }): Promise<void> {
    const signal = checkSignal('signal', options?.signal);
    await this.#usable(signal);
    this.inFlight++;
    try {
      await this.#host.transport.refreshSession(this.workbook, () => this.#idForRequest(), signal);
      this.lastContact = Date.now();
    } catch (error) {
      this.refreshFailed(error);
      throw error;
    } finally {
      this.inFlight--;
      this.lastActivity = Date.now();
    }
  }

  /**
   * Closes the session. Every caller gets the same promise; a closed session resolves at once.
   * Rejects when Graph could not be told after the retries (the failure is also reported).
   */
  close(reason: CloseReason = 'disposed', signal?: AbortSignal): Promise<void> {
    // Closed by its user or by a shutdown: whatever happens next, it does not come back.
    if (reason === 'disposed' || reason === 'shutdown') {
      this.#final = true;
      // Closed for idleness and now disposed: it is the user's close that counts from here on.
      if (this.state === 'closed' && this.reason === 'idle' && this.closeError === undefined) this.reason = reason;
    }
    if (this.#reopening !== undefined) {
      // Close the session the reopen is about to give, once it has it.
      // Either way: a reopen refused by a shutdown still leaves a session to close.
      if (this.#closeAfterReopen === undefined) {
        const abort = new AbortController();
        this.#closeAfterReopenAbort = abort;
        const next = (): Promise<void> => this.close(reason, abort.signal);
        this.#closeAfterReopen = this.#reopening.then(next, next);
      }
      if (signal !== undefined) linkAbort(signal, this.#closeAfterReopenAbort);
      return this.#closeAfterReopen;
    }
    if (this.#closing !== undefined) {
      if (signal !== undefined) linkAbort(signal, this.#closeAbort);
      return this.#closing;
    }
    // Ended without a close request (expired, failed): still one promise for every caller.
    if (this.state === 'closed' && this.closeError === undefined) return (this.#closing ??= Promise.resolve());
    this.#closeAbort = new AbortController();
    if (signal !== undefined) linkAbort(signal, this.#closeAbort);
    this.#closing = this.#startClose(reason, this.#closeAbort.signal);
    return this.#closing;
  }

  #startClose(reason: CloseReason, signal: AbortSignal): Promise<void> {
    this.state = 'closing';
    this.reason = this.reason === 'idle' && reason !== 'idle' ? reason : (this.reason ?? reason);
    return closeConfirmed(this.#host.transport, this.workbook, this.id, signal).then(
      (outcome) => {
        this.closeError = undefined;
        this.state = 'closed';
        return this.#host.untracked(this, outcome);
      },
      (error: unknown) => {
        this.state = 'closed';
        this.closeError = error;
        // A later close (a shutdown's) may try again.
        this.#closing = undefined;
        this.#host.closeFailed(this, error);
        throw error;
      },
    );
  }

  /**
   * A refreshSession of the current session failed: what the answer says of the session decides, as
   * for a call. A 404 to refreshSession is about the session itself, so it is gone; a session given
   * up for any other fault is closed (best effort) like one a call gave up, never just forgotten. A
   * persistent handle reopens on its next call.
   */
  refreshFailed(error: unknown): void {
    if (this.state !== 'open') return;
    const fault = sessionFaultOf(error);
    if (fault === 'unconfirmed') this.#end('expired');
    else if (fault !== 'none') this.#giveUp(fault);
  }

  /** The id to send, checked in the lane right before sending: the session may have closed meanwhile. */
  #idForRequest(): string {
    if (this.state !== 'open') throw this.closedError();
    return this.id;
  }

  /** For the keep-alive: the current id, or a SessionClosedError once the session is not open. */
  idForRefresh(): string {
    return this.#idForRequest();
  }

  /** Ends the session without a close request (Graph said it cannot be used, or it is gone). */
  #end(reason: CloseReason): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.reason = reason;
    void this.#host.untracked(this, reason === 'expired' ? 'expired' : 'ended');
  }

  /** Waits until the session can take a call: reopens a persistent one that went idle or expired. */
  async #usable(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    if (this.#reopening !== undefined) return raceAbort(this.#reopening, signal);
    if (this.state === 'open') return;
    if (this.state === 'closing' && this.reason === 'idle' && !this.#final && this.#closing !== undefined) {
      // The idle close is on its way: let it finish, then reopen below.
      await raceAbort(
        this.#closing.catch(() => undefined),
        signal,
      );
      if (this.#reopening !== undefined) return raceAbort(this.#reopening, signal);
      if ((this.state as SessionState) === 'open') return;
    }
    const reopenable =
      this.state === 'closed' &&
      this.persistChanges &&
      !this.#final &&
      (this.reason === 'idle' || this.reason === 'expired') &&
      this.closeError === undefined;
    if (!reopenable || !this.#host.mayReopen()) throw this.closedError();
    const previousId = this.id;
    const previousReason = this.reason as CloseReason;
    // A session given up after a fault: counted towards the bound on recreating.
    if (previousReason === 'expired') this.#recreates++;
    this.state = 'opening';
    const reopening = this.#host.transport.createSession(this.workbook, true, this.#host.creates).then(
      async (created) => {
        this.#closing = undefined;
        this.#closeAbort = undefined;
        this.opened(created, Date.now());
        // Rejects (and closes the new session) when the manager began shutting down meanwhile.
        await this.#host.tracked(this, { previousId, reason: previousReason });
      },
      (error: unknown) => {
        this.state = 'closed';
        throw error;
      },
    );
    this.#reopening = reopening;
    this.#host.reopening(this.workbook, reopening);
    const forget = (): void => {
      if (this.#reopening === reopening) this.#reopening = undefined;
    };
    reopening.then(forget, forget);
    return raceAbort(reopening, signal);
  }

  async #send(
    method: HttpMethod,
    path: string,
    body: string | undefined,
    options: CallOptions,
    idempotent: boolean,
    sent: { id: string },
  ): Promise<unknown> {
    this.inFlight++;
    try {
      const answer = await this.#host.transport.request(
        this.workbook,
        {
          method,
          path: `${this.workbook}/workbook${path}`,
          // Checked in the lane, right before sending: the session may have closed while the call waited.
          session: () => (sent.id = this.#idForRequest()),
          body,
          query: options.query,
          signal: options.signal,
        },
        { priority: Priority.call, idempotent },
      );
      this.lastContact = Date.now();
      return answer.body;
    } finally {
      this.inFlight--;
      this.lastActivity = Date.now();
    }
  }
}

/**
 * A workbook session: every call made through it carries its `workbook-session-id`, runs in its
 * workbook's lane, and is retried where safe. Closing is idempotent; `await using` closes it.
 */
export class WorkbookSession implements AsyncDisposable {
  readonly #core: SessionCore;

  /** @internal Handles are made by `SessionManager.open()`. */
  constructor(core: SessionCore) {
    this.#core = core;
  }

  /** The session id Graph gave. It changes when a persistent session is reopened. */
  get id(): string {
    return this.#core.id;
  }

  /**
   * The drive-item path of the workbook in its canonical spelling, the one requests are sent to:
   * percent-encoding normalised (`/me/drive/root:/Q1%20Sales.xlsx:` for `.../Q1 Sales.xlsx:`).
   */
  get workbook(): string {
    return this.#core.workbook;
  }

  get persistChanges(): boolean {
    return this.#core.persistChanges;
  }

  get state(): SessionState {
    return this.#core.state;
  }

  /** Why the session closed, once it has. */
  get closeReason(): CloseReason | undefined {
    return this.#core.reason;
  }

  /** When the last call answered (epoch ms). */
  get lastActivity(): number {
    return this.#core.lastActivity;
  }

  /**
   * A request on a path relative to the workbook, such as `/worksheets('Sheet1')/usedRange` or
   * `/tables('Sales')/rows/add`. Absolute URLs, `..` and query strings are refused.
   */
  api(rawPath: string): WorkbookRequest {
    const path = checkApiPath(rawPath);
    const core = this.#core;
    return {
      get: (options) => core.call('GET', path, undefined, options) as Promise<never>,
      post: (body, options) => core.call('POST', path, body, options) as Promise<never>,
      patch: (body, options) => core.call('PATCH', path, body, options) as Promise<never>,
      delete: (options) => core.call('DELETE', path, undefined, options) as Promise<never>,
    };
  }

  /** Resets Graph's inactivity clock for this session (refreshSession). */
  refresh(options?: { signal?: AbortSignal }): Promise<void> {
    return this.#core.refresh(options);
  }

  /** Closes the session (closeSession). Idempotent: every caller gets the same promise. */
  close(): Promise<void> {
    return this.#core.close('disposed');
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#core.close('disposed');
  }

  /** Never shows the whole id. */
  toJSON(): Record<string, unknown> {
    return {
      id: shortId(this.id),
      workbook: this.workbook,
      persistChanges: this.persistChanges,
      state: this.state,
      closeReason: this.closeReason,
    };
  }

  toString(): string {
    return `WorkbookSession(${shortId(this.id)} on ${this.workbook}, ${this.state})`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/**
 * Sends closeSession and says how the session ended: `closed` (Graph confirmed) or `expired` (Graph
 * no longer had it). Only `invalidSessionReCreatable` or `invalidSessionNotFound` says the session is
 * gone (another `invalidSession*` code says it cannot be acted on: the close failed); a bare 404 may come
 * from elsewhere (the item path, a proxy), so a refreshSession checks: gone too means expired; alive
 * means the close did not reach it, and it is sent once more. Rejects when the close failed: the
 * session may still be open, and is never reported closed.
 */
export async function closeConfirmed(
  transport: GraphTransport,
  workbook: string,
  id: string,
  signal?: AbortSignal,
): Promise<'closed' | 'expired'> {
  try {
    await transport.closeSession(workbook, id, signal);
    return 'closed';
  } catch (error) {
    if (isGoneOnClose(error)) return 'expired';
    if (sessionFaultOf(error) !== 'unconfirmed') throw error;
    try {
      await transport.refreshSession(workbook, id, signal);
    } catch (probe) {
      if (isGoneOnClose(probe) || sessionFaultOf(probe) === 'unconfirmed') return 'expired';
      throw error;
    }
    // The session is alive: the 404 was not about it.
    await transport.closeSession(workbook, id, signal);
    return 'closed';
  }
}

/** Aborts `controller` when `signal` aborts (at once if it already has). */
function linkAbort(signal: AbortSignal, controller: AbortController | undefined): void {
  if (controller === undefined || controller.signal.aborted) return;
  if (signal.aborted) return controller.abort(signal.reason);
  signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
}

function checkCallOptions(options: CallOptions | undefined): CallOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`Expected call options to be an object, got ${describe(options)}`);
  checkKeys('call option', options, CALL_OPTION_KEYS);
  checkSignal('signal', options.signal);
  if (options.idempotent !== undefined) checkBoolean('idempotent', options.idempotent);
  if (options.query !== undefined) {
    if (typeof options.query !== 'object' || options.query === null)
      throw new TypeError(`Expected \`query\` to be an object of strings, got ${describe(options.query)}`);
    for (const [key, value] of Object.entries(options.query)) {
      if (typeof value !== 'string')
        throw new TypeError(`Expected query parameter \`${key}\` to be a string, got ${describe(value)}`);
    }
  }
  return options;
}

function serialise(method: HttpMethod, body: unknown): string | undefined {
  if (body === undefined) return undefined;
  if (method === 'GET' || method === 'DELETE') throw new TypeError(`A ${method} request takes no body`);
  let text: string | undefined;
  try {
    text = JSON.stringify(body);
  } catch (error) {
    throw new TypeError(`The request body cannot be serialised to JSON: ${(error as Error).message}`);
  }
  if (text === undefined) throw new TypeError(`The request body cannot be serialised to JSON, got ${describe(body)}`);
  return text;
}
