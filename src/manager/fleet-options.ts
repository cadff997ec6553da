import type { FleetSettings, OnRedisDown } from '../coordination/fleet.js';
import type { RedisClient } from '../coordination/redis/scripts.js';
import { MAX_TIMER_MS } from '../util/timers.js';
import { checkKeys, checkNumber, describe } from '../util/validate.js';

/** Fleet mode: lanes, cooldowns and session budgets shared by every process on one Redis. */
export interface FleetOptions {
  /**
   * An ioredis 5 client (`Redis` or `Cluster`), connected or connecting; its owner quits it. It
   * must fail fast: `new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1,
   * commandTimeout: 1000 })`.
   */
  readonly redis: RedisClient;
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
}

const FLEET_KEYS = ['redis', 'keyPrefix', 'leaseTtlMs', 'onRedisDown'] as const;

const HOW_TO_CREATE =
  'create it with `new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 1000 })`';

/** The `fleet` option checked, with defaults filled in; undefined without one. */
export function fleetFrom(fleet: unknown): FleetSettings | undefined {
  if (fleet === undefined) return undefined;
  if (typeof fleet !== 'object' || fleet === null || Array.isArray(fleet)) {
    throw new TypeError(
      `Expected \`fleet\` to be an object ({ redis, keyPrefix?, leaseTtlMs?, onRedisDown? }), got ${describe(fleet)}`,
    );
  }
  checkKeys('fleet option', fleet, FLEET_KEYS);
  const f = fleet as Record<string, unknown>;
  const redis = checkRedis(f['redis']);
  const keyPrefix = f['keyPrefix'] ?? 'wbs:';
  if (typeof keyPrefix !== 'string') {
    throw new TypeError(`Expected \`fleet.keyPrefix\` to be a string, got ${describe(keyPrefix)}`);
  }
  const leaseTtlMs = checkNumber('fleet.leaseTtlMs', f['leaseTtlMs'] ?? 30_000, 1000, {
    integer: true,
    max: MAX_TIMER_MS,
  });
  const onRedisDown = f['onRedisDown'] ?? 'fail';
  if (onRedisDown !== 'fail' && onRedisDown !== 'local') {
    throw new TypeError(`Expected \`fleet.onRedisDown\` to be 'fail' or 'local', got ${describe(onRedisDown)}`);
  }
  return { redis, keyPrefix, leaseTtlMs, onRedisDown };
}

/**
 * The request timeout in fleet mode: two thirds of the lease when none is given, and refused when
 * the lease would not outlast it (a request cut off from Redis could then still run when its lease
 * passed to another process).
 */
export function fleetRequestTimeout(fleet: FleetSettings, requestTimeoutMs: number | undefined): number {
  if (requestTimeoutMs === undefined) return Math.floor((fleet.leaseTtlMs * 2) / 3);
  if (requestTimeoutMs >= fleet.leaseTtlMs) {
    throw new RangeError(
      `Expected \`fleet.leaseTtlMs\` (${fleet.leaseTtlMs}) to exceed \`requestTimeoutMs\` (${requestTimeoutMs}): ` +
        'a lease must outlast the request it covers; lower requestTimeoutMs or raise leaseTtlMs',
    );
  }
  return requestTimeoutMs;
}

function checkRedis(redis: unknown): RedisClient {
  const client = redis as Record<string, unknown> | null;
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof client['evalsha'] !== 'function' ||
    typeof client['duplicate'] !== 'function' ||
    typeof client['status'] !== 'string' ||
    typeof client['options'] !== 'object' ||
    client['options'] === null
  ) {
    throw new TypeError(
      `Expected \`fleet.redis\` to be an ioredis client (Redis or Cluster), got ${describe(redis)}; ${HOW_TO_CREATE}`,
    );
  }
  const options = client['options'] as { enableOfflineQueue?: unknown };
  if (options.enableOfflineQueue !== false) {
    throw new TypeError(
      'Expected `fleet.redis` to fail fast when Redis is unreachable, but its offline queue is on ' +
        `(enableOfflineQueue: ${describe(options.enableOfflineQueue)}), so every request would wait for Redis ` +
        `to come back; ${HOW_TO_CREATE}`,
    );
  }
  return client as unknown as RedisClient;
}
