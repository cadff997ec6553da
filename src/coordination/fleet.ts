import type { Cluster, Redis } from 'ioredis';
import { FleetUnavailableError, SessionBudgetTimeoutError } from '../errors.js';
import {
  localSharing,
  type LaneGate,
  type LaneLease,
  type ReserveOptions,
  type SessionBudget,
  type SessionSlot,
  type SharedClaim,
  type SharedRetire,
  type SharedSessions,
} from './coordination.js';
import { RedisLaneGate } from './redis/redis-gate.js';
import { RedisSessionBudget } from './redis/redis-session-budget.js';
import { RedisSharedSessions } from './redis/redis-shared-sessions.js';
import type { RedisClient } from './redis/scripts.js';
import { Priority } from './scheduler.js';
import { LocalSessionBudget } from './session-budget.js';

import type { FleetSettings } from '../manager/fleet-types.js';

export type { FleetSettings, OnRedisDown } from '../manager/fleet-types.js';

/** What the fleet tells its manager. */
export interface FleetListener {
  /** Redis could not be reached and coordination went local (`onRedisDown: 'local'`). */
  degraded(error: unknown): void;
  /** Redis answered again after a degradation: coordination is shared again. */
  restored(): void;
  /** A lease was found gone while its request ran (a pause, a Redis restart). */
  leaseLost(lane: string): void;
  /** Background work on Redis (a release, a renewal, a cooldown) failed. */
  error(error: unknown): void;
}

/** A lane place with nothing behind it: the process's own queue is the lane. */
const LOCAL_LEASE: LaneLease = { release: () => undefined };

/** How often, at most, a degraded fleet tries Redis again; the other requests meanwhile run locally. */
const PROBE_INTERVAL_MS = 1000;

/** How long a request waits for a client still making its first connection before Redis counts as down. */
const FIRST_CONNECT_WAIT_MS = 1000;

/** Longer than Graph keeps an unused persistent session (about 5 minutes, GRAPH-FACTS.md), with a margin. */
const GRAPH_FORGETS_MS = 420_000;

/** The longest idle timeout a shared session's key is kept for; past it the key's TTL stops growing. */
const MAX_KEPT_IDLE_MS = 86_400_000;

/**
 * Fleet coordination on one Redis: the lane gate and the session budget shared by every process,
 * and what happens when Redis cannot be reached. With `onRedisDown: 'fail'` a call or an open fails
 * at once with a FleetUnavailableError; with `'local'` they go on under this process's own lanes
 * and budget until Redis answers again. A close always goes out: when its lease cannot be had from
 * Redis, it runs under the local lane alone (one overlapping request is cheaper than a leaked session).
 */
export class Fleet implements LaneGate {
  readonly settings: FleetSettings;
  readonly budget: SessionBudget;
  /** Where each workbook's shared session id is kept for the fleet (`acquire()`). */
  readonly sharing: SharedSessions;
  readonly #gate: RedisLaneGate;
  readonly #listener: FleetListener;
  readonly #subscriber: RedisClient;
  #degraded = false;
  #probedAt = 0;
  // Set once the client was seen ready: from then on a connection under way is a reconnection.
  #wasReady = false;

