import { abortReason, raceAbort, linkAbort } from '../util/abort.js';
import { SessionClosedError, SessionExpiredError, isGraphRequestError, withOutcomeUnknown } from '../errors.js';
import { isSessionClosedError } from '../errors.js';
import { shortId } from '../util/ids.js';
import type { Reapable } from '../lifecycle/idle-reaper.js';
import type { SessionSlot } from '../coordination/coordination.js';
import { Priority } from '../coordination/scheduler.js';
import type { CloseReason, SessionState } from '../types.js';
import { checkSignal } from '../util/validate.js';
import type { CreatedSession, GraphTransport, HttpMethod } from '../transport/graph-transport.js';
import { closeConfirmed } from './close.js';
import { checkCallOptions, serialise, type CallOptions } from './call-options.js';
import { sessionFaultOf } from './faults.js';
import {
  afterFault,
  closeReasonAfter,
  endFor,
  idOf,
  mayReopen,
  reasonOf,
  reopenOf,
  stateOf,
  type ConfirmedFault,
  type EndOutcome,
  type Reopen,
  type SessionLife,
} from './life.js';
import { WorkbookSession } from './workbook-session.js';

/** What a session needs from its manager. Internal. */
export interface SessionHost {
  readonly transport: GraphTransport;
  /** Given to every createSession: aborted when a shutdown gives up on creates still under way. */
  readonly creates: AbortSignal;
  /** A persistent session may be reopened (the manager is not shutting down). */
  mayReopen(): boolean;
  /** Waits for a place in the workbook's session budget, for a reopen's create; `signal` gives up the wait. */
  reserve(workbook: string, signal: AbortSignal): Promise<SessionSlot>;
  /**
   * Every change of phase. The manager turns it into events, totals, journal writes and reaper
   * calls. The session waits for what it returns where that matters: a session is usable once the
   * manager has taken it in (a rejection means the manager refused it, being shut down, and has
   * begun closing it), and a close resolves once the journal knows, so a crash right after it does
   * not send recovery after a session that is already closed.
   */
  changed(core: SessionCore, from: SessionLife, to: SessionLife): Promise<void>;
}

/**
 * A shared session's place in a fleet (`acquire()` with the `fleet` option): where its creates go,
 * who hears of its uses, and who decides what its idle timer does. Internal.
 */
export interface SharedSeat {
  /**
   * A session for the core: the fleet's own, or one created under the lane after a re-check.
   * `replacing` is the id the core leaves behind, forgotten by the fleet if it still shares it.
   * `slot` is set only for a session this process created. `place` gives up a wait for a place in
   * the budget; the seat passes the place it is granted through `core.keepPlace()`, before anything is sent.
   */
  create(
    replacing: string | undefined,
    place: AbortSignal | undefined,
  ): Promise<{ readonly created: CreatedSession; readonly slot?: SessionSlot }>;
  /** A call or a lease used the session `id` (told cheaply, not for every call). */
  used(id: string): void;
  /**
   * The idle timer fired for `id`: `close` it (the fleet left it idle, or it is this process's
   * alone), `release` it (another process retired or replaced it: no close), or `keep` it (used
   * elsewhere; the seat has armed the timer again). Never rejects.
   */
  retire(id: string): Promise<'close' | 'release' | 'keep'>;
  /** This process closes `id` for another reason than idleness (a shutdown): nobody may take it up now. */
  closing(id: string): void;
}

/**
 * Sessions a handle may create in a row, after faults, without one call succeeding in them. Past
 * it the handle ends with the reason `failed`: a workbook where every session faults is not fixed
 * by opening more.
 */
export const MAX_RECREATES_IN_A_ROW = 3;

const RESOLVED = Promise.resolve();

/**
 * The session behind one handle: its life (see `life.ts`), its activity clocks, the reaper's slot.
 * Internal; users see {@link WorkbookSession}.
 */
