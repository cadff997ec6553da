import { startEmulatorProcess, workbookPaths, type EmulatorProcess } from './emulator-process.js';
import { startRedisServer, type RedisServer } from './fleet-redis.js';
import type { WorkerStart } from './fleet-worker.js';
import { startFleetWorker, startFleetWorkers, stopAll, type FleetWorker } from './fleet-workers.js';

/** Workbooks the lab's emulator serves, handed out to the benches in turn. */
const WORKBOOKS = 32;

/**
 * What the fleet benches run on, started once for all of them (each process takes a second or two
 * to start on a busy machine): one redis-server, one emulator child, and a pool of worker processes.
 * Each bench takes its own workbooks, sets the latency it needs and resets the emulator's counts.
 */
export interface FleetLab {
  readonly redis: RedisServer;
  readonly emulator: EmulatorProcess;
  /** How a worker is started on this lab (without a journal). */
  readonly start: WorkerStart;
  /** `count` workbooks no other bench of this run has used. */
  workbooks(count: number): string[];
  /** The first `count` workers of the pool, started when there are fewer. */
  workers(count: number): Promise<FleetWorker[]>;
  /**
   * A worker for the caller to kill: one of the pool beyond the first when there is one (taken out
   * of the pool), else a new one. `close()` stops it if it still runs.
   */
  spareWorker(): Promise<FleetWorker>;
  close(): Promise<void>;
}

/** Starts the lab with `poolSize` workers, forked while the emulator and Redis start. */
export async function openFleetLab(poolSize: number): Promise<FleetLab> {
  const all = workbookPaths(WORKBOOKS, 'FLEET');
  const redisStarting = startRedisServer();
  const emulatorStarting = startEmulatorProcess({ workbooks: all, latencyMs: 0 });
  const starting = Promise.all([redisStarting, emulatorStarting]).then(([r, e]): WorkerStart => ({
    url: e.url,
    token: e.token,
    redisPort: r.port,
  }));
  const [redisUp, emulatorUp, poolUp] = await Promise.allSettled([
    redisStarting,
    emulatorStarting,
    startFleetWorkers(poolSize, starting),
  ]);
  if (redisUp.status === 'rejected' || emulatorUp.status === 'rejected' || poolUp.status === 'rejected') {
    if (poolUp.status === 'fulfilled') await stopAll(poolUp.value);
    if (emulatorUp.status === 'fulfilled') await emulatorUp.value.close();
    if (redisUp.status === 'fulfilled') await redisUp.value.stop();
    const failed = [redisUp, emulatorUp, poolUp].find((p) => p.status === 'rejected');
    throw (failed as PromiseRejectedResult).reason;
  }
  const redis = redisUp.value;
  const emulator = emulatorUp.value;
  const start = await starting;
  // Workers of the pool, in the order started, and those handed out as spares; emptied by close().
  const pool: FleetWorker[] = [...poolUp.value];
  const extra: FleetWorker[] = [];
  let used = 0;
  return {
    redis,
    emulator,
    start,
    workbooks(count) {
      if (used + count > all.length) throw new Error(`the fleet lab has only ${all.length} workbooks`);
      used += count;
      return all.slice(used - count, used);
    },
    async workers(count) {
      if (pool.length < count) pool.push(...(await startFleetWorkers(count - pool.length, start)));
      return pool.slice(0, count);
    },
    async spareWorker() {
      const worker = pool.length > 1 ? (pool.pop() as FleetWorker) : await startFleetWorker(start);
      extra.push(worker);
      return worker;
    },
    async close() {
      await stopAll([...pool.splice(0), ...extra.splice(0)]);
      await emulator.close();
      await redis.stop();
    },
  };
}