  constructor(
    settings: FleetSettings,
    options: {
      readonly perWorkbookConcurrency: number;
      readonly maxSessionsPerWorkbook: number;
      readonly idleTimeoutMs: number;
    },
    listener: FleetListener,
  ) {
    this.settings = settings;
    this.#listener = listener;
    // The client was checked to be an ioredis one; its public type is only its shape.
    const redis = settings.redis as unknown as RedisClient;
    // One pub/sub connection for the gate and the budget. It connects when somebody first waits,
    // and never holds the process open: the caller's own client does, as long as it is connected.
    this.#subscriber = redis.isCluster
      ? (redis as Cluster).duplicate(undefined, { lazyConnect: true })
      : (redis as Redis).duplicate({ lazyConnect: true });
    this.#subscriber.on('error', () => undefined);
    this.#subscriber.on('connect', () => {
      const stream = (this.#subscriber as { stream?: { unref?: () => void } }).stream;
      stream?.unref?.();
    });
    const shared = {
      client: redis,
      subscriber: this.#subscriber,
      keyPrefix: settings.keyPrefix,
      onError: (error: unknown) => listener.error(error),
    };
    this.#gate = new RedisLaneGate({
      ...shared,
      perWorkbookConcurrency: options.perWorkbookConcurrency,
      leaseTtlMs: settings.leaseTtlMs,
      onLeaseLost: (lane) => listener.leaseLost(lane),
    });
    const local = new LocalSessionBudget(options.maxSessionsPerWorkbook);
    // An unlimited budget has nothing to count across the fleet.
    this.budget =
      options.maxSessionsPerWorkbook === Infinity
        ? local
        : new FleetBudget(this, new RedisSessionBudget({ ...shared, limit: options.maxSessionsPerWorkbook }), local);
    const sharing = new RedisSharedSessions({
      client: redis,
      keyPrefix: settings.keyPrefix,
      // A creator that died mid-create holds the others back no longer than a lane lease.
      claimTtlMs: settings.leaseTtlMs,
      keyTtlMs: Math.min(options.idleTimeoutMs, MAX_KEPT_IDLE_MS) + GRAPH_FORGETS_MS,
    });
    this.sharing = new FleetSharing(this, sharing);
  }

  /** Leases found gone while their request ran. */
  get lostLeases(): number {
    return this.#gate.lostLeases;
  }

  /** True while coordination is local because Redis could not be reached (`onRedisDown: 'local'`). */
  get degraded(): boolean {
    return this.#degraded;
  }

  async acquire(lane: string, signal: AbortSignal | undefined, priority: number): Promise<LaneLease> {
    const closing = priority >= Priority.close;
    const local = (): LaneLease => LOCAL_LEASE;
    // A close goes out whatever Redis does; the others only when degrading is allowed.
    return this.onRedis(lane, () => this.#gate.acquire(lane, signal), closing ? local : undefined, signal, local);
  }

  cooledDown(lane: string, until: number): void {
    // The local lane is paused already; the fleet hears of it when Redis can be reached.
    if (this.settings.redis.status === 'ready') this.#gate.cooledDown(lane, until);
  }

  /**
   * Runs `shared` on Redis when it can be reached; otherwise (or when it fails for want of Redis)
   * runs `fallback` when given, degrades to `local` with `onRedisDown: 'local'`, or fails with a
   * FleetUnavailableError. An abort or a budget timeout is no Redis failure: it is thrown as it is.
   */
  async onRedis<T>(
    lane: string,
    shared: () => Promise<T>,
    fallback: (() => T | Promise<T>) | undefined,
    signal: AbortSignal | undefined,
    local?: () => T | Promise<T>,
  ): Promise<T> {
    const degrade = fallback ?? (this.settings.onRedisDown === 'local' ? local : undefined);
    const mayTry = this.#degraded ? this.#mayProbe() : await this.#reachable();
    if (!mayTry) return this.#without(lane, undefined, degrade);
    try {
      const result = await shared();
      this.#restore();
      return result;
    } catch (error) {
      if (signal?.aborted === true || error instanceof SessionBudgetTimeoutError) throw error;
      return this.#without(lane, error, degrade);
    }
  }

  /** Goes on without Redis, or fails for want of it. */
  #without<T>(lane: string, error: unknown, degrade: (() => T | Promise<T>) | undefined): T | Promise<T> {
    if (degrade === undefined) throw new FleetUnavailableError({ workbook: lane, cause: error ?? this.#why() });
    if (this.settings.onRedisDown === 'local' && !this.#degraded) {
      this.#degraded = true;
      this.#probedAt = Date.now();
      this.#listener.degraded(error ?? this.#why());
    }
    return degrade();
  }

  #why(): Error {
    return new Error(`The Redis client is ${this.settings.redis.status}, not ready`);
  }

  #restore(): void {
    if (!this.#degraded) return;
    this.#degraded = false;
    this.#listener.restored();
  }

  /** While degraded, one request in a while tries Redis again (when the client says it is connected). */
  #mayProbe(): boolean {
    if (this.settings.redis.status !== 'ready') return false;
    const now = Date.now();
    if (now - this.#probedAt < PROBE_INTERVAL_MS) return false;
    this.#probedAt = now;
    return true;
  }

  /**
   * Whether Redis may be asked: the client is connected, or it is making its first connection and
   * gets there within a moment. A client reconnecting after a loss counts as down at once (ioredis
   * says `connecting` during each attempt of a reconnection too, so the first connection is told
   * apart by the client never having been ready), and so does a first attempt that failed.
   */
  async #reachable(): Promise<boolean> {
    const redis = this.settings.redis as unknown as RedisClient;
    if (redis.status === 'ready') return (this.#wasReady = true);
    if (this.#wasReady) return false;
    if (redis.status !== 'wait' && redis.status !== 'connecting' && redis.status !== 'connect') return false;
    if (redis.status === 'wait') redis.connect().catch(() => undefined);
    return new Promise((resolve) => {
      const done = (ready: boolean): void => {
        clearTimeout(timer);
        redis.off('ready', onReady);
        redis.off('close', onClose);
        if (ready) this.#wasReady = true;
        resolve(ready);
      };
      const onReady = (): void => done(true);
      const onClose = (): void => done(false);
      const timer = setTimeout(() => done(redis.status === 'ready'), FIRST_CONNECT_WAIT_MS);
      timer.unref();
      redis.once('ready', onReady);
      redis.once('close', onClose);
    });
  }

  /** Stops extending leases and renewing reservations (they expire) and quits the pub/sub connection. */
  async close(): Promise<void> {
    await this.#gate.close();
    if (this.budget instanceof FleetBudget) await this.budget.close();
    this.#subscriber.disconnect();
  }
}

/**
 * The session budget across the fleet, with the process's own budget behind it for when Redis
 * cannot be reached (`onRedisDown: 'local'`, or a session that exists and must be counted).
 */
class FleetBudget implements SessionBudget {
  readonly limit: number;
  readonly #fleet: Fleet;
  readonly #shared: RedisSessionBudget;
  readonly #local: LocalSessionBudget;

  constructor(fleet: Fleet, shared: RedisSessionBudget, local: LocalSessionBudget) {
    this.limit = shared.limit;
    this.#fleet = fleet;
    this.#shared = shared;
    this.#local = local;
  }

  get waiting(): number {
    return this.#shared.waiting + this.#local.waiting;
  }

  held(lane: string): number {
    return this.#shared.held(lane) + this.#local.held(lane);
  }

  reserve(lane: string, options: ReserveOptions): Promise<SessionSlot> {
    return this.#fleet.onRedis(
      lane,
      () => this.#shared.reserve(lane, options),
      undefined,
      options.signal,
      () => this.#local.reserve(lane, options),
    );
  }

  force(lane: string): SessionSlot {
    // Counted on Redis (in the background) while it answers, else in this process at least.
    if (this.#fleet.settings.redis.status === 'ready' && !this.#fleet.degraded) return this.#shared.force(lane);
    return this.#local.force(lane);
  }

  close(): Promise<void> {
    return this.#shared.close();
  }
}

/**
 * The fleet's shared sessions, with this process's own answers behind them (`localSharing`) for
 * when Redis cannot be reached: a create and a look-up fail with `onRedisDown: 'fail'` and go on
 * per process with `'local'`; the rest never fails for want of Redis. An idle session whose
 * retirement cannot be asked is closed (closes always go out), a session that cannot be stored
 * serves this process alone, and a use or a release not told is left to the key's expiry.
 */
class FleetSharing implements SharedSessions {
  readonly #fleet: Fleet;
  readonly #shared: RedisSharedSessions;

  constructor(fleet: Fleet, shared: RedisSharedSessions) {
    this.#fleet = fleet;
    this.#shared = shared;
  }

  find(lane: string): Promise<string | undefined> {
    return this.#fleet.onRedis(
      lane,
      () => this.#shared.find(lane),
      undefined,
      undefined,
      () => localSharing.find(lane),
    );
  }

  claim(lane: string, token: string, replacing: string | undefined): Promise<SharedClaim> {
    const local = (): Promise<SharedClaim> => localSharing.claim(lane, token, replacing);
    return this.#fleet.onRedis(lane, () => this.#shared.claim(lane, token, replacing), undefined, undefined, local);
  }

  store(lane: string, token: string, id: string): Promise<{ readonly id: string; readonly shared: boolean }> {
    const local = (): Promise<{ readonly id: string; readonly shared: boolean }> => localSharing.store(lane, token, id);
    return this.#fleet.onRedis(lane, () => this.#shared.store(lane, token, id), local, undefined);
  }

  abandon(lane: string, token: string): Promise<void> {
    return this.#fleet.onRedis(
      lane,
      () => this.#shared.abandon(lane, token),
      () => undefined,
      undefined,
    );
  }

  release(lane: string, id: string): Promise<void> {
    return this.#fleet.onRedis(
      lane,
      () => this.#shared.release(lane, id),
      () => undefined,
      undefined,
    );
  }

  touch(lane: string, id: string): Promise<void> {
    return this.#fleet.onRedis(
      lane,
      () => this.#shared.touch(lane, id),
      () => undefined,
      undefined,
    );
  }

  retire(lane: string, id: string, idleMs: number): Promise<SharedRetire> {
    const local = (): Promise<SharedRetire> => localSharing.retire(lane, id, idleMs);
    return this.#fleet.onRedis(lane, () => this.#shared.retire(lane, id, idleMs), local, undefined);
  }
}
