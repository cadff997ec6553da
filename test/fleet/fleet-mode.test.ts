// The `fleet` option of one SessionManager against a real redis-server and an emulator over HTTP:
// its checks, Redis unreachable (fail fast or degrade, closes always out), and a lease lost mid-request.
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { SessionManager, isFleetUnavailableError, type SessionManagerOptions } from '../../src/index.js';
import { createBearerClient } from '../../src/transport/graph-client.js';
import { startEmulator, type RunningEmulator } from '../../src/testing/index.js';
import { redisTestsRun, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const BOOK = '/me/drive/items/A';

describe.runIf(redisTestsRun())('fleet mode', () => {
  let server: RedisServer;
  let emulator: RunningEmulator;
  const managers: SessionManager[] = [];

  beforeAll(async () => {
    server = await startRedisServer();
    emulator = await startEmulator({ workbooks: { [BOOK]: {} } });
  });
  afterEach(async () => {
    for (const manager of managers.splice(0)) await manager.shutdown();
    const admin = await server.client();
    await admin.flushall();
    admin.disconnect();
    emulator.service.setLatency({});
  });
  afterAll(async () => {
    await emulator?.close();
    await server?.stop();
  });

  function manager(fleet: NonNullable<SessionManagerOptions['fleet']>, options: Partial<SessionManagerOptions> = {}) {
    const made = new SessionManager({
      client: createBearerClient({ baseUrl: emulator.url, token: emulator.token }),
      exitHooks: false,
      fleet,
      ...options,
    });
    managers.push(made);
    return made;
  }

  test('the option is checked, naming the value, before anything is made', async () => {
    const redis = await server.client();
    expect(() => manager(null as never)).toThrow(/Expected `fleet` to be an object.*null/);
    expect(() => manager({ redis, port: 1 } as never)).toThrow(/Unknown fleet option `port`/);
    expect(() => manager({ redis: {} as never })).toThrow(/Expected `fleet.redis` to be an ioredis client/);
    expect(() => manager({ redis, keyPrefix: 3 as never })).toThrow(/`fleet.keyPrefix` to be a string, got `3`/);
    expect(() => manager({ redis, leaseTtlMs: 10 })).toThrow(RangeError);
    expect(() => manager({ redis, onRedisDown: 'wait' as never })).toThrow(/'fail' or 'local', got "wait"/);
    expect(() => manager({ redis, leaseTtlMs: 5000 }, { requestTimeoutMs: 5000 })).toThrow(
      /`fleet.leaseTtlMs` \(5000\) to exceed `requestTimeoutMs` \(5000\)/,
    );
    expect(() => manager({ redis }, { requestTimeoutMs: Infinity })).toThrow(RangeError);
    const queueing = new Redis({ port: server.port, lazyConnect: true });
    expect(() => manager({ redis: queueing })).toThrow(/enableOfflineQueue: false/);
    queueing.disconnect();
    // Without requestTimeoutMs the request timeout follows the lease: accepted.
    expect(() => manager({ redis, leaseTtlMs: 3000 })).not.toThrow();
    expect(managers.at(-1)?.stats()).toMatchObject({ fleet: 'shared', lostLeases: 0 });
  });

  test("onRedisDown 'fail': calls and opens fail fast with a FleetUnavailableError, closes still go out", async () => {
    const redis = await server.client();
    const sessions = manager({ redis });
    const session = await sessions.open(BOOK);
    await session.api('/worksheets').get();
    redis.disconnect();
    const started = performance.now();
    const call = await session
      .api('/worksheets')
      .get()
      .catch((error: unknown) => error);
    expect(isFleetUnavailableError(call)).toBe(true);
    expect(String(call)).toMatch(/Redis is unreachable/);
    const open = await sessions.open(BOOK).catch((error: unknown) => error);
    expect(isFleetUnavailableError(open)).toBe(true);
    expect(performance.now() - started).toBeLessThan(1500);
    const closedBefore = emulator.service.stats().closed;
    await session.close();
    expect(emulator.service.stats().closed).toBe(closedBefore + 1);
    expect(emulator.service.stats().open).toBe(0);
  });

  test("onRedisDown 'local': work goes on locally with fleetDegraded, and back with fleetRestored", async () => {
    const redis = await server.client();
    const sessions = manager({ redis, onRedisDown: 'local' });
    const events: string[] = [];
    sessions.on('fleetDegraded', () => events.push('degraded'));
    sessions.on('fleetRestored', () => events.push('restored'));
    redis.disconnect();
    await sessions.withSession(BOOK, async (session) => {
      await session.api('/worksheets').get();
      await session.api('/worksheets').get();
    });
    expect(events).toEqual(['degraded']);
    expect(sessions.stats().fleet).toBe('degraded');
    await redis.connect();
    // A degraded manager tries Redis again at most once a second.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await sessions.withSession(BOOK, (session) => session.api('/worksheets').get());
    expect(events).toEqual(['degraded', 'restored']);
    expect(sessions.stats().fleet).toBe('shared');
    expect(emulator.service.stats().open).toBe(0);
  });

  test('a lease lost mid-request: the request finishes, the loss is counted and emitted', async () => {
    const redis = await server.client();
    const admin = await server.client();
    const sessions = manager({ redis, leaseTtlMs: 1000 }, { resolveWorkbooks: false });
    const lost: string[] = [];
    sessions.on('leaseLost', ({ workbook }) => lost.push(workbook));
    const session = await sessions.open(BOOK);
    emulator.service.setLatency({ fixedMs: 550 });
    const call = session.api('/worksheets').get();
    // As after a Redis restart: the lease is gone while its request runs.
    let deleted = 0;
    while (deleted === 0) {
      const keys = await admin.keys('wbs:*:leases');
      deleted = keys.length === 0 ? 0 : await admin.del(...keys);
    }
    await expect(call).resolves.toBeDefined();
    expect(sessions.stats().lostLeases).toBe(1);
    expect(lost).toHaveLength(1);
    emulator.service.setLatency({});
    await session.close();
  });
});
