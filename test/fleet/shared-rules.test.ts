// The rules of fleet-shared sessions (`acquire()` with `fleet`), with managers in one process on a
// real redis-server and an emulator over HTTP: who closes, who lets go, the fleet keeping a session
// warm, Redis down, and the reaper leaving a dead owner's shared session to the replicas using it.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { RedisSessionStore, SessionManager, type SessionManagerOptions } from '../../src/index.js';
import { createBearerClient } from '../../src/transport/graph-client.js';
import { startEmulator, type RunningEmulator } from '../../src/testing/index.js';
import { redisTestsRun, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const BOOK = '/me/drive/items/A';
const IDLE_MS = 1000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const started = performance.now();
  while (!(await condition())) {
    if (performance.now() - started > timeoutMs) throw new Error(`Not true within ${String(timeoutMs)} ms`);
    await sleep(20);
  }
}

describe.runIf(redisTestsRun())('fleet-shared sessions in one process', () => {
  let server: RedisServer;
  let emulator: RunningEmulator;
  const managers: SessionManager[] = [];
  let before = 0;

  beforeAll(async () => {
    server = await startRedisServer();
    emulator = await startEmulator({ workbooks: { [BOOK]: {} } });
  });
  beforeEach(() => {
    emulator.service.resetStats();
    before = emulator.service.sessions().length;
  });
  afterEach(async () => {
    for (const made of managers.splice(0)) await made.shutdown();
    const admin = await server.client();
    await admin.flushall();
    admin.disconnect();
  });
  afterAll(async () => {
    await emulator?.close();
    await server?.stop();
  });

  async function manager(
    fleet: Partial<NonNullable<SessionManagerOptions['fleet']>> = {},
    options: Partial<SessionManagerOptions> = {},
  ): Promise<SessionManager> {
    const made = new SessionManager({
      client: createBearerClient({ baseUrl: emulator.url, token: emulator.token }),
      exitHooks: false,
      idleTimeoutMs: IDLE_MS,
      fleet: { redis: await server.client(), ...fleet },
      ...options,
    });
    managers.push(made);
    return made;
  }

  const closedEvents = (made: SessionManager): string[] => {
    const seen: string[] = [];
    made.on('closed', ({ reason }) => seen.push(reason));
    return seen;
  };
  const holdsNothing = (made: SessionManager): boolean => {
    const stats = made.stats();
    return stats.open + stats.opening + stats.closing === 0;
  };
  const sessionsNow = (): ReturnType<RunningEmulator['service']['sessions']> =>
    emulator.service.sessions().slice(before);

  test('two managers share one session: one closes it when the fleet is idle, the other lets go silently', async () => {
    const a = await manager();
    const b = await manager();
    const closedByA = closedEvents(a);
    const closedByB = closedEvents(b);
    for (const made of [a, b]) {
      await using lease = await made.acquire(BOOK);
      await lease.api('/worksheets').get();
    }
    expect(emulator.service.stats().created).toBe(1);
    await until(() => holdsNothing(a) && holdsNothing(b));
    expect(sessionsNow().map((s) => s.state)).toEqual(['closed']);
    expect(emulator.service.stats().requestsByRoute.closeSession).toBe(1);
    expect([...closedByA, ...closedByB]).toEqual(['idle']);
  });

  test('a lease held by another manager keeps the session warm past the idle timeout', async () => {
    const a = await manager();
    const b = await manager();
    {
      await using lease = await a.acquire(BOOK);
      await lease.api('/worksheets').get();
    }
    const held = await b.acquire(BOOK);
    // Past a's idle timeout more than twice: b's lease is told to the fleet while held.
    await sleep(2.5 * IDLE_MS);
    expect(sessionsNow().map((s) => s.state)).toEqual(['open']);
    expect(a.stats().open).toBe(1);
    await held.close();
    await until(() => holdsNothing(a) && holdsNothing(b));
    expect(sessionsNow().map((s) => s.state)).toEqual(['closed']);
    expect(emulator.service.stats().requestsByRoute.closeSession).toBe(1);
  });

  test('a create waiting for a place in the fleet budget stops waiting once no acquire waits for it', async () => {
    const a = await manager({}, { maxSessionsPerWorkbook: 1, sessionBudgetTimeoutMs: 30_000 });
    const b = await manager({}, { maxSessionsPerWorkbook: 1 });
    const held = await b.open(BOOK);
    const controller = new AbortController();
    const waiting = a.acquire(BOOK, { signal: controller.signal }).catch((error: unknown) => error);
    await until(() => a.stats().budgetWaiting === 1);
    controller.abort(new Error('gave up'));
    expect(((await waiting) as Error).message).toBe('gave up');
    await until(() => a.stats().budgetWaiting === 0 && a.stats().shared === 0);
    await held.close();
    // The place is free, and nobody takes it for the acquire that left.
    await sleep(300);
    expect(emulator.service.stats().created).toBe(1);
    expect(holdsNothing(a)).toBe(true);
    {
      await using lease = await a.acquire(BOOK);
      await lease.api('/worksheets').get();
    }
    expect(emulator.service.stats().created).toBe(2);
  });

  test("onRedisDown 'local': with Redis down a shared session is this process's, idle-closed", async () => {
    const a = await manager({ onRedisDown: 'local' });
    const degraded: unknown[] = [];
    a.on('fleetDegraded', (info) => degraded.push(info));
    // Stopping the server cuts the manager's client off too.
    await server.stop();
    {
      await using lease = await a.acquire(BOOK);
      await lease.api('/worksheets').get();
    }
    expect(degraded.length).toBe(1);
    await until(() => holdsNothing(a));
    expect(sessionsNow().map((s) => s.state)).toEqual(['closed']);
    // A fresh server for the tests after this one.
    server = await startRedisServer();
  });

  test('the reaper leaves a dead owner’s shared session to the replica using it, and closes it once idle', async () => {
    const redis = await server.client();
    const b = await manager(
      { reapIntervalMs: 50 },
      { journal: new RedisSessionStore({ client: redis, heartbeatMs: 50 }) },
    );
    const closedByB = closedEvents(b);
    const held = await b.acquire(BOOK);
    await held.api('/worksheets').get();
    const [shared] = sessionsNow();
    if (shared === undefined) throw new Error('no session');
    // A dead owner that had recorded the same session (it used it, then died).
    const dead = new RedisSessionStore({ client: redis, heartbeatMs: 50 });
    await dead.record({ workbook: BOOK, id: shared.id, persistChanges: true, createdAt: Date.now() });
    await dead.close();
    const orphaned = async (): Promise<number> =>
      (await dead.scan()).orphans.filter((entry) => entry.owner === dead.owner).length;
    // Many reaper passes while b holds its lease: not closed, and the dead owner's record stays.
    await sleep(600);
    expect(sessionsNow().map((s) => s.state)).toEqual(['open']);
    expect(await orphaned()).toBe(1);
    await held.close();
    // Idle for the fleet: closed once (by b's idle timer or by the reaper), and the record settled.
    await until(async () => holdsNothing(b) && (await orphaned()) === 0);
    expect(sessionsNow().map((s) => s.state)).toEqual(['closed']);
    expect(emulator.service.stats().closed).toBe(1);
    expect(closedByB.length).toBeLessThanOrEqual(1);
  });
});
