import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { coolDown, giveBack, lineKeys, scripts, take, workbookKeys } from '../../src/coordination/redis/scripts.js';
import { redisTestsRun, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const keys = workbookKeys('test:', '/me/drive/items/A');
const line = lineKeys(keys.leases);
const handOn = { limit: 1, cooldown: keys.cooldown };

describe('lineKeys', () => {
  test('a token set’s line lives in its slot, and its channel is the one its gate and budget listen on', () => {
    for (const key of [line.line, line.waiters]) expect(key.startsWith('test:{wb:/me/drive/items/A}:')).toBe(true);
    expect(line.channel).toBe(keys.leaseFreed);
    expect(lineKeys(keys.sessions).channel).toBe(keys.sessionFreed);
  });
});

describe.runIf(redisTestsRun())('the waiting line of a token set, against a real redis-server', () => {
  let server: RedisServer;
  let redis: Redis;
  let other: Redis;
  let listener: Redis;
  let messages: string[];

  beforeAll(async () => {
    server = await startRedisServer();
    redis = await server.client();
    other = await server.client();
    listener = await server.client();
    listener.on('message', (channel: string, message: string) => {
      if (channel === line.channel) messages.push(message);
    });
    await listener.subscribe(line.channel);
  });
  afterAll(async () => {
    listener?.disconnect();
    await server?.stop();
  });
  beforeEach(async () => {
    await redis.flushall();
    messages = [];
  });

  const takeA = (client: Redis, token: string, times?: { waiterTtlMs: number; handOffMs: number }) =>
    take(client, keys.leases, keys.cooldown, token, 1, 30_000, times);

  test('waiters of two clients are served first come first served, each place handed to the head', async () => {
    await expect(takeA(redis, 'a')).resolves.toMatchObject({ outcome: 'taken' });
    // Arrivals alternate between the two connections, as two processes would.
    await expect(takeA(other, 'b')).resolves.toMatchObject({ outcome: 'full' });
    await expect(takeA(redis, 'c')).resolves.toMatchObject({ outcome: 'full' });
    await expect(takeA(other, 'd')).resolves.toMatchObject({ outcome: 'full' });
    expect(await redis.zrange(line.line, 0, -1)).toEqual(['b', 'c', 'd']);
    const served: string[] = [];
    let holder = 'a';
    for (const next of ['b', 'c', 'd']) {
      await expect(giveBack(redis, keys.leases, holder, line.channel, handOn)).resolves.toBe(true);
      // The place is kept for the head: a later waiter asking now is still refused.
      for (const later of ['b', 'c', 'd'].filter((t) => t !== next && !served.includes(t))) {
        await expect(takeA(redis, later)).resolves.toMatchObject({ outcome: 'full' });
      }
      await expect(takeA(other, next)).resolves.toMatchObject({ outcome: 'taken', ttlMs: 30_000 });
      served.push(next);
      holder = next;
    }
    expect(served).toEqual(['b', 'c', 'd']);
    await expect.poll(() => messages).toEqual(['b', 'c', 'd']);
    await giveBack(redis, keys.leases, 'd', line.channel, handOn);
    expect(await redis.exists(keys.leases, line.line, line.waiters)).toBe(0);
  });

  test('a place given back is told to the head alone, by its token', async () => {
    await takeA(redis, 'a');
    await takeA(other, 'b');
    await takeA(redis, 'c');
    await giveBack(redis, keys.leases, 'a', line.channel, handOn);
    await expect.poll(() => messages).toEqual(['b']);
    await sleep(100);
    expect(messages).toEqual(['b']);
    // Handed over in the script itself: the set holds the head's token already, for the hand-off time.
    const score = Number(await redis.zscore(keys.leases, 'b'));
    const [seconds, micros] = await redis.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    expect(score - now).toBeGreaterThan(500);
    expect(score - now).toBeLessThanOrEqual(1000);
    // Nobody waiting: the channel hears an empty message, which names no waiter.
    await takeA(other, 'b');
    await giveBack(redis, keys.leases, 'b', line.channel, handOn);
    await takeA(redis, 'c');
    await giveBack(redis, keys.leases, 'c', line.channel, handOn);
    await expect.poll(() => messages).toEqual(['b', 'c', '']);
  });

  test('a waiter that stops refreshing its entry leaves the line, and the next one gets the place', async () => {
    await takeA(redis, 'a');
    await expect(takeA(other, 'dead', { waiterTtlMs: 200, handOffMs: 1000 })).resolves.toMatchObject({
      outcome: 'full',
    });
    await takeA(redis, 'alive');
    expect(await redis.zrange(line.line, 0, -1)).toEqual(['dead', 'alive']);
    await sleep(300);
    await giveBack(redis, keys.leases, 'a', line.channel, handOn);
    await expect.poll(() => messages).toEqual(['alive']);
    expect(await redis.zrange(line.line, 0, -1)).toEqual([]);
    await expect(takeA(redis, 'alive')).resolves.toMatchObject({ outcome: 'taken' });
    // Its entry gone, the stalled waiter that comes back asks again at the back of the line.
    await expect(takeA(other, 'dead')).resolves.toMatchObject({ outcome: 'full' });
    expect(await redis.zrange(line.line, 0, -1)).toEqual(['dead']);
  });

  test('a waiter giving up leaves the line; one handed a place first passes it on', async () => {
    await takeA(redis, 'a');
    for (const token of ['b', 'c', 'd']) await takeA(other, token);
    // Only waiting: nothing was held, and it is out of the line.
    await expect(giveBack(other, keys.leases, 'b', line.channel, handOn)).resolves.toBe(false);
    expect(await redis.zrange(line.line, 0, -1)).toEqual(['c', 'd']);
    expect(messages).toEqual([]);
    await giveBack(redis, keys.leases, 'a', line.channel, handOn);
    await expect.poll(() => messages).toEqual(['c']);
    // Handed the place, then given up before taking it: the place goes to the next at once.
    await expect(giveBack(other, keys.leases, 'c', line.channel, handOn)).resolves.toBe(true);
    await expect.poll(() => messages).toEqual(['c', 'd']);
    await expect(takeA(other, 'd')).resolves.toMatchObject({ outcome: 'taken' });
  });

  test('a place handed to a head that does not take it passes on after the hand-off time', async () => {
    const times = { waiterTtlMs: 3000, handOffMs: 200 };
    await takeA(redis, 'a', times);
    await takeA(other, 'stalled', times);
    await takeA(redis, 'next', times);
    await giveBack(redis, keys.leases, 'a', line.channel, { ...handOn, handOffMs: 200 });
    await expect.poll(() => messages).toEqual(['stalled']);
    await expect(takeA(redis, 'next', times)).resolves.toMatchObject({ outcome: 'full' });
    await sleep(300);
    // The next waiter's own refresh finds the place free and first in line, itself.
    await expect(takeA(redis, 'next', times)).resolves.toMatchObject({ outcome: 'taken' });
    expect(await redis.zrange(keys.leases, 0, -1)).toEqual(['next']);
  });

  test('a place freed by an expired lease goes to the head, whoever asks', async () => {
    await take(redis, keys.leases, keys.cooldown, 'a', 1, 200);
    await takeA(other, 'b');
    await sleep(300);
    // A newcomer finds the place free but somebody waiting: it hands the place over and waits.
    await expect(takeA(redis, 'newcomer')).resolves.toMatchObject({ outcome: 'full' });
    await expect.poll(() => messages).toEqual(['b']);
    await expect(takeA(other, 'b')).resolves.toMatchObject({ outcome: 'taken' });
    expect(await redis.zrange(line.line, 0, -1)).toEqual(['newcomer']);
  });

  test('during a cooldown nobody is handed a place, and the line keeps its order', async () => {
    await takeA(redis, 'a');
    await takeA(other, 'b');
    await coolDown(redis, keys.cooldown, 300);
    await expect(takeA(redis, 'c')).resolves.toMatchObject({ outcome: 'cooling' });
    await giveBack(redis, keys.leases, 'a', line.channel, handOn);
    await expect(takeA(other, 'b')).resolves.toMatchObject({ outcome: 'cooling' });
    expect(await redis.zrange(line.line, 0, -1)).toEqual(['b', 'c']);
    await sleep(350);
    // Whoever looks first once it ended, the head is served first.
    await expect(takeA(redis, 'c')).resolves.toMatchObject({ outcome: 'full' });
    await expect(takeA(other, 'b')).resolves.toMatchObject({ outcome: 'taken' });
    expect(messages).toEqual(['', 'b']);
  });

  test('a session that exists counts past the line; the line’s keys expire with its last entry', async () => {
    const set = keys.sessions;
    const sessions = lineKeys(set);
    await take(redis, set, undefined, 's1', 1, 30_000);
    await take(redis, set, undefined, 'waiting', 1, 30_000);
    await expect(take(redis, set, undefined, 'forced', 0, 30_000)).resolves.toMatchObject({ outcome: 'taken' });
    expect(await redis.zrange(sessions.line, 0, -1)).toEqual(['waiting']);
    for (const key of [sessions.line, sessions.waiters]) {
      const pttl = await redis.pttl(key);
      expect(pttl).toBeGreaterThan(2000);
      expect(pttl).toBeLessThanOrEqual(3000);
    }
  });

  test('a script cache flush is survived by the take and give-back of a line', async () => {
    await takeA(redis, 'a');
    await takeA(other, 'b');
    await redis.script('FLUSH');
    await expect(giveBack(redis, keys.leases, 'a', line.channel, handOn)).resolves.toBe(true);
    expect(await redis.script('EXISTS', scripts.giveBack.sha)).toEqual([1]);
    await expect(takeA(other, 'b')).resolves.toMatchObject({ outcome: 'taken' });
  });
});
