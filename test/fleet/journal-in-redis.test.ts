// A RedisSessionStore as the manager's journal in fleet mode, in one process against a real
// redis-server and an emulator: the options checked, sessions recorded per owner, the owner marked
// gone on shutdown, and another manager's reaper closing what a manager left.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { SessionManager, type SessionManagerOptions } from '../../src/index.js';
import { RedisSessionStore } from '../../src/journal/redis-store.js';
import { SessionJournal } from '../../src/journal/journal.js';
import { createBearerClient } from '../../src/transport/graph-client.js';
import { startEmulator, type RunningEmulator } from '../../src/testing/index.js';
import { redisTestsRun, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const BOOK = '/me/drive/items/A';

describe.runIf(redisTestsRun())('a journal in Redis', () => {
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
  });
  afterAll(async () => {
    await emulator?.close();
    await server?.stop();
  });

  function manager(options: Partial<SessionManagerOptions>) {
    const made = new SessionManager({
      client: createBearerClient({ baseUrl: emulator.url, token: emulator.token }),
      exitHooks: false,
      ...options,
    });
    managers.push(made);
    return made;
  }

  test('fleet.reapIntervalMs is checked, and needs a RedisSessionStore as journal', async () => {
    const redis = await server.client();
    const store = new RedisSessionStore({ client: redis });
    for (const bad of [0, 9, 1.5, Infinity, Number.NaN, '100']) {
      expect(() => manager({ journal: store, fleet: { redis, reapIntervalMs: bad as never } })).toThrow(
        /fleet.reapIntervalMs/,
      );
    }
    expect(() => manager({ fleet: { redis, reapIntervalMs: 100 } })).toThrow(
      '`fleet.reapIntervalMs` needs a `RedisSessionStore` as `journal`',
    );
    const journal = new SessionJournal({ path: '/tmp/unused-journal' });
    expect(() => manager({ journal, fleet: { redis, reapIntervalMs: 100 } })).toThrow(/needs a `RedisSessionStore`/);
    // Without fleet the store is a journal like any other: recover() runs on it, no reaper.
    expect(() => manager({ journal: store })).not.toThrow();
    expect(() => manager({ journal: store, fleet: { redis } })).not.toThrow();
  });

  test('sessions are recorded per owner, and a clean shutdown leaves nothing of the owner', async () => {
    const redis = await server.client();
    const store = new RedisSessionStore({ client: redis, heartbeatMs: 50 });
    const sessions = manager({ journal: store, fleet: { redis } });
    const session = await sessions.open(BOOK);
    const scan = await store.scan();
    expect(scan.live.map((entry) => entry.id)).toEqual([session.id]);
    expect(await redis.exists(`wbs:{owner:${store.owner}}:alive`)).toBe(1);
    await sessions.shutdown();
    expect(await redis.exists(`wbs:{owner:${store.owner}}:alive`)).toBe(0);
    expect(await store.scan()).toEqual({ orphans: [], live: [], corrupt: [] });
  });

  test('what a manager could not close by its deadline is reaped at once, without a heartbeat timeout', async () => {
    const redis = await server.client();
    // A long heartbeat: only the shutdown's marking gone can make its sessions orphans quickly.
    const leaving = new RedisSessionStore({ client: redis, heartbeatMs: 20_000, heartbeatTtlMs: 60_000 });
    const first = manager({ journal: leaving, fleet: { redis } });
    await first.open(BOOK);
    const reaped: unknown[] = [];
    manager({
      journal: new RedisSessionStore({ client: redis, heartbeatMs: 50 }),
      fleet: { redis, reapIntervalMs: 20 },
      logger: {
        info: (message, data) => {
          if (message.includes('closed sessions left by')) reaped.push(data);
        },
      },
    });
    const closedBefore = emulator.service.stats().closed;
    // Its close cannot get out: Graph does not answer before the shutdown's deadline.
    emulator.service.setLatency({ fixedMs: 1500 });
    const report = await first.shutdown({ timeoutMs: 100 });
    emulator.service.setLatency({});
    expect(report.leftOpen).toBeGreaterThan(0);
    expect(await redis.exists(`wbs:{owner:${leaving.owner}}:alive`)).toBe(0);
    const started = performance.now();
    while (reaped.length === 0 && performance.now() - started < 5000) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // Claimed by the survivor's reaper long before the heartbeat would have expired. The first's own
    // close, cut off on its side, may still have reached Graph: the reaper's close is a 404 then,
    // counted as expired. Closed once either way, and nothing of the gone owner is left in Redis.
    expect(reaped).toHaveLength(1);
    expect(reaped[0]).toMatchObject({ failed: 0 });
    const [{ closed, expired }] = reaped as [{ closed: number; expired: number }];
    expect(closed + expired).toBe(1);
    expect(emulator.service.stats().closed).toBe(closedBefore + 1);
    expect(emulator.service.openSessions(BOOK)).toBe(0);
    const started2 = performance.now();
    while ((await leaving.scan()).orphans.length > 0 && performance.now() - started2 < 5000) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect((await leaving.scan()).orphans).toEqual([]);
  });
});
