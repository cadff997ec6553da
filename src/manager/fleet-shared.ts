import { randomUUID } from 'node:crypto';
import type { Coordination, SessionSlot, SharedClaim, SharedSessions } from '../coordination/coordination.js';
import { Priority } from '../coordination/scheduler.js';
import type { JournalEntry } from '../journal/session-store.js';
import { SessionCore, type SessionHost, type SharedSeat } from '../session/session-core.js';
import type { CreatedSession, GraphTransport } from '../transport/graph-transport.js';
import { abortReason, abortableDelay } from '../util/abort.js';
import { shortId } from '../util/ids.js';
import { errorText } from '../util/redact.js';
import type { Log } from './log.js';

/** The longest idle time the fleet is asked about; a longer idle timeout never retires a session anyway. */
const MAX_IDLE_MS = 86_400_000;

/** A use is told to the fleet at most once per this fraction of `idleTimeoutMs`, and held leases as often. */
const TOUCHES_PER_IDLE_TIMEOUT = 10;

/** The longest a process waits, while another creates the shared session, before it looks again. */
const CREATE_WAIT_STEP_MS = 50;

/** What the fleet's shared sessions need from their manager. */
export interface FleetSharedDeps {
  readonly sharing: SharedSessions;
  readonly transport: GraphTransport;
  /** The manager's lanes (shared with the fleet): the idle question is asked under the lane. */
  readonly lanes: Coordination;
  /** A place in the workbook's session budget, for a session this process creates; `signal` gives up the wait. */
  readonly reserve: (workbook: string, signal: AbortSignal | undefined) => Promise<SessionSlot>;
  /** Aborted when a shutdown gives up on creates still under way. */
  readonly creates: AbortSignal;
  /** Arms the idle timer of `core` again, for `at` (epoch ms). */
  readonly rearm: (core: SessionCore, at: number) => void;
  /** A session this process created that the fleet did not take (another was stored first): closed. */
  readonly closeLate: (workbook: string, created: CreatedSession) => void;
  /** The lane of a journal entry's workbook (its file, once resolved). */
  readonly laneOfEntry: (entry: JournalEntry) => string;
  readonly idleTimeoutMs: number;
  readonly log: Log;
}

/** Thrown out of the lane when another process is creating the shared session: wait outside it. */
class OtherCreating extends Error {
  readonly waitMs: number;

  constructor(waitMs: number) {
    super('Another process is creating the shared session');
    this.waitMs = waitMs;
  }
}

/**
 * The shared sessions of `acquire()` in fleet mode: one session per workbook for the whole
 * fleet. Each shared core of this process gets a seat, through which its creates take up the
 * fleet's session or make it under the lane, its uses keep it warm for the fleet, and its idle
 * timer asks the fleet before closing.
 */
export class FleetSharedSessions {
  readonly #d: FleetSharedDeps;
  readonly touchEveryMs: number;
  readonly idleMs: number;
  // Seats with leases held, told to the fleet on a timer; a seat leaves once no lease is held.
  readonly #held = new Set<Seat>();
  // Runs while #held is not empty; cleared when it empties and by dispose().
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: FleetSharedDeps) {
    this.#d = deps;
    this.idleMs = Math.min(deps.idleTimeoutMs, MAX_IDLE_MS);
    this.touchEveryMs = Math.max(1, Math.floor(this.idleMs / TOUCHES_PER_IDLE_TIMEOUT));
  }

  /** A shared core of `workbook` (in `lane`), seated in the fleet. */
  core(host: SessionHost, workbook: string, lane: string): SessionCore {
    const seat = new Seat(this.#d, this, workbook, lane);
    const core = new SessionCore(host, workbook, true, seat);
    seat.core = core;
    return core;
  }

  /** A lease was taken on `core`: a use, and the fleet hears of the lease while it is held. */
  leased(core: SessionCore): void {
    if (!(core.seat instanceof Seat)) return;
    core.seat.used(core.id);
    this.#held.add(core.seat);
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#tell(), this.touchEveryMs);
    // Held leases keep the session warm for the fleet, never the process alive.
    this.#timer.unref();
  }

  /**
   * The reaper's question about a dead owner's session: do live processes still use it (the fleet
   * shares that id and used it within the idle timeout)? When not, the fleet forgets it (under the
   * lane) before the reaper closes it.
   */
  async inUse(entry: JournalEntry): Promise<boolean> {
    if (!entry.persistChanges) return false;
    const lane = this.#d.laneOfEntry(entry);
    const answer = await this.#d.lanes.run(entry.workbook, () => this.#d.sharing.retire(lane, entry.id, this.idleMs), {
      priority: Priority.close,
    });
    return answer.outcome === 'busy';
  }

  dispose(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#held.clear();
  }

  #tell(): void {
    for (const seat of this.#held) {
      const core = seat.core;
      if (core === undefined || core.leases === 0 || core.state !== 'open') this.#held.delete(seat);
      else seat.used(core.id);
    }
    if (this.#held.size === 0) this.dispose();
  }
}

