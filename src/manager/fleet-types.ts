/**
 * What fleet mode needs to see of its Redis client, as ioredis 5's `Redis` and `Cluster` have it.
 * Typed by shape, so that this package's types never need ioredis installed; the client itself is
 * checked when the manager is made.
 */
export interface FleetRedisClient {
  readonly status: string;
  readonly options: object;
  evalsha(...args: never[]): unknown;
  duplicate(...args: never[]): unknown;
}

/** What fleet mode does when Redis cannot be reached. */
export type OnRedisDown = 'fail' | 'local';

/** Fleet mode: lanes, cooldowns and session budgets shared by every process on one Redis. */
export interface FleetOptions {
  /**
   * An ioredis 5 client (`Redis` or `Cluster`), connected or connecting; its owner quits it. It
   * must fail fast: `new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1,
   * commandTimeout: 1000 })`.
   */
  readonly redis: FleetRedisClient;
  /**
   * Put in front of every key and channel, outside the hash tag.
   * @default 'wbs:'
   */
  readonly keyPrefix?: string;
  /**
   * How long a workbook's lane lease lasts unless extended (it is extended every third of it while
   * its request runs). Must exceed `requestTimeoutMs`, so that a process cut off from Redis has
   * ended its request before its lease can pass to another. At least 1000.
   * @default 30000
   */
  readonly leaseTtlMs?: number;
  /**
   * When Redis cannot be reached: `'fail'` fails calls and opens at once with a
   * FleetUnavailableError; `'local'` goes on under this process's own lanes and budget (the
   * `fleetDegraded` event) until Redis answers again (`fleetRestored`). Closes go out either way.
   * @default 'fail'
   */
  readonly onRedisDown?: OnRedisDown;
  /**
   * With a `RedisSessionStore` as the manager's `journal`: the time between two passes of this
   * process's orphan reaper, which closes (through the shared lanes) the sessions of owners whose
   * heartbeat expired or who left on shutdown. An integer of at least 10; refused without such a journal.
   * @default 10000
   */
  readonly reapIntervalMs?: number;
}

/** The fleet's settings, checked (see the manager's `fleet` option). Internal. */
export interface FleetSettings {
  readonly redis: FleetRedisClient;
  readonly keyPrefix: string;
  readonly leaseTtlMs: number;
  readonly onRedisDown: OnRedisDown;
  readonly reapIntervalMs: number;
  /** Whether `reapIntervalMs` was given: it is refused without a journal in Redis. */
  readonly reapIntervalGiven: boolean;
}
