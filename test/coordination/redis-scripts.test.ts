import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  coolDown,
  giveBack,
  isNoScript,
  isScriptRefusal,
  renew,
  scripts,
  take,
  workbookKeys,
} from '../../src/coordination/redis/scripts.js';
import { redisTestsRun, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('workbookKeys', () => {
  test('every key of a workbook carries its hash tag, so Redis Cluster keeps them in one slot', () => {
    const keys = workbookKeys('wbs:', '/me/drive/items/A');
    for (const key of Object.values(keys)) expect(key.startsWith('wbs:{wb:/me/drive/items/A}:')).toBe(true);
  });

  test('braces in a lane name are escaped: the tag is the whole lane, and lanes never share keys', () => {
    expect(workbookKeys('', 'a}b{c%').leases).toBe('{wb:a%7Db%7Bc%25}:leases');
    expect(workbookKeys('', 'a}').leases).not.toBe(workbookKeys('', 'a%7D').leases);
  });
});

describe('error replies are matched by content, whatever the prefix', () => {
  test('isNoScript and isScriptRefusal see their code with or without `ERR `', () => {
    expect(isNoScript(new Error('NOSCRIPT No matching script. Please use EVAL.'))).toBe(true);
    expect(isNoScript(new Error('ERR NOSCRIPT No matching script'))).toBe(true);
    expect(isNoScript(new Error('ERR unknown command'))).toBe(false);
    expect(isScriptRefusal(new Error('WBS_BADARG ttl 0'))).toBe(true);
    expect(isScriptRefusal(new Error('ERR WBS_BADARG ttl 0'))).toBe(true);
    expect(isScriptRefusal('not an error')).toBe(false);
  });
});

describe.runIf(redisTestsRun())('the Lua scripts against a real redis-server', () => {
  let server: RedisServer;
  let redis: Redis;
  const keys = workbookKeys('test:', '/me/drive/items/A');

  beforeAll(async () => {
    server = await startRedisServer();
    redis = await server.client();
  });
  afterAll(async () => {
    await server?.stop();
  });
  beforeEach(async () => {
    await redis.flushall();
  });

  test('take: a free place is taken, a full lane answers the time until its earliest lease expires', async () => {
    await expect(take(redis, keys.leases, keys.cooldown, 'a', 1, 30_000)).resolves.toEqual({
      outcome: 'taken',
      ttlMs: 30_000,
    });
    const busy = await take(redis, keys.leases, keys.cooldown, 'b', 1, 30_000);
    expect(busy.outcome).toBe('full');
    if (busy.outcome !== 'full') return;
    expect(busy.waitMs).toBeGreaterThan(29_000);
    expect(busy.waitMs).toBeLessThanOrEqual(30_000);
    // Taking a token already held renews it instead of counting it twice.
    await expect(take(redis, keys.leases, keys.cooldown, 'a', 1, 30_000)).resolves.toMatchObject({ outcome: 'taken' });
    expect(await redis.zcard(keys.leases)).toBe(1);
    // The key lives as long as its longest lease.
    const pttl = await redis.pttl(keys.leases);
    expect(pttl).toBeGreaterThan(29_000);
    expect(pttl).toBeLessThanOrEqual(30_000);
  });

  test('take: a lease nobody extends expires, and its place is free again', async () => {
    await take(redis, keys.leases, keys.cooldown, 'a', 1, 200);
    await expect(take(redis, keys.leases, keys.cooldown, 'b', 1, 30_000)).resolves.toMatchObject({ outcome: 'full' });
    await sleep(300);
    await expect(take(redis, keys.leases, keys.cooldown, 'b', 1, 30_000)).resolves.toMatchObject({ outcome: 'taken' });
    expect(await redis.zrange(keys.leases, 0, -1)).toEqual(['b']);
  });

  test('take: perWorkbookConcurrency places, no more', async () => {
    for (const token of ['a', 'b', 'c']) {
      await expect(take(redis, keys.leases, keys.cooldown, token, 3, 30_000)).resolves.toMatchObject({
        outcome: 'taken',
      });
    }
    await expect(take(redis, keys.leases, keys.cooldown, 'd', 3, 30_000)).resolves.toMatchObject({ outcome: 'full' });
  });

  test('renew extends a held lease; a lease gone is reported lost and not put back', async () => {
    await take(redis, keys.leases, keys.cooldown, 'a', 1, 1000);
    const before = Number(await redis.zscore(keys.leases, 'a'));
    await sleep(20);
    await expect(renew(redis, keys.leases, 'a', 30_000, false)).resolves.toBe(true);
    expect(Number(await redis.zscore(keys.leases, 'a'))).toBeGreaterThan(before + 28_000);
    await expect(renew(redis, keys.leases, 'never-taken', 30_000, false)).resolves.toBe(false);
    expect(await redis.zscore(keys.leases, 'never-taken')).toBeNull();

    await take(redis, keys.leases, keys.cooldown, 'x', 5, 100);
    await sleep(200);
    await expect(renew(redis, keys.leases, 'x', 30_000, false)).resolves.toBe(false);
    expect(await redis.zscore(keys.leases, 'x')).toBeNull();
  });

  test('renew with readd puts back a reservation that aged out (its session still exists)', async () => {
    await take(redis, keys.sessions, undefined, 's', 1, 100);
    await sleep(200);
    await expect(renew(redis, keys.sessions, 's', 30_000, true)).resolves.toBe(false);
    expect(await redis.zscore(keys.sessions, 's')).not.toBeNull();
    await expect(renew(redis, keys.sessions, 's', 30_000, true)).resolves.toBe(true);
  });

  test('giveBack releases only its own token, and tells the channel', async () => {
    const listener = await server.client();
    const messages: string[] = [];
    listener.on('message', (channel: string) => messages.push(channel));
    await listener.subscribe(keys.leaseFreed);
    await take(redis, keys.leases, keys.cooldown, 'a', 1, 30_000);
    await expect(giveBack(redis, keys.leases, 'b', keys.leaseFreed)).resolves.toBe(false);
    expect(await redis.zrange(keys.leases, 0, -1)).toEqual(['a']);
    await expect(giveBack(redis, keys.leases, 'a', keys.leaseFreed)).resolves.toBe(true);
    await expect(giveBack(redis, keys.leases, 'a', keys.leaseFreed)).resolves.toBe(false);
    expect(await redis.exists(keys.leases)).toBe(0);
    await expect.poll(() => messages).toEqual([keys.leaseFreed]);
    listener.disconnect();
  });

  test('a cooldown only grows, on the server clock, and take refuses while it runs', async () => {
    await expect(coolDown(redis, keys.cooldown, 5000)).resolves.toEqual({ grew: true, leftMs: 5000 });
    const shorter = await coolDown(redis, keys.cooldown, 1000);
    expect(shorter.grew).toBe(false);
    expect(shorter.leftMs).toBeGreaterThan(4000);
    await expect(coolDown(redis, keys.cooldown, 10_000)).resolves.toEqual({ grew: true, leftMs: 10_000 });
    const refused = await take(redis, keys.leases, keys.cooldown, 'a', 1, 30_000);
    expect(refused.outcome).toBe('cooling');
    if (refused.outcome !== 'cooling') return;
    expect(refused.waitMs).toBeGreaterThan(9000);
    expect(refused.waitMs).toBeLessThanOrEqual(10_000);
    expect(await redis.exists(keys.leases)).toBe(0);
    // The key ends with the cooldown: nothing is left behind.
    expect(await redis.pttl(keys.cooldown)).toBeGreaterThan(9000);
  });

  test('a cooldown that ended lets the lane run again', async () => {
    await coolDown(redis, keys.cooldown, 150);
    await expect(take(redis, keys.leases, keys.cooldown, 'a', 1, 30_000)).resolves.toMatchObject({
      outcome: 'cooling',
    });
    await sleep(250);
    await expect(take(redis, keys.leases, keys.cooldown, 'a', 1, 30_000)).resolves.toMatchObject({ outcome: 'taken' });
  });

  test('the session budget: reservations up to the limit, refused beyond, forced over it, aged out', async () => {
    for (const token of ['1', '2', '3']) {
      await expect(take(redis, keys.sessions, undefined, token, 3, 200)).resolves.toMatchObject({ outcome: 'taken' });
    }
    await expect(take(redis, keys.sessions, undefined, '4', 3, 30_000)).resolves.toMatchObject({ outcome: 'full' });
    // A session that exists already counts, over the budget if it must.
    await expect(take(redis, keys.sessions, undefined, 'forced', 0, 30_000)).resolves.toMatchObject({
      outcome: 'taken',
    });
    expect(await redis.zcard(keys.sessions)).toBe(4);
    // Leaked reservations age out and free their places.
    await sleep(300);
    await expect(take(redis, keys.sessions, undefined, '4', 3, 30_000)).resolves.toMatchObject({ outcome: 'taken' });
    expect((await redis.zrange(keys.sessions, 0, -1)).sort()).toEqual(['4', 'forced']);
  });

  test('bad arguments are refused by the script, recognised by content', async () => {
    const refusal = await take(redis, keys.leases, keys.cooldown, 'a', 1, 0).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(Error);
    expect(isScriptRefusal(refusal)).toBe(true);
    expect((refusal as Error).message).toContain('WBS_BADARG ttl 0');
    const badLimit = await take(redis, keys.leases, keys.cooldown, 'a', -1, 1000).catch((error: unknown) => error);
    expect(isScriptRefusal(badLimit)).toBe(true);
    const badCooldown = await coolDown(redis, keys.cooldown, 0).catch((error: unknown) => error);
    expect(isScriptRefusal(badCooldown)).toBe(true);
    // The server's own NOSCRIPT reply, whatever its prefix, is recognised.
    const noScript = await redis.evalsha('0'.repeat(40), 0).catch((error: unknown) => error);
    expect(isNoScript(noScript)).toBe(true);
  });

  test('after SCRIPT FLUSH the scripts still run: EVAL loads them again', async () => {
    await take(redis, keys.leases, keys.cooldown, 'a', 1, 30_000);
    await redis.script('FLUSH');
    expect(await redis.script('EXISTS', scripts.take.sha)).toEqual([0]);
    await expect(take(redis, keys.leases, keys.cooldown, 'b', 1, 30_000)).resolves.toMatchObject({ outcome: 'full' });
    expect(await redis.script('EXISTS', scripts.take.sha)).toEqual([1]);
    await expect(giveBack(redis, keys.leases, 'a', keys.leaseFreed)).resolves.toBe(true);
  });
});
