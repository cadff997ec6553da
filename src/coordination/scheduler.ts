import PQueue from 'p-queue';
import { untilStarted } from '../util/abort.js';
import { setLongTimeout, type LongTimer } from '../util/timers.js';
import { localLanes, type Coordination, type LaneGate, type LaneOptions } from './coordination.js';

/** Queue priorities: closes go ahead of everything, keep-alive refreshes ahead of calls. */
export const Priority = { call: 0, refresh: 1, close: 2 } as const;

export interface SchedulerOptions {
  /** Requests in flight at once across all workbooks. */
  readonly concurrency: number;
  /** Requests in flight at once on one workbook. */
  readonly perWorkbookConcurrency: number;
  /**
   * The lane a workbook's requests run in: two names of one file give one lane.
   * @default the workbook string itself
   */
  readonly laneOf?: (workbook: string) => string;
  /**
   * Where a lane's places come from beyond this process.
   * @default localLanes (this process's queues alone)
   */
  readonly gate?: LaneGate;
}

interface Lane {
  readonly queue: PQueue;
  /** Tasks added to this lane and not yet settled. */
  active: number;
  /** Set while a `Retry-After` pause runs; cleared when it ends or on dispose. */
  timer: LongTimer | undefined;
  cooldownUntil: number;
}

/**
 * Runs each request in its workbook's lane (one at a time by default, as Graph advises) and under
 * one global limit. A lane can be paused for a server's `Retry-After`.
 */
export class Scheduler implements Coordination {
  readonly #global: PQueue;
  readonly #perWorkbook: number;
  readonly #laneOf: (workbook: string) => string;
  readonly #gate: LaneGate;
  // One lane per workbook with work queued, running or cooling down; removed when all three end.
  readonly #lanes = new Map<string, Lane>();
  #queued = 0;
  #running = 0;
  // Set by release(): the owner has shut down, and nothing still waiting in a lane may hold the process.
  #released = false;

  constructor(options: SchedulerOptions) {
    this.#global = new PQueue({ concurrency: options.concurrency });
    this.#perWorkbook = options.perWorkbookConcurrency;
    this.#laneOf = options.laneOf ?? ((workbook) => workbook);
    this.#gate = options.gate ?? localLanes;
  }

  /**
   * Runs `task` in `workbook`'s lane. Aborting `signal` while the task waits removes it from the
   * queues; once running, the task handles the signal itself, and it holds its place in the lane
   * and in the global limit until it settles: a request on the wire is still in flight for Graph.
   */
  async run<T>(name: string, task: () => Promise<T>, options: LaneOptions): Promise<T> {
    const workbook = this.#laneOf(name);
    const lane = this.#lane(workbook);
    lane.active++;
    // A cooldown holds the process open only while work waits behind it (and the owner still runs).
    if (!this.#released) lane.timer?.ref();
    this.#queued++;
    let started = false;
    // The queues see only the waiting part of `signal`: p-queue would otherwise let an aborted
    // running task go and start the next one while the first is still on the wire.
    const { signal } = options;
    const waiting = untilStarted(signal);
    const enqueue = { priority: options.priority, ...(waiting.signal === undefined ? {} : { signal: waiting.signal }) };
    try {
      return await lane.queue.add(
        () =>
          this.#global.add(async () => {
            started = true;
            waiting.started();
            this.#queued--;
            this.#running++;
            try {
              const lease = this.#gate.acquire(workbook, signal, options.priority);
              const held = lease instanceof Promise ? await lease : lease;
              try {
                return await task();
              } finally {
                void held.release();
              }
            } finally {
              this.#running--;
            }
          }, enqueue),
        enqueue,
      );
    } finally {
      waiting.started();
      if (!started) this.#queued--;
      lane.active--;
      this.#dropIfIdle(workbook, lane);
    }
  }

  /**
   * Pauses `workbook`'s lane for `ms`: nothing more starts there until it passes. Called by a task
   * the moment its answer carries `Retry-After`, before the lane can start its next request.
   */
  cooldown(name: string, ms: number, now: number = Date.now()): void {
    const workbook = this.#laneOf(name);
    const lane = this.#lane(workbook);
    const until = now + ms;
    if (until <= lane.cooldownUntil) return;
    lane.cooldownUntil = until;
    lane.queue.pause();
    this.#gate.cooledDown(workbook, until);
    lane.timer?.clear();
    // However long the server asks for: setTimeout alone would fire at once past 2^31-1 ms.
    lane.timer = setLongTimeout(() => {
      lane.timer = undefined;
      lane.cooldownUntil = 0;
      lane.queue.start();
      this.#dropIfIdle(workbook, lane);
    }, ms);
    if (lane.active === 0 || this.#released) lane.timer.unref();
  }

  /** Requests waiting in a queue, and requests running. */
  get queued(): number {
    return this.#queued;
  }

  get running(): number {
    return this.#running;
  }

  get lanes(): number {
    return this.#lanes.size;
  }

  /**
   * From now on no cooldown holds the process open; cooldowns themselves still pause their lanes.
   * For an owner that has shut down while work still waits behind a cooldown: that work (a call
   * whose session is closed) must not keep the process alive for as long as Graph asked to wait.
   */
  release(): void {
    this.#released = true;
    for (const lane of this.#lanes.values()) lane.timer?.unref();
  }

  /** Ends every cooldown timer (so none holds the process) and lets paused lanes run. */
  dispose(): void {
    for (const [workbook, lane] of this.#lanes) {
      if (lane.timer !== undefined) {
        lane.timer.clear();
        lane.timer = undefined;
        lane.cooldownUntil = 0;
        lane.queue.start();
      }
      this.#dropIfIdle(workbook, lane);
    }
  }

  #lane(workbook: string): Lane {
    let lane = this.#lanes.get(workbook);
    if (lane === undefined) {
      lane = { queue: new PQueue({ concurrency: this.#perWorkbook }), active: 0, timer: undefined, cooldownUntil: 0 };
      this.#lanes.set(workbook, lane);
    }
    return lane;
  }

  #dropIfIdle(workbook: string, lane: Lane): void {
    if (lane.active !== 0) return;
    if (lane.timer !== undefined) {
      lane.timer.unref();
      return;
    }
    if (this.#lanes.get(workbook) === lane) this.#lanes.delete(workbook);
  }
}
