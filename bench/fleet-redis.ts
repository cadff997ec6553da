/**
 * What the fleet benches share: the machine's `redis-server` (started by the tests' helper on a free
 * loopback port with persistence off), a client that fails fast as the README asks, and the clock
 * that times events across processes.
 */
import { Redis } from 'ioredis';
import { redisServerFound } from '../test/helpers/redis-server.js';
import { median } from './measure.js';

export { startRedisServer, type RedisServer } from '../test/helpers/redis-server.js';

/** Whether the fleet benches can run here. */
export const fleetBenchesRun = redisServerFound;

export const FLEET_SKIPPED =
  'fleet benchmarks skipped: `redis-server` was not found (Debian/Ubuntu: `apt-get install redis-server`; ' +
  'macOS: `brew install redis`; or set REDIS_SERVER to its path)';

/** A client as the README's Fleet mode section creates one: no offline queue, one retry, a timeout. */
export async function fleetRedis(port: number): Promise<Redis> {
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2000,
    lazyConnect: true,
  });
  await redis.connect();
  return redis;
}

/**
 * Now, in ms, on a clock every process of the machine shares: `process.hrtime` reads the system's
 * monotonic clock (CLOCK_MONOTONIC on Linux), where `performance.now()` starts at each process's own
 * origin. So a time taken in one worker can be subtracted from one taken in another.
 */
export function sharedNow(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The median PING round trip of `redis`, in ms. */
export async function redisRoundTrip(redis: Redis, samples = 50): Promise<number> {
  for (let i = 0; i < 10; i++) await redis.ping();
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = sharedNow();
    await redis.ping();
    times.push(sharedNow() - start);
  }
  return median(times);
}

/** The value at quantile `q` (0..1) of `values`. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** Calls per command since the server started, from `INFO commandstats` (`evalsha: 12`, ...). */
export async function commandCounts(redis: Redis): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const match of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    counts.set(match[1] as string, Number(match[2]));
  }
  return counts;
}
