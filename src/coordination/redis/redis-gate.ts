import { randomUUID } from 'node:crypto';
import { abortReason, raceAbort } from '../../util/abort.js';
import { checkNumber } from '../../util/validate.js';
import type { LaneGate, LaneLease } from '../coordination.js';
import {
  coolDown,
  giveBack,
  LINE_TIMES,
  renew,
  take,
  workbookKeys,
  type RedisClient,
  type TakeAnswer,
} from './scripts.js';
import { Wakeups, type Watch } from './wakeups.js';

/**
 * Options shared by the Redis gate and the Redis session budget.
 *
 * The client must fail fast when Redis is unreachable, or every request waits for it: create it
 * with `enableOfflineQueue: false` (no command waits for a connection), a small
 * `maxRetriesPerRequest` (1) and a `commandTimeout` (e.g. 1000 ms). ioredis's defaults queue
 * commands and retry each 20 times, about 10 s, before a caller hears of it.
 */
export interface RedisCoordinationOptions {
  /** The client the scripts run on; its owner connects and quits it. */
  readonly client: RedisClient;
  /**
   * A connection for pub/sub (a subscribed connection runs no other command).
   * @default `client.duplicate()`, quit by `close()`
   */
  readonly subscriber?: RedisClient;
  /**
   * Put in front of every key and channel, outside the hash tag.
   * @default 'wbs:'
   */
  readonly keyPrefix?: string;
  /**
   * The longest a waiter sleeps without looking again, in case a wake-up was lost (pub/sub
   * delivers nothing while its connection is down). Waiters are woken by messages, not by this;
   * and a waiter refreshes its place in line every second, whatever this says.
   * @default 1000
   */
  readonly recheckMs?: number;
  /**
   * Called with errors nobody waits for: a release, a renewal or a cooldown that failed.
   * @default nothing
   */
  readonly onError?: (error: unknown) => void;
}

export interface RedisLaneGateOptions extends RedisCoordinationOptions {
  /**
   * Requests in flight at once on one workbook across the fleet.
   * @default 1
   */
  readonly perWorkbookConcurrency?: number;
  /**
   * How long a lease lasts unless extended; it is extended every third of it while its request
   * runs. Must exceed the request timeout by a margin, so that a process paused or cut off from
   * Redis loses its lease only after its request has ended.
   * @default 30000
   */
  readonly leaseTtlMs?: number;
  /**
   * Called when a lease is found gone as it is extended or given back (its request finishes anyway).
   * @default nothing
   */
  readonly onLeaseLost?: (lane: string) => void;
}

/** How often a waiter refreshes its entry in line at least: a third of the entry's TTL. */
const REFRESH_MS = Math.floor(LINE_TIMES.waiterTtlMs / 3);

/** What the gate and the budget share: the client, the subscriber, the keys, the wake-ups. */
export class RedisLink {
  readonly client: RedisClient;
  readonly prefix: string;
  readonly recheckMs: number;
  readonly wakeups: Wakeups;
  readonly #subscriber: RedisClient;
  readonly #ownsSubscriber: boolean;
  readonly #onError: (error: unknown) => void;
  // Counts tokens made here; with the instance's id, it makes each token unique in the fleet.
  #tokens = 0;
  readonly #id = randomUUID();

