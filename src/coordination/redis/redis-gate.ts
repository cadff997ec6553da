import { randomUUID } from 'node:crypto';
import { abortReason, raceAbort } from '../../util/abort.js';
import { checkNumber } from '../../util/validate.js';
import type { LaneGate, LaneLease } from '../coordination.js';
import { coolDown, giveBack, renew, take, workbookKeys, type RedisClient, type TakeAnswer } from './scripts.js';
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
   * delivers nothing while its connection is down). Waiters are woken by messages, not by this.
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
   * Waits for a place in a token set: takes it at once when free, else subscribes to `channel`
   * and takes it when a message, a lease's expiry or the end of a cooldown says it may be free.
   * A place taken after `signal` aborted is given back at once.
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
    let watch: Watch | undefined;
    try {
      for (;;) {
        const seen = watch?.seen ?? 0;
        const attempt = tryTake(token);
        let answer: TakeAnswer;
        try {
          answer = await raceAbort(attempt, signal);
        } catch (error) {
          // Abandoned while the script ran: a place it took after all goes back.
          if (signal?.aborted) void this.background(attempt.then((late) => late.outcome === 'taken' && give(token)));
          throw error;
        }
        if (answer.outcome === 'taken') return token;
        if (watch === undefined) {
          onWait?.();
          // Subscribed first, then looked again: a place freed meanwhile is not missed.
          watch = await this.wakeups.watch(channel, signal);
          continue;
        }
        // A lease expiring or a cooldown ending sends no message: wake when it is due.
        await watch.wait(seen, Math.min(this.recheckMs, answer.waitMs + 1), signal);
      }
    } finally {
      watch?.close();
    }
  }

  /** Quits the subscriber this made (never the client, which is the caller's). */
  async close(): Promise<void> {
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
    const token = await this.#link.acquire(
      (t) => take(client, keys.leases, keys.cooldown, t, this.perWorkbookConcurrency, this.leaseTtlMs),
      (t) => giveBack(client, keys.leases, t, keys.leaseFreed),
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
          cooling.then(() => giveBack(client, keys.leases, token, keys.leaseFreed)).then(found),
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
