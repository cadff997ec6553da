import { MAX_TIMER_MS } from '../util/timers.js';
import { checkKeys, checkNumber, describe } from '../util/validate.js';

import type { FleetRedisClient, FleetSettings } from './fleet-types.js';

export type { FleetOptions, FleetRedisClient, OnRedisDown } from './fleet-types.js';

const FLEET_KEYS = ['redis', 'keyPrefix', 'leaseTtlMs', 'onRedisDown', 'reapIntervalMs'] as const;

const HOW_TO_CREATE =
  'create it with `new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 1000 })`';

/** The `fleet` option checked, with defaults filled in; undefined without one. */
export function fleetFrom(fleet: unknown): FleetSettings | undefined {
  if (fleet === undefined) return undefined;
  if (typeof fleet !== 'object' || fleet === null || Array.isArray(fleet)) {
    throw new TypeError(
      'Expected `fleet` to be an object ({ redis, keyPrefix?, leaseTtlMs?, onRedisDown?, reapIntervalMs? }), ' +
        `got ${describe(fleet)}`,
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
  const reapIntervalMs = checkNumber('fleet.reapIntervalMs', f['reapIntervalMs'] ?? 10_000, 10, {
    integer: true,
    max: MAX_TIMER_MS,
  });
  return {
    redis,
    keyPrefix,
    leaseTtlMs,
    onRedisDown,
    reapIntervalMs,
    reapIntervalGiven: f['reapIntervalMs'] !== undefined,
  };
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

function checkRedis(redis: unknown): FleetRedisClient {
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
  return client as unknown as FleetRedisClient;
}