  constructor(options: RedisCoordinationOptions) {
    this.client = options.client;
    this.prefix = options.keyPrefix ?? 'wbs:';
    if (typeof this.prefix !== 'string') throw new TypeError('Expected `keyPrefix` to be a string');
    this.recheckMs = checkNumber('recheckMs', options.recheckMs ?? 1000, 1, { integer: true });
    this.#onError = options.onError ?? (() => undefined);
    this.#ownsSubscriber = options.subscriber === undefined;
    this.#subscriber = options.subscriber ?? options.client.duplicate();
    this.wakeups = new Wakeups(this.#subscriber, this.recheckMs);
  }

  token(): string {
    return `${this.#id}:${++this.#tokens}`;
  }

  keys(lane: string): ReturnType<typeof workbookKeys> {
    return workbookKeys(this.prefix, lane);
  }

  /** Runs background work (a release, a renewal): its failure goes to `onError`, never rejects. */
  background(work: Promise<unknown>): Promise<void> {
    return work.then(
      () => undefined,
      (error: unknown) => {
        try {
          this.#onError(error);
        } catch {
          // A throwing listener must not turn a release into an unhandled rejection.
        }
      },
    );
  }

  /**
   * Waits for a place in a token set, first come first served across the fleet: takes it at once
   * when free, else waits in the set's line in Redis until a place is handed to it (a message
   * naming its token on `channel`), a lease's expiry or the end of a cooldown says one may be
   * free. A wait given up (`signal` aborted) leaves the line, and a place taken or handed to it
   * meanwhile goes back.
   */
  async acquire(
    tryTake: (token: string) => Promise<TakeAnswer>,
    give: (token: string) => Promise<unknown>,
    channel: string,
    signal: AbortSignal | undefined,
    onWait?: () => void,
  ): Promise<string> {
    if (signal?.aborted) throw abortReason(signal);
    const token = this.token();
    // A channel this process listens on already (a busy workbook): watched before the first take,
    // so that a refusal needs no second look.
    let watch: Watch | undefined = this.wakeups.subscribed(channel)
      ? await this.wakeups.watch(channel, token, signal)
      : undefined;
    let attempt: Promise<TakeAnswer> | undefined;
    let inFlight = false;
    let waited = false;
    try {
      for (;;) {
        const seen = watch?.seen ?? 0;
        attempt = tryTake(token);
        inFlight = true;
        const answer = await raceAbort(attempt, signal);
        inFlight = false;
        if (answer.outcome === 'taken') return token;
        if (!waited) {
          waited = true;
          onWait?.();
        }
        if (watch === undefined) {
          // Subscribed first, then looked again: a place handed over meanwhile is not missed.
          watch = await this.wakeups.watch(channel, token, signal);
          continue;
        }
        // A lease expiring or a cooldown ending sends no message: wake when it is due. The entry in
        // line is refreshed by the next take, well within its TTL.
        await watch.wait(seen, Math.min(this.recheckMs, REFRESH_MS, answer.waitMs + 1), signal);
      }
    } catch (error) {
      if (signal?.aborted && attempt !== undefined) {
        const last = attempt;
        const leave = this.background(
          last.then(
            () => give(token),
            () => give(token),
          ),
        );
        // Out of the line before the abort is told, so that a place freed next is not handed to it;
        // a take still under way is not waited for (it is left behind, then the place goes back).
        if (!inFlight) await leave;
      }
      throw error;
    } finally {
      watch?.close();
    }
  }

  /** Quits the subscriber this made (never the client, which is the caller's). */
  async close(): Promise<void> {
    this.wakeups.close();
    if (!this.#ownsSubscriber) return;
    await this.#subscriber.quit().catch(() => this.#subscriber.disconnect());
  }
}

/**
 * A lane gate shared by every process on one Redis: a workbook's lane is a set of at most
 * `perWorkbookConcurrency` leases that expire unless extended, and its cooldown is a key only the
 * server's clock ends. A lease is extended while its request runs; one found gone (the process was
 * paused past it, or Redis restarted) is counted in `lostLeases`, and the request finishes anyway.
 */
export class RedisLaneGate implements LaneGate {
  readonly perWorkbookConcurrency: number;
  readonly leaseTtlMs: number;
  readonly #link: RedisLink;
  readonly #onLeaseLost: (lane: string) => void;
  #lostLeases = 0;
  // Leases held now, each with its extension timer; removed when released.
  readonly #held = new Set<{ readonly timer: NodeJS.Timeout }>();
  // Per lane, the cooldown last sent and not yet answered: a release waits for it, so that the next
  // process cannot take the lane before the cooldown is set (a script reloaded after NOSCRIPT would
  // otherwise let the release overtake it).
  readonly #cooling = new Map<string, Promise<void>>();

  constructor(options: RedisLaneGateOptions) {
    this.perWorkbookConcurrency = checkNumber('perWorkbookConcurrency', options.perWorkbookConcurrency ?? 1, 1, {
      integer: true,
    });
    this.leaseTtlMs = checkNumber('leaseTtlMs', options.leaseTtlMs ?? 30_000, 1000, { integer: true });
    this.#onLeaseLost = options.onLeaseLost ?? (() => undefined);
    this.#link = new RedisLink(options);
  }

  /** Leases found gone when they were extended or given back: a request ran without its place in the lane. */
  get lostLeases(): number {
    return this.#lostLeases;
  }

  /** Leases this process holds now. */
  get held(): number {
    return this.#held.size;
  }

  async acquire(lane: string, signal: AbortSignal | undefined): Promise<LaneLease> {
    const { client } = this.#link;
    const keys = this.#link.keys(lane);
    // A lease given back goes to the first process in the workbook's line, unless a cooldown runs.
    const handOn = { limit: this.perWorkbookConcurrency, cooldown: keys.cooldown };
    const token = await this.#link.acquire(
      (t) => take(client, keys.leases, keys.cooldown, t, this.perWorkbookConcurrency, this.leaseTtlMs),
      (t) => giveBack(client, keys.leases, t, keys.leaseFreed, handOn),
      keys.leaseFreed,
      signal,
    );
    let lost = false;
    const found = (held: boolean): void => {
      if (held || lost) return;
      lost = true;
      this.#lostLeases++;
      clearInterval(timer);
      this.#onLeaseLost(lane);
    };
    const timer = setInterval(
      () => void this.#link.background(renew(client, keys.leases, token, this.leaseTtlMs, false).then(found)),
      Math.floor(this.leaseTtlMs / 3),
    );
    // The request running under the lease holds the process open, not its extension.
    timer.unref();
    const entry = { timer };
    this.#held.add(entry);
    let released: Promise<void> | undefined;
    return {
      release: () => {
        if (released !== undefined) return released;
        clearInterval(timer);
        this.#held.delete(entry);
        const cooling = this.#cooling.get(lane) ?? Promise.resolve();
        // A lease already gone when given back was lost too: a request that ended before its next
        // extension (a process resumed after a pause runs its overdue timers in no set order).
        released = this.#link.background(
          cooling.then(() => giveBack(client, keys.leases, token, keys.leaseFreed, handOn)).then(found),
        );
        return released;
      },
    };
  }

  /** Tells the fleet: the remaining time is sent, and the server adds it to its own clock. */
  cooledDown(lane: string, until: number): void {
    const ms = Math.ceil(until - Date.now());
    if (ms <= 0) return;
    const sent = this.#link.background(coolDown(this.#link.client, this.#link.keys(lane).cooldown, ms));
    this.#cooling.set(lane, sent);
    void sent.then(() => {
      if (this.#cooling.get(lane) === sent) this.#cooling.delete(lane);
    });
  }

  /** Stops extending the leases still held (they expire) and quits the subscriber it made. */
  async close(): Promise<void> {
    for (const { timer } of this.#held) clearInterval(timer);
    this.#held.clear();
    await this.#link.close();
  }
}