/** One shared core's place in the fleet. */
class Seat implements SharedSeat {
  /** Set right after the core is made with this seat. */
  core: SessionCore | undefined;
  readonly #d: FleetSharedDeps;
  readonly #owner: FleetSharedSessions;
  readonly #workbook: string;
  readonly #lane: string;
  // The id the fleet shares for this core, while it does; undefined for a session this process
  // made alone (Redis could not be reached), which its idle timer closes as in one process.
  #shared: string | undefined;
  // When this process last told the fleet of a use (epoch ms).
  #toldAt = 0;

  constructor(deps: FleetSharedDeps, owner: FleetSharedSessions, workbook: string, lane: string) {
    this.#d = deps;
    this.#owner = owner;
    this.#workbook = workbook;
    this.#lane = lane;
  }

  async create(
    replacing: string | undefined,
    place: AbortSignal | undefined,
  ): Promise<{ readonly created: CreatedSession; readonly slot?: SessionSlot }> {
    const { sharing, transport } = this.#d;
    // Given up (no lease wants it any more) before anything was created or taken up here.
    const givenUp = (): void => {
      if (place?.aborted === true) throw abortReason(place);
    };
    // The fleet has one already: taken up, with nothing created and no place of this process's budget.
    const found = await sharing.find(this.#lane);
    givenUp();
    if (found !== undefined && found !== replacing) return this.#adopt(found);
    for (;;) {
      // Had (unless given up in that very turn): from now on the create goes on even if no lease waits for it.
      const granted = await this.#d.reserve(this.#workbook, place);
      const slot = this.core?.keepPlace(granted, place) ?? granted;
      const token = randomUUID();
      const seen: { claim?: SharedClaim } = {};
      let created: CreatedSession;
      try {
        created = await transport.createSession(this.#workbook, true, this.#d.creates, async () => {
          // In the lane, holding its place: nobody else creates now, so the re-check is final.
          const claim = await sharing.claim(this.#lane, token, replacing);
          seen.claim = claim;
          if (claim.outcome === 'adopt') return { id: claim.id, persistChanges: true };
          if (claim.outcome === 'wait') throw new OtherCreating(claim.waitMs);
          return undefined;
        });
      } catch (error) {
        slot.release();
        if (seen.claim?.outcome === 'create') void sharing.abandon(this.#lane, token).catch(() => undefined);
        if (!(error instanceof OtherCreating)) throw error;
        // Waiting for another process again: nothing of ours is under way, so it may be given up again.
        place = this.core?.waitForPlace() ?? place;
        const stop = place === undefined ? this.#d.creates : AbortSignal.any([this.#d.creates, place]);
        // Out of the lane, so that the creator's own requests (a long-running create's polls) can run.
        await abortableDelay(Math.min(Math.max(1, error.waitMs), CREATE_WAIT_STEP_MS), stop);
        const now = await sharing.find(this.#lane);
        givenUp();
        if (now !== undefined && now !== replacing) return this.#adopt(now);
        continue;
      }
      if (seen.claim?.outcome === 'adopt') {
        slot.release();
        return this.#adopt(created.id);
      }
      const stored = await sharing.store(this.#lane, token, created.id);
      if (stored.id !== created.id) {
        // Another process's session was stored first (our claim outlived its TTL): the fleet uses that one.
        slot.release();
        this.#d.closeLate(this.#workbook, created);
        return this.#adopt(stored.id);
      }
      this.#shared = stored.shared ? created.id : undefined;
      this.#toldAt = Date.now();
      return { created, slot };
    }
  }

  #adopt(id: string): { readonly created: CreatedSession } {
    this.#shared = id;
    this.#toldAt = Date.now();
    this.#d.log('debug', 'took up the shared session of the fleet', { id: shortId(id), workbook: this.#workbook });
    return { created: { id, persistChanges: true } };
  }

  used(id: string): void {
    if (this.#shared !== id) return;
    const now = Date.now();
    if (now - this.#toldAt < this.#owner.touchEveryMs) return;
    this.#toldAt = now;
    void this.#d.sharing.touch(this.#lane, id).catch(() => undefined);
  }

  async retire(id: string): Promise<'close' | 'release' | 'keep'> {
    // Made by this process alone: closed by its idle timer, as in one process.
    if (this.#shared !== id) return 'close';
    try {
      const answer = await this.#d.lanes.run(
        this.#workbook,
        () => this.#d.sharing.retire(this.#lane, id, this.#owner.idleMs),
        { priority: Priority.close },
      );
      if (answer.outcome === 'busy') {
        if (this.core !== undefined) this.#d.rearm(this.core, Date.now() + answer.leftMs);
        return 'keep';
      }
      this.#shared = undefined;
      return answer.outcome === 'retired' ? 'close' : 'release';
    } catch (error) {
      // The fleet could not be asked: a close always goes out.
      this.#d.log('warn', 'asking the fleet whether a shared session is idle failed: closing it', {
        workbook: this.#workbook,
        error: errorText(error),
      });
      this.#shared = undefined;
      return 'close';
    }
  }

  closing(id: string): void {
    if (this.#shared !== id) return;
    this.#shared = undefined;
    void this.#d.sharing.release(this.#lane, id).catch(() => undefined);
  }
}