export class SessionCore implements Reapable {
  readonly workbook: string;
  readonly persistChanges: boolean;
  readonly handle: WorkbookSession;
  /** Set for a session the fleet shares: its creates, uses and idle end go through it. */
  readonly seat: SharedSeat | undefined;
  /** Owned by the idle reaper. */
  heapIndex = -1;
  /** Owned by the idle reaper. */
  dueAt = 0;
  readonly #host: SessionHost;
  #life: SessionLife = { phase: 'opening' };
  // Set once the handle was closed by its user or by a shutdown, or ended for good: it never reopens after that.
  #final = false;
  // Sessions created after a fault since a call last succeeded; reset by a success. Bounded by MAX_RECREATES_IN_A_ROW.
  #recreates = 0;
  // When the last call answered, or the session opened (epoch ms). The idle clock.
  #lastActivity = 0;
  // When Graph last heard from this session (any request with its id). The keep-alive clock.
  #lastContact = 0;
  // Calls running or queued through this session.
  #inFlight = 0;
  // Requests of this session on the wire now: a new session is made only once none is left.
  #sending = 0;
  #drained: (() => void) | undefined;
  // The place this session holds in its workbook's budget, from its create until Graph confirmed its end.
  #slot: SessionSlot | undefined;
  // Leases held on a shared session: while any is held it is not idle.
  #leases = 0;
  // Set while the fleet is asked whether an idle timer may close the session; calls and leases wait for it.
  #retiring: Promise<void> | undefined;
  // Set while this session's create (its first, or a reopen's) waits for a place in the budget with
  // nothing sent yet: a shared session's wait is given up once the last lease is given back, as
  // nobody wants the session any more and a place taken now would idle for `idleTimeoutMs`.
  #placeWait: AbortController | undefined;
  // The create whose wait was given up: a first create serves no new lease (the manager makes a new
  // shared session), and a reopen is made again by the next use once it has settled.
  #gaveUp: Reopen | 'opening' | undefined;
  // Calls waiting for a reopen: while any waits, the reopen is wanted even with no lease held.
  #awaitingReopen = 0;

  constructor(host: SessionHost, workbook: string, persistChanges: boolean, seat?: SharedSeat) {
    this.#host = host;
    this.workbook = workbook;
    this.persistChanges = persistChanges;
    this.seat = seat;
    this.handle = new WorkbookSession(this);
  }

  /**
   * A session this manager must close although no handle asked for it (a create nobody waits for
   * any more, or one given up after a fault): open, and never reopened.
   */
  static adopt(
    host: SessionHost,
    workbook: string,
    persistChanges: boolean,
    id: string,
    slot: SessionSlot | undefined,
  ): SessionCore {
    const core = new SessionCore(host, workbook, persistChanges);
    core.#final = true;
    core.#slot = slot;
    core.#life = { phase: 'open', id };
    core.#lastActivity = core.#lastContact = Date.now();
    return core;
  }

  get life(): SessionLife {
    return this.#life;
  }

