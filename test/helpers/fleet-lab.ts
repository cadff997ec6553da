import { afterAll, beforeAll } from 'vitest';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../src/testing/index.js';
import { killAllChildren } from './child-process.js';
import { startRedisServer, type RedisServer } from './redis-server.js';

/** A fleet test's world: one real redis-server and one emulator, for the enclosing `describe`. */
export interface FleetLab {
  readonly redis: RedisServer;
  readonly emulator: RunningEmulator;
}

/**
 * Starts a redis-server and an emulator with `options` before the enclosing `describe`'s tests, and
 * after them kills every worker process they spawned, then stops both.
 */
export function useFleetLab(options: EmulatorOptions): FleetLab {
  let redis: RedisServer | undefined;
  let emulator: RunningEmulator | undefined;
  beforeAll(async () => {
    redis = await startRedisServer();
    emulator = await startEmulator(options);
  });
  afterAll(async () => {
    await killAllChildren();
    await emulator?.close();
    await redis?.stop();
  });
  const started = <T>(what: string, value: T | undefined): T => {
    if (value === undefined) throw new Error(`The fleet lab's ${what} is used before it started`);
    return value;
  };
  return {
    get redis() {
      return started('redis-server', redis);
    },
    get emulator() {
      return started('emulator', emulator);
    },
  };
}
