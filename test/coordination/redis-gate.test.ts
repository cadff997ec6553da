import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { LaneLease } from '../../src/coordination/coordination.js';
import { RedisLaneGate } from '../../src/coordination/redis/redis-gate.js';
import { RedisSessionBudget } from '../../src/coordination/redis/redis-session-budget.js';
import { workbookKeys } from '../../src/coordination/redis/scripts.js';
import { Priority, Scheduler } from '../../src/coordination/scheduler.js';
import { isSessionBudgetTimeoutError } from '../../src/errors.js';
import { redisTestsRun, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const LANE = '/me/drive/items/A';
const keys = workbookKeys('wbs:', LANE);

describe.runIf(redisTestsRun())('RedisLaneGate and RedisSessionBudget against a real redis-server', () => {
  let server: RedisServer;
  const closing: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    for (const item of closing.splice(0)) await item.close();
    const admin = await server.client();
    await admin.flushall();
    admin.disconnect();
  });

  /** Each "process" has its own connection, as separate processes would. */
  async function gate(options: Partial<ConstructorParameters<typeof RedisLaneGate>[0]> = {}): Promise<RedisLaneGate> {
    const made = new RedisLaneGate({ client: await server.client(), ...options });
    closing.push(made);
    return made;
  }

  /** Resolves once `count` connections are subscribed to `channel`. */
  async function subscribers(admin: Redis, channel: string, count: number): Promise<void> {
    await expect
      .poll(async () => ((await admin.pubsub('NUMSUB', channel)) as [string, number])[1], { timeout: 5000 })
      .toBe(count);
  }

  test('a waiter in another process is woken by the release itself, not by a timer', async () => {
    // Neither the re-check (60 s) nor the lease's expiry (30 s) could wake it within the test.
    const a = await gate({ recheckMs: 60_000 });
    const b = await gate({ recheckMs: 60_000 });
    const admin = await server.client();
    const lease = await a.acquire(LANE, undefined);
    let wokenAt = 0;
    const waiting = b.acquire(LANE, undefined).then((held) => {
      wokenAt = performance.now();
      return held;
    });
    await subscribers(admin, keys.leaseFreed, 1);
    expect(wokenAt).toBe(0);
    const releasedAt = performance.now();
    await lease.release();
    const second = await waiting;
    expect(wokenAt - releasedAt).toBeLessThan(1000);
    expect(await admin.zcard(keys.leases)).toBe(1);
    await second.release();
    expect(await admin.exists(keys.leases)).toBe(0);
    // The last waiter gone, the channel is given up.
    await subscribers(admin, keys.leaseFreed, 0);
  });

  test('two Schedulers (two processes) on one workbook never run two requests at once', async () => {
    const gates = [await gate({ recheckMs: 60_000 }), await gate({ recheckMs: 60_000 })];
    const schedulers = gates.map((g) => new Scheduler({ concurrency: 4, perWorkbookConcurrency: 1, gate: g }));
    let inFlight = 0;
    let maxInFlight = 0;
    let done = 0;
    const task = async (): Promise<void> => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await sleep(Math.random() * 5);
      inFlight--;
      done++;
    };
    const runs = schedulers.flatMap((s) =>
      Array.from({ length: 25 }, () => s.run(LANE, task, { priority: Priority.call })),
    );
    await Promise.all(runs);
    expect(done).toBe(50);
    expect(maxInFlight).toBe(1);
    for (const g of gates) expect(g.lostLeases).toBe(0);
  });

  test('one RedisLaneGate shared by two Schedulers keeps the workbook to perWorkbookConcurrency', async () => {
    const shared = await gate({ perWorkbookConcurrency: 2, recheckMs: 60_000 });
    const schedulers = [0, 1].map(() => new Scheduler({ concurrency: 4, perWorkbookConcurrency: 2, gate: shared }));
    let inFlight = 0;
    let maxInFlight = 0;
    const task = async (): Promise<void> => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await sleep(2);
      inFlight--;
    };
    await Promise.all(
      schedulers.flatMap((s) => Array.from({ length: 20 }, () => s.run(LANE, task, { priority: Priority.call }))),
    );
    expect(maxInFlight).toBe(2);
  });

  test('a lease its process stops extending expires, and a waiter takes it when due', async () => {
    const a = await gate({ leaseTtlMs: 1000 });
    const b = await gate({ leaseTtlMs: 1000, recheckMs: 60_000 });
    await a.acquire(LANE, undefined);
    // The process is gone: nothing extends or gives back its lease.
    await a.close();
    const started = performance.now();
    const lease = await b.acquire(LANE, undefined);
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThan(500);
    expect(waited).toBeLessThan(5000);
    await lease.release();
  });

  test('a held lease is extended while its request runs', async () => {
    const a = await gate({ leaseTtlMs: 1000 });
    const admin = await server.client();
    const lease = await a.acquire(LANE, undefined);
    await sleep(1500);
    expect(await admin.zcard(keys.leases)).toBe(1);
    expect(a.lostLeases).toBe(0);
    await lease.release();
    expect(a.held).toBe(0);
  });

  test('a lease found gone when extended is counted lost, and its request is not disturbed', async () => {
    const a = await gate({ leaseTtlMs: 1000 });
    const admin = await server.client();
    const lease = await a.acquire(LANE, undefined);
    // As after a Redis restart, or a process paused past its lease.
    await admin.del(keys.leases);
    await expect.poll(() => a.lostLeases, { timeout: 3000 }).toBe(1);
    await sleep(500);
    expect(a.lostLeases).toBe(1);
    await expect(lease.release()).resolves.toBeUndefined();
  });

  test('a lease found gone when given back is counted lost once, though no extension ran', async () => {
    const lost: string[] = [];
    const a = await gate({ leaseTtlMs: 3000, onLeaseLost: (lane) => lost.push(lane) });
    const admin = await server.client();
    const lease = await a.acquire(LANE, undefined);
    // Gone before the first extension (due after 1000 ms): the request ends first, as a process
    // resumed after a pause may end it before its overdue extension runs.
    await admin.del(keys.leases);
    await lease.release();
    expect(a.lostLeases).toBe(1);
    expect(lost).toEqual([LANE]);
    // Given back again, or a lease still held when given back: nothing more counted.
    await lease.release();
    await (await a.acquire(LANE, undefined)).release();
    expect(a.lostLeases).toBe(1);
  });

  test('cooledDown pauses the workbook for every process, on the server clock', async () => {
    const a = await gate();
    const b = await gate({ recheckMs: 60_000 });
    const admin = await server.client();
    a.cooledDown(LANE, Date.now() + 1200);
    await expect.poll(() => admin.exists(keys.cooldown)).toBe(1);
    const started = performance.now();
    const lease = await b.acquire(LANE, undefined);
    expect(performance.now() - started).toBeGreaterThan(1000);
    await lease.release();
    // A cooldown already over is not sent at all.
    a.cooledDown(LANE, Date.now() - 10);
    await sleep(50);
    expect(await admin.exists(keys.cooldown)).toBe(0);
  });

  test('acquire rejects with the signal reason while waiting, and leaves no lease behind', async () => {
    const a = await gate();
    const b = await gate();
    const admin = await server.client();
    const lease: LaneLease = await a.acquire(LANE, undefined);
    const controller = new AbortController();
    const waiting = b.acquire(LANE, controller.signal);
    await subscribers(admin, keys.leaseFreed, 1);
    controller.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    await lease.release();
    expect(await admin.exists(keys.leases)).toBe(0);
    await expect(b.acquire(LANE, AbortSignal.abort(new Error('before')))).rejects.toThrow('before');
  });

  test('commands fail fast when Redis is unreachable', async () => {
    const client = await server.client();
    const broken = new RedisLaneGate({ client, subscriber: client });
    client.disconnect();
    const started = performance.now();
    await expect(broken.acquire(LANE, undefined)).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(1000);
  });

  describe('RedisSessionBudget', () => {
    async function budget(limit: number, options: { recheckMs?: number } = {}): Promise<RedisSessionBudget> {
      const made = new RedisSessionBudget({ client: await server.client(), limit, ...options });
      closing.push(made);
      return made;
    }

    test('counts sessions across processes: beyond the limit a reservation waits for a release', async () => {
      const a = await budget(2, { recheckMs: 60_000 });
      const b = await budget(2, { recheckMs: 60_000 });
      const admin = await server.client();
      const first = await a.reserve(LANE, { timeoutMs: 10_000 });
      const second = await b.reserve(LANE, { timeoutMs: 10_000 });
      expect(a.held(LANE)).toBe(1);
      expect(b.held(LANE)).toBe(1);
      let waited = 0;
      const third = b.reserve(LANE, { timeoutMs: 10_000, onWait: () => waited++ });
      await subscribers(admin, keys.sessionFreed, 1);
      expect(b.waiting).toBe(1);
      expect(waited).toBe(1);
      const releasedAt = performance.now();
      first.release();
      first.release();
      const slot = await third;
      expect(performance.now() - releasedAt).toBeLessThan(1000);
      expect(await admin.zcard(keys.sessions)).toBe(2);
      slot.release();
      second.release();
      await expect.poll(() => admin.exists(keys.sessions)).toBe(0);
      expect(b.waiting).toBe(0);
    });

    test('a reservation waits in line behind this process’s own, first come first served', async () => {
      const a = await budget(1, { recheckMs: 60_000 });
      const held = await a.reserve(LANE, { timeoutMs: 10_000 });
      const order: number[] = [];
      const waits = [1, 2, 3].map((n) =>
        a.reserve(LANE, { timeoutMs: 10_000 }).then((slot) => {
          order.push(n);
          setTimeout(() => slot.release(), 5);
        }),
      );
      await sleep(50);
      expect(a.waiting).toBe(3);
      held.release();
      await Promise.all(waits);
      expect(order).toEqual([1, 2, 3]);
    });

    test('a reservation that waits too long fails with SessionBudgetTimeoutError', async () => {
      const a = await budget(1);
      const held = await a.reserve(LANE, { timeoutMs: 10_000 });
      const error = await a.reserve(LANE, { timeoutMs: 300 }).catch((failure: unknown) => failure);
      expect(isSessionBudgetTimeoutError(error)).toBe(true);
      expect(a.waiting).toBe(0);
      held.release();
    });

    test('force counts a session over the budget at once', async () => {
      const a = await budget(1);
      const admin = await server.client();
      const held = await a.reserve(LANE, { timeoutMs: 10_000 });
      const forced = a.force(LANE);
      await expect.poll(() => admin.zcard(keys.sessions)).toBe(2);
      expect(a.held(LANE)).toBe(2);
      forced.release();
      held.release();
      await expect.poll(() => admin.exists(keys.sessions)).toBe(0);
      expect(a.held(LANE)).toBe(0);
    });
  });
});
