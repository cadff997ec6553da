import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import type { LaneLease } from '../../src/coordination/coordination.js';
import { RedisLaneGate } from '../../src/coordination/redis/redis-gate.js';
import { RedisSessionBudget } from '../../src/coordination/redis/redis-session-budget.js';
import { lineKeys, take, workbookKeys } from '../../src/coordination/redis/scripts.js';
import { redisTestsRun, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const LANE = '/me/drive/items/A';
const keys = workbookKeys('wbs:', LANE);
const line = lineKeys(keys.leases);

describe.runIf(redisTestsRun())('first come first served across processes, against a real redis-server', () => {
  let server: RedisServer;
  let admin: Redis;
  const closing: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    server = await startRedisServer();
    admin = await server.client();
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });
  afterEach(async () => {
    for (const item of closing.splice(0)) await item.close();
    await admin.flushall();
  });

  /** A "process": its own connections, as separate processes have. */
  async function process(options: Partial<ConstructorParameters<typeof RedisLaneGate>[0]> = {}) {
    const client = await server.client();
    const gate = new RedisLaneGate({ client, recheckMs: 60_000, ...options });
    closing.push(gate);
    return { gate, scripts: vi.spyOn(client, 'evalsha') };
  }

  async function inLine(count: number): Promise<void> {
    await expect.poll(() => admin.zcard(line.line), { timeout: 5000 }).toBe(count);
  }

  test('a released lease wakes the first waiter alone; the second runs no script until its turn', async () => {
    const a = await process();
    const b = await process();
    const c = await process();
    const lease = await a.gate.acquire(LANE, undefined);
    const order: string[] = [];
    const leases = new Map<string, LaneLease>();
    const wait = (name: string, gate: RedisLaneGate) =>
      gate.acquire(LANE, undefined).then((held) => {
        order.push(name);
        leases.set(name, held);
      });
    const bGot = wait('b', b.gate);
    await inLine(1);
    const cGot = wait('c', c.gate);
    await inLine(2);
    // Its take, and its look again once subscribed; then it waits.
    await expect.poll(() => c.scripts.mock.calls.length).toBe(2);
    const cScripts = c.scripts.mock.calls.length;
    await lease.release();
    await bGot;
    await sleep(200);
    // Not woken: no take ran in c's process while b was handed the lease.
    expect(c.scripts.mock.calls.length).toBe(cScripts);
    expect(order).toEqual(['b']);
    await leases.get('b')?.release();
    await cGot;
    expect(order).toEqual(['b', 'c']);
    await leases.get('c')?.release();
    expect(await admin.exists(keys.leases, line.line, line.waiters)).toBe(0);
  });

  test('three processes taking turns on one workbook are served in turn, none starved', async () => {
    const gates = await Promise.all([process(), process(), process()]);
    const order: number[] = [];
    await Promise.all(
      gates.map(async ({ gate }, index) => {
        for (let round = 0; round < 12; round++) {
          const lease = await gate.acquire(LANE, undefined);
          order.push(index);
          await sleep(2);
          await lease.release();
        }
      }),
    );
    expect(order).toHaveLength(36);
    // Each gives its lease back to the head of a line it then joins at the back: no one runs twice
    // in a row while the others wait.
    let streak = 1;
    let longest = 1;
    for (let i = 1; i < 33; i++) {
      streak = order[i] === order[i - 1] ? streak + 1 : 1;
      longest = Math.max(longest, streak);
    }
    expect(longest).toBeLessThanOrEqual(2);
    for (const { gate } of gates) expect(gate.lostLeases).toBe(0);
  });

  test('an aborted waiter leaves the line at once, and the lease goes to the one behind it', async () => {
    const a = await process();
    const b = await process();
    const c = await process();
    const lease = await a.gate.acquire(LANE, undefined);
    const controller = new AbortController();
    const bWait = b.gate.acquire(LANE, controller.signal);
    await inLine(1);
    const cWait = c.gate.acquire(LANE, undefined);
    await inLine(2);
    controller.abort(new Error('gave up'));
    await expect(bWait).rejects.toThrow('gave up');
    expect(await admin.zcard(line.line)).toBe(1);
    const releasedAt = performance.now();
    await lease.release();
    const next = await cWait;
    expect(performance.now() - releasedAt).toBeLessThan(1000);
    await next.release();
  });

  test('a waiter whose process died holds the lane no longer than its entry, or the place handed to it', async () => {
    const a = await process();
    const b = await process();
    const lease = await a.gate.acquire(LANE, undefined);
    // A waiter of a process that died while waiting: its entry is live, and nobody refreshes it.
    await take(admin, keys.leases, keys.cooldown, 'dead:1', 1, 30_000);
    const started = performance.now();
    const bWait = b.gate.acquire(LANE, undefined);
    await inLine(2);
    await lease.release();
    // The place is handed to the dead waiter first; not taken, it passes on to b.
    await expect.poll(() => admin.zscore(keys.leases, 'dead:1')).not.toBeNull();
    const next = await bWait;
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThan(900);
    expect(waited).toBeLessThan(4000);
    await next.release();
  });

  test('session reservations of two processes wait in one line, first come first served', async () => {
    const budgets = await Promise.all(
      [0, 1, 2].map(async () => {
        const made = new RedisSessionBudget({ client: await server.client(), limit: 1, recheckMs: 60_000 });
        closing.push(made);
        return made;
      }),
    );
    const [a, b, c] = budgets as [RedisSessionBudget, RedisSessionBudget, RedisSessionBudget];
    const held = await a.reserve(LANE, { timeoutMs: 10_000 });
    const order: string[] = [];
    const sessions = lineKeys(keys.sessions);
    const bWait = b.reserve(LANE, { timeoutMs: 10_000 }).then((slot) => (order.push('b'), slot));
    await expect.poll(() => admin.zcard(sessions.line)).toBe(1);
    const cWait = c.reserve(LANE, { timeoutMs: 10_000 }).then((slot) => (order.push('c'), slot));
    await expect.poll(() => admin.zcard(sessions.line)).toBe(2);
    held.release();
    const bSlot = await bWait;
    await sleep(100);
    expect(order).toEqual(['b']);
    bSlot.release();
    (await cWait).release();
    expect(order).toEqual(['b', 'c']);
  });
});