  get id(): string {
    return idOf(this.#life);
  }

  get state(): SessionState {
    return stateOf(this.#life);
  }

  get reason(): CloseReason | undefined {
    return reasonOf(this.#life);
  }

  /** Set while the session ended with its close failed; cleared if a later close succeeds. */
  get closeError(): unknown {
    return this.#life.phase === 'ended' && this.#life.outcome === 'close-failed' ? this.#life.error : undefined;
  }

  get lastActivity(): number {
    return this.#lastActivity;
  }

  get lastContact(): number {
    return this.#lastContact;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Leases held on it (a shared session). */
  get leases(): number {
    return this.#leases;
  }

  /** A caller takes a lease on this shared session. */
  lease(): void {
    this.#leases++;
  }

  /** A lease was given back: the idle clock runs from now once no lease is left. */
  unlease(): void {
    this.#leases--;
    this.#lastActivity = Date.now();
    this.#giveUpIfUnwanted();
  }

  /** Gives up a wait for a place once no lease is held and no call waits for the session. */
  #giveUpIfUnwanted(): void {
    const wait = this.#placeWait;
    if (this.#leases > 0 || this.#awaitingReopen > 0 || wait === undefined) return;
    // Nothing was sent for it: giving up the wait leaves nothing to close.
    this.#placeWait = undefined;
    const life = this.#life;
    this.#gaveUp = life.phase === 'reopening' ? life.reopen : life.phase === 'opening' ? 'opening' : undefined;
    wait.abort(new Error('No lease waits for this shared session any more'));
  }

  /**
   * A wait for a place in the budget begins for this session's create: the signal that gives it up
   * (see `unlease()`). The place granted goes through `keepPlace()`, and `placeWaitOver()` ends the
   * wait however it ended.
   */
  waitForPlace(): AbortSignal {
    const wait = new AbortController();
    this.#placeWait = wait;
    return wait.signal;
  }

  /**
   * The wait for `slot` was granted: from now on the create is not given up. Called in the turn the
   * waiter resumes, before anything is sent; a grant and a give-up (`signal`, the waiter's) may land
   * in one turn, and then the place goes back and this throws the give-up's reason.
   */
  keepPlace(slot: SessionSlot, signal: AbortSignal | undefined): SessionSlot {
    if (signal?.aborted === true) {
      slot.release();
      throw abortReason(signal);
    }
    this.#placeWait = undefined;
    return slot;
  }

  /** The wait for a place is over (had, failed, or not needed): from now on nothing gives it up. */
  placeWaitOver(): void {
    this.#placeWait = undefined;
  }

  /**
   * Can this session serve a new lease: open, on its way (opening, reopening), or ended in a way a
   * call recovers from (idle or expired, for a persistent session)?
   */
  get serviceable(): boolean {
    const life = this.#life;
    if (life.phase === 'opening') return this.#gaveUp !== 'opening';
    if (life.phase === 'ended') return mayReopen(life, this.persistChanges, this.#final);
    if (life.phase === 'closing') return life.reason === 'idle' && !this.#final;
    return true;
  }

  /**
   * The first createSession answered (or the fleet's shared session was taken up, with no slot of
   * this process): the session is open once the manager has taken it in.
   */
  opened(created: CreatedSession, slot: SessionSlot | undefined): Promise<void> {
    this.#slot = slot;
    this.#lastActivity = this.#lastContact = Date.now();
    return this.#change({ phase: 'open', id: created.id });
  }

  closedError(): SessionClosedError {
    return new SessionClosedError({
      reason: this.reason ?? 'disposed',
      workbook: this.workbook,
      sessionId: shortId(this.id),
    });
  }

  /**
   * One call in the session, with the session-fault rules of DESIGN.md (see `afterFault`): a
   * session Graph says is gone or faulted is given up (and closed, best effort); a persistent
   * handle goes on in a new one, replaying the call once when it may be sent twice.
   */
  async call(
    method: HttpMethod,
    path: string,
    body: unknown,
    options: CallOptions | undefined,
    pinned?: string,
  ): Promise<unknown> {
    const opts = checkCallOptions(options);
    const idempotent = opts.idempotent ?? method === 'GET';
    const payload = serialise(method, body);
    // The id the request carried ('' when nothing was sent), to tell whether the handle moved on meanwhile.
    const sent = { id: '' };
    // A call goes to a second session at most once, whoever created it.
    let replayed = false;
    for (;;) {
      await this.#usable(opts.signal, pinned);
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
        const current = sent.id === this.id && this.#life.phase === 'open';
        if (current) this.#giveUp(fault);
        const next = afterFault({
          fault,
          current,
          persistChanges: this.persistChanges,
          mayGoOn: current && this.#host.mayReopen(),
          idempotent,
          replayed,
          final: this.#final,
        });
        if (next === 'replay') {
          // Pinned to the session it was sent in: that session is over, and the work does not move on.
          if (pinned !== undefined) throw this.#pinnedError(pinned);
          replayed = true;
          continue;
        }
        if (next === 'expired') {
          throw new SessionExpiredError({ workbook: this.workbook, sessionId: shortId(sent.id), cause: error });
        }
        if (next === 'closed') throw this.closedError();
        if (next === 'outcome-unknown') throw isGraphRequestError(error) ? withOutcomeUnknown(error) : error;
        throw error;
      }
    }
  }

  /**
   * What a failed request says about the session it was sent in. A bare 404 may be a missing
   * worksheet rather than a missing session: a refreshSession tells which.
   */
  async #faultOf(error: unknown, sentId: string): Promise<ConfirmedFault | 'none'> {
    const fault = sessionFaultOf(error);
    if (fault !== 'unconfirmed') return fault;
    if (this.#life.phase !== 'open' || this.id !== sentId) return 'gone';
    try {
      await this.#refreshSession(undefined);
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
  #giveUp(fault: ConfirmedFault): void {
    const { reason, outcome } = endFor(fault, this.#recreates, MAX_RECREATES_IN_A_ROW);
    if (reason === 'failed') this.#final = true;
    this.#end(reason, outcome);
  }

  /** Ends the session without a close request of its own. */
  #end(reason: CloseReason, outcome: EndOutcome): void {
    const life = this.#life;
    if (life.phase === 'ended') return;
    void this.#change({ phase: 'ended', id: idOf(life), reason, outcome, done: RESOLVED });
  }

  /** A refreshSession in the current session; Graph heard from it when it answers. */
  async #refreshSession(signal: AbortSignal | undefined): Promise<void> {
    await this.#host.transport.refreshSession(this.workbook, () => this.#idForRequest(), signal);
    this.#lastContact = Date.now();
  }

  async refresh(options?: { signal?: AbortSignal }): Promise<void> {
    const signal = checkSignal('signal', options?.signal);
    await this.#usable(signal);
    this.#inFlight++;
    try {
      await this.#refreshSession(signal);
    } catch (error) {
      this.#refreshFailed(error);
      throw error;
    } finally {
      this.#inFlight--;
      this.#lastActivity = Date.now();
    }
  }

  /**
   * The keep-alive's refresh, for a session Graph would forget before its idle deadline. Resolves
   * when Graph heard from it, or when it closed while the refresh waited in its lane (nothing to
   * keep alive); rejects with what went wrong otherwise, after acting on it.
   */
  async keepAlive(now: number): Promise<void> {
    this.#lastContact = now;
    try {
      await this.#refreshSession(undefined);
    } catch (error) {
      if (isSessionClosedError(error)) return;
      this.#refreshFailed(error);
      throw error;
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
      const life = this.#life;
      // Closed for idleness and now disposed: it is the user's close that counts from here on.
      if (life.phase === 'ended' && life.reason === 'idle' && life.outcome !== 'close-failed') {
        this.#life = { ...life, reason };
      }
    }
    const life = this.#life;
    const reopen = reopenOf(life);
    if (reopen !== undefined) return this.#closeAfter(reopen, reason, signal);
    // Idle here is not idle for the fleet: the seat decides.
    if (reason === 'idle' && this.seat !== undefined && life.phase === 'open') return this.#retire(this.seat, life.id);
    switch (life.phase) {
      case 'closing':
        if (signal !== undefined) linkAbort(signal, life.abort);
        return life.done;
      case 'ended':
        // Ended without a close request (expired, failed) or closed: one promise for every caller.
        if (life.outcome !== 'close-failed') return life.done;
        return this.#startClose(life.id, closeReasonAfter(life, reason), signal);
      case 'open':
        return this.#startClose(life.id, reason, signal);
      case 'opening':
      case 'reopening':
        // Not handed out yet: nothing of it to close.
        return RESOLVED;
    }
  }

  /**
   * The idle timer fired for a shared session: the fleet says whether this process closes it, lets
   * go of it without a close (another process retired or replaced it), or keeps it.
   */
  #retire(seat: SharedSeat, id: string): Promise<void> {
    if (this.#retiring !== undefined) return this.#retiring;
    const retiring = seat.retire(id).then((verdict) => {
      const life = this.#life;
      // Moved on meanwhile (a shutdown closed it, a call found it gone): that stands.
      if (life.phase !== 'open' || life.id !== id || life.reopen !== undefined) return;
      if (verdict === 'close') return this.#startClose(id, 'idle', undefined);
      if (verdict === 'release') this.#end('idle', 'released');
    });
    const held = retiring.finally(() => {
      if (this.#retiring === held) this.#retiring = undefined;
    });
    this.#retiring = held;
    return held;
  }

  /** Closes the session a reopen is about to give, once it has it (a refused reopen too: its session may exist). */
  #closeAfter(reopen: Reopen, reason: CloseReason, signal: AbortSignal | undefined): Promise<void> {
    if (reopen.closeAfter === undefined) {
      const abort = new AbortController();
      const next = (): Promise<void> => this.close(reason, abort.signal);
      reopen.closeAfter = { done: reopen.done.then(next, next), abort };
    }
    if (signal !== undefined) linkAbort(signal, reopen.closeAfter.abort);
    return reopen.closeAfter.done;
  }

  #startClose(id: string, reason: CloseReason, signal: AbortSignal | undefined): Promise<void> {
    const abort = new AbortController();
    if (signal !== undefined) linkAbort(signal, abort);
    // Closing from before the request goes out: nothing may send in this session from now on.
    let send!: (closed: Promise<void>) => void;
    const done = new Promise<void>((resolve) => (send = resolve));
    void this.#change({ phase: 'closing', id, reason, done, abort });
    send(
      closeConfirmed(this.#host.transport, this.workbook, id, abort.signal).then(
        (outcome) => this.#change({ phase: 'ended', id, reason, outcome, done }),
        (error: unknown) => {
          // A later close (a shutdown's) may try again.
          void this.#change({ phase: 'ended', id, reason, outcome: 'close-failed', error, done: RESOLVED });
          throw error;
        },
      ),
    );
    return done;
  }

  /**
   * A refreshSession of the current session failed: what the answer says of the session decides, as
   * for a call. A 404 to refreshSession is about the session itself, so it is gone; a session given
   * up for any other fault is closed (best effort) like one a call gave up, never just forgotten. A
   * persistent handle reopens on its next call.
   */
  #refreshFailed(error: unknown): void {
    if (this.#life.phase !== 'open') return;
    const fault = sessionFaultOf(error);
    // A 404 to refreshSession is about the session itself: gone, whatever the bound on recreating.
    if (fault === 'unconfirmed') this.#end('expired', 'expired');
    else if (fault !== 'none') this.#giveUp(fault);
  }

  #pinnedError(pinned: string): SessionClosedError {
    const reason = this.id === pinned ? (this.reason ?? 'expired') : 'expired';
    return new SessionClosedError({ reason, workbook: this.workbook, sessionId: shortId(pinned) });
  }

  /** The id to send, checked in the lane right before sending: the session may have closed meanwhile. */
  #idForRequest(): string {
    if (this.#life.phase !== 'open') throw this.closedError();
    return this.#life.id;
  }

  /** Resolves once the session can take a call, reopening a persistent one that went idle or expired. */
  ready(signal: AbortSignal | undefined): Promise<void> {
    return this.#usable(signal);
  }

  /** Waits until the session can take a call: reopens a persistent one that went idle or expired. */
  async #usable(signal: AbortSignal | undefined, pinned?: string): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    // The fleet is asked whether the idle timer closes it: what it answers decides what comes next.
    const retiring = this.#retiring?.catch(() => undefined);
    if (retiring !== undefined) await raceAbort(retiring, signal);
    if (pinned !== undefined) {
      // Only in the session it was pinned to: once that one is over, the work fails instead of moving.
      if (this.#life.phase === 'open' && this.#life.id === pinned && reopenOf(this.#life) === undefined) return;
      throw this.#pinnedError(pinned);
    }
    let life = this.#life;
    let reopen = reopenOf(life);
    if (reopen !== undefined && reopen === this.#gaveUp) {
      // Given up with no lease left, nothing sent: once it has settled, this use makes another below.
      await raceAbort(
        reopen.done.catch(() => undefined),
        signal,
      );
      life = this.#life;
      reopen = reopenOf(life);
    }
    if (reopen !== undefined) return this.#awaitReopen(reopen.done, signal);
    if (life.phase === 'open') return;
    if (life.phase === 'closing' && life.reason === 'idle' && !this.#final) {
      // The idle close is on its way: let it finish, then reopen below.
      await raceAbort(
        life.done.catch(() => undefined),
        signal,
      );
      life = this.#life;
      reopen = reopenOf(life);
      if (reopen !== undefined) return this.#awaitReopen(reopen.done, signal);
      if (life.phase === 'open') return;
    }
    if (life.phase !== 'ended' || !mayReopen(life, this.persistChanges, this.#final) || !this.#host.mayReopen()) {
      throw this.closedError();
    }
    return this.#awaitReopen(this.#reopen(life), signal);
  }

  /** A call waits for a reopen: the reopen is wanted while it waits (see `#giveUpIfUnwanted`). */
  async #awaitReopen(done: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
    this.#awaitingReopen++;
    try {
      await raceAbort(done, signal);
    } finally {
      this.#awaitingReopen--;
      this.#giveUpIfUnwanted();
    }
  }

  #reopen(before: SessionLife & { phase: 'ended' }): Promise<void> {
    // A session given up after a fault: counted towards the bound on recreating (unless nothing was
    // created because nobody wanted it any more).
    const counted = before.reason === 'expired';
    if (counted) this.#recreates++;
    const done = this.#create(before.id).then(
      ({ created, slot }) => {
        this.#slot = slot;
        this.#lastActivity = this.#lastContact = Date.now();
        // Rejects (and closes the new session) when the manager began shutting down meanwhile.
        return this.#change({ phase: 'open', id: created.id, reopen });
      },
      (error: unknown) => {
        // Nothing was created: back where it was, and a later call may try again.
        if (counted && this.#gaveUp === reopen) this.#recreates--;
        if (this.#life.phase === 'reopening' && this.#life.reopen === reopen) void this.#change(before);
        throw error;
      },
    );
    const reopen: Reopen = { done, closeAfter: undefined };
    void this.#change({ phase: 'reopening', previousId: before.id, previous: before.reason, reopen });
    const settled = (): void => {
      const life = this.#life;
      // Taken in: calls no longer wait for it.
      if (life.phase === 'open' && life.reopen === reopen) this.#life = { phase: 'open', id: life.id };
    };
    done.then(settled, settled);
    return done;
  }

  /**
   * A new session for a reopen: once no request of the old one is on the wire (Graph must not see
   * two session ids at once on one file), and within the workbook's budget.
   */
  async #create(previous: string): Promise<{ created: CreatedSession; slot?: SessionSlot }> {
    const place = this.waitForPlace();
    let slot: SessionSlot;
    try {
      if (this.#sending > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
      if (this.seat !== undefined) return await this.seat.create(previous, place);
      slot = this.keepPlace(await this.#host.reserve(this.workbook, place), place);
    } finally {
      this.placeWaitOver();
    }
    try {
      return { created: await this.#host.transport.createSession(this.workbook, true, this.#host.creates), slot };
    } catch (error) {
      slot.release();
      throw error;
    }
  }

  async #send(
    method: HttpMethod,
    path: string,
    body: string | undefined,
    options: CallOptions,
    idempotent: boolean,
    sent: { id: string },
  ): Promise<unknown> {
    this.#inFlight++;
    // Counted once, from the first time its id is read for sending (retries read it again).
    let counted = false;
    try {
      const answer = await this.#host.transport.request(
        this.workbook,
        {
          method,
          path: `${this.workbook}/workbook${path}`,
          // Checked in the lane, right before sending: the session may have closed while the call waited.
          session: () => {
            sent.id = this.#idForRequest();
            if (!counted) {
              counted = true;
              this.#sending++;
              this.seat?.used(sent.id);
            }
            return sent.id;
          },
          body,
          query: options.query,
          headers: options.headers,
          signal: options.signal,
        },
        { priority: Priority.call, idempotent },
      );
      this.#lastContact = Date.now();
      return answer.body;
    } finally {
      this.#inFlight--;
      this.#lastActivity = Date.now();
      if (counted && --this.#sending === 0) {
        this.#drained?.();
        this.#drained = undefined;
      }
    }
  }

  /** Moves to `to` and tells the manager. */
  #change(to: SessionLife): Promise<void> {
    const from = this.#life;
    this.#life = to;
    // Closed by this process for good, not for idleness (the fleet answered that already).
    if (to.phase === 'closing' && to.reason !== 'idle') this.seat?.closing(to.id);
    // Over on the server: its place in the budget is free. A close that failed keeps it (the
    // session may still be open), and a session handed over gives it to its stand-in.
    if (to.phase === 'ended' && to.outcome !== 'close-failed' && to.outcome !== 'handed-over') {
      this.#slot?.release();
      this.#slot = undefined;
    }
    return this.#host.changed(this, from, to);
  }

  /** The budget place of a session handed over after a fault, for the stand-in that closes it. */
  takeSlot(): SessionSlot | undefined {
    const slot = this.#slot;
    this.#slot = undefined;
    return slot;
  }
}
