import { SessionBudgetTimeoutError } from '../errors.js';
import { abortReason } from '../util/abort.js';
import { setLongTimeout } from '../util/timers.js';
import type { ReserveOptions, SessionBudget, SessionSlot } from './coordination.js';

interface Waiter {
  readonly grant: (slot: SessionSlot) => void;
}

interface LaneBudget {
  held: number;
  readonly waiters: Waiter[];
}

/** The session budget of one process: counts per lane, and a FIFO of waiters per lane. */
export class LocalSessionBudget implements SessionBudget {
  readonly limit: number;
  readonly #lanes = new Map<string, LaneBudget>();
  #waiting = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  get waiting(): number {
    return this.#waiting;
  }

  held(lane: string): number {
    return this.#lanes.get(lane)?.held ?? 0;
  }

  reserve(laneName: string, options: ReserveOptions): Promise<SessionSlot> {
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const lane = this.#lane(laneName);
    // First come first served: nobody overtakes a waiter, even when a place is free for a moment.
    if (lane.held < this.limit && lane.waiters.length === 0) return Promise.resolve(this.#take(laneName, lane));
    options.onWait?.();
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const leave = (): void => {
        const at = lane.waiters.indexOf(waiter);
        if (at !== -1) lane.waiters.splice(at, 1);
        this.#waiting--;
        timer?.clear();
        signal?.removeEventListener('abort', onAbort);
        this.#dropIfIdle(laneName, lane);
      };
      const onAbort = (): void => {
        leave();
        reject(abortReason(signal as AbortSignal));
      };
      const waiter: Waiter = {
        grant: (slot) => {
          leave();
          resolve(slot);
        },
      };
      const timer =
        timeoutMs === Infinity
          ? undefined
          : setLongTimeout(() => {
              leave();
              reject(
                new SessionBudgetTimeoutError({
                  workbook: laneName,
                  limit: this.limit,
                  waitedMs: Date.now() - started,
                }),
              );
            }, timeoutMs);
      lane.waiters.push(waiter);
      this.#waiting++;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  force(laneName: string): SessionSlot {
    return this.#take(laneName, this.#lane(laneName));
  }

  #take(laneName: string, lane: LaneBudget): SessionSlot {
    lane.held++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        lane.held--;
        this.#handOn(laneName, lane);
      },
    };
  }

  /** A place came free: the first waiter gets it. */
  #handOn(laneName: string, lane: LaneBudget): void {
    const first = lane.waiters[0];
    if (first !== undefined && lane.held < this.limit) first.grant(this.#take(laneName, lane));
    this.#dropIfIdle(laneName, lane);
  }

  #lane(name: string): LaneBudget {
    let lane = this.#lanes.get(name);
    if (lane === undefined) {
      lane = { held: 0, waiters: [] };
      this.#lanes.set(name, lane);
    }
    return lane;
  }

  #dropIfIdle(name: string, lane: LaneBudget): void {
    if (lane.held === 0 && lane.waiters.length === 0 && this.#lanes.get(name) === lane) this.#lanes.delete(name);
  }
}
