import { SessionBudgetTimeoutError } from '../../errors.js';
import { abortReason, raceAbort } from '../../util/abort.js';
import { deadlineSignal } from '../../util/timers.js';
import { checkNumber } from '../../util/validate.js';
import type { ReserveOptions, SessionBudget, SessionSlot } from '../coordination.js';
import { giveBack, renew, take } from './scripts.js';
import { RedisLink, type RedisCoordinationOptions } from './redis-gate.js';

export interface RedisSessionBudgetOptions extends RedisCoordinationOptions {
  /** Sessions of one workbook open or being made at once across the fleet. */
  readonly limit: number;
  /**
   * How long a reservation lasts unless renewed; it is renewed every third of it while held, so a
   * process that died stops counting after this long.
   * @default 60000
   */
  readonly reservationTtlMs?: number;
}

interface LocalLane {
  /** Slots this process holds in the lane. */
  held: number;
  /** Reservations of this process waiting for their turn or for a place. */
  waiting: number;
  /** Settles when the last reservation in line has had its turn: the next one waits for it. */
  tail: Promise<void>;
}

/**
 * A session budget counted across the fleet: each session of a workbook holds a reservation in
 * Redis, renewed while held, that ages out when its process is gone. First come first served holds
 * within a process (one reservation per workbook asks Redis at a time) and between processes: the
 * reservations waiting for a workbook stand in one line in Redis, and a place given back is handed
 * to its head.
 */
export class RedisSessionBudget implements SessionBudget {
  readonly limit: number;
  readonly reservationTtlMs: number;
  readonly #link: RedisLink;
  // Workbooks with slots held or reservations waiting here; removed when both are none.
  readonly #lanes = new Map<string, LocalLane>();
  // Slots held now, each with its renewal timer; removed when released.
  readonly #timers = new Set<NodeJS.Timeout>();
  #waiting = 0;
  #lostReservations = 0;

  constructor(options: RedisSessionBudgetOptions) {
    this.limit = checkNumber('limit', options.limit, 1, { integer: true });
    this.reservationTtlMs = checkNumber('reservationTtlMs', options.reservationTtlMs ?? 60_000, 1000, {
      integer: true,
    });
    this.#link = new RedisLink(options);
  }

  get waiting(): number {
    return this.#waiting;
  }

  /** Slots this process holds in `lane` (the fleet's count is in Redis). */
  held(lane: string): number {
    return this.#lanes.get(lane)?.held ?? 0;
  }

  /** Reservations found aged out when renewed (their process was paused past them); put back. */
  get lostReservations(): number {
    return this.#lostReservations;
  }

  async reserve(laneName: string, options: ReserveOptions): Promise<SessionSlot> {
    const { signal, timeoutMs } = options;
    if (signal?.aborted) throw abortReason(signal);
    const lane = this.#lane(laneName);
    const before = lane.tail;
    let done!: () => void;
    lane.tail = new Promise((resolve) => (done = resolve));
    lane.waiting++;
    this.#waiting++;
    let told = false;
    const onWait = (): void => {
      if (told) return;
      told = true;
      options.onWait?.();
    };
    const started = Date.now();
    const deadline = deadlineSignal(timeoutMs, signal);
    let myTurn = false;
    try {
      // Someone of this process is ahead in line: wait for its turn to end first.
      const ahead = lane.waiting > 1;
      if (ahead) onWait();
      await raceAbort(before, deadline.signal);
      myTurn = true;
      const { client } = this.#link;
      const keys = this.#link.keys(laneName);
      const token = await this.#link.acquire(
        (t) => take(client, keys.sessions, undefined, t, this.limit, this.reservationTtlMs),
        (t) => giveBack(client, keys.sessions, t, keys.sessionFreed, { limit: this.limit }),
        keys.sessionFreed,
        deadline.signal,
        onWait,
      );
      return this.#slot(laneName, lane, token);
    } catch (error) {
      if (signal?.aborted) throw abortReason(signal);
      if (deadline.signal.aborted) {
        throw new SessionBudgetTimeoutError({ workbook: laneName, limit: this.limit, waitedMs: Date.now() - started });
      }
      throw error;
    } finally {
      deadline.clear();
      lane.waiting--;
      this.#waiting--;
      // The next in line goes once this one has had its turn, never before.
      if (myTurn) done();
      else void before.then(done);
      this.#dropIfIdle(laneName, lane);
    }
  }

  force(laneName: string): SessionSlot {
    const { client } = this.#link;
    const keys = this.#link.keys(laneName);
    const token = this.#link.token();
    void this.#link.background(take(client, keys.sessions, undefined, token, 0, this.reservationTtlMs));
    return this.#slot(laneName, this.#lane(laneName), token);
  }

  #slot(laneName: string, lane: LocalLane, token: string): SessionSlot {
    const { client } = this.#link;
    const keys = this.#link.keys(laneName);
    lane.held++;
    // A session that exists counts even when its reservation aged out: renewing puts it back.
    const timer = setInterval(
      () => {
        void this.#link.background(
          renew(client, keys.sessions, token, this.reservationTtlMs, true).then((held) => {
            if (!held) this.#lostReservations++;
          }),
        );
      },
      Math.floor(this.reservationTtlMs / 3),
    );
    // The session holds the process open, if anything does, not its reservation.
    timer.unref();
    this.#timers.add(timer);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        this.#timers.delete(timer);
        lane.held--;
        this.#dropIfIdle(laneName, lane);
        void this.#link.background(giveBack(client, keys.sessions, token, keys.sessionFreed, { limit: this.limit }));
      },
    };
  }

  /** Stops renewing (the reservations still held age out) and quits the subscriber it made. */
  async close(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers.clear();
    await this.#link.close();
  }

  #lane(name: string): LocalLane {
    let lane = this.#lanes.get(name);
    if (lane === undefined) {
      lane = { held: 0, waiting: 0, tail: Promise.resolve() };
      this.#lanes.set(name, lane);
    }
    return lane;
  }

  #dropIfIdle(name: string, lane: LocalLane): void {
    if (lane.held === 0 && lane.waiting === 0 && this.#lanes.get(name) === lane) this.#lanes.delete(name);
  }
}
