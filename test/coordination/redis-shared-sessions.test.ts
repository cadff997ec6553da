import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { RedisSharedSessions } from '../../src/coordination/redis/redis-shared-sessions.js';
import {
  isScriptRefusal,
  sharedAbandon,
  sharedClaim,
  sharedFind,
  sharedRelease,
  sharedRetire,
  sharedScripts,
  sharedStore,
  sharedTouch,
  workbookKeys,
} from '../../src/coordination/redis/scripts.js';
import { redisTestsRun, startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const TTLS = { claimTtlMs: 30_000, keyTtlMs: 60_000 };

describe('workbookKeys: the shared session', () => {
  test('its keys carry the workbook hash tag, beside the lane', () => {
    const keys = workbookKeys('wbs:', '/me/drive/items/A');
    expect(keys.shared).toBe('wbs:{wb:/me/drive/items/A}:shared');
    expect(keys.creating).toBe('wbs:{wb:/me/drive/items/A}:shared:creating');
  });
});

describe.runIf(redisTestsRun())('the shared-session scripts against a real redis-server', () => {
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

  const usedAt = async (): Promise<number> => Number(await redis.hget(keys.shared, 'usedAt'));

  test('claim: the first token may create, a second waits for it, the first claims again', async () => {
    await expect(sharedClaim(redis, keys, 'a', undefined, TTLS)).resolves.toEqual({ outcome: 'create' });
    const waiting = await sharedClaim(redis, keys, 'b', undefined, TTLS);
    expect(waiting.outcome).toBe('wait');
    if (waiting.outcome !== 'wait') return;
    expect(waiting.waitMs).toBeGreaterThan(29_000);
    expect(waiting.waitMs).toBeLessThanOrEqual(30_000);
    // A retried create of the same token (after a 429) holds its claim.
    await expect(sharedClaim(redis, keys, 'a', undefined, TTLS)).resolves.toEqual({ outcome: 'create' });
    expect(await redis.get(keys.creating)).toBe('a');
  });

  test('claim re-checks: once an id is stored, a later claim adopts it instead of creating', async () => {
    await sharedClaim(redis, keys, 'a', undefined, TTLS);
    await expect(sharedStore(redis, keys, 'a', 'S1', TTLS.keyTtlMs)).resolves.toEqual({ stored: true, id: 'S1' });
    expect(await redis.exists(keys.creating)).toBe(0);
    await expect(sharedClaim(redis, keys, 'b', undefined, TTLS)).resolves.toEqual({ outcome: 'adopt', id: 'S1' });
    await expect(sharedFind(redis, keys, TTLS.keyTtlMs)).resolves.toBe('S1');
    // Nothing was claimed by the adopter.
    expect(await redis.exists(keys.creating)).toBe(0);
  });

  test('a claim that died with its creator ends with its TTL, and another may create', async () => {
    await sharedClaim(redis, keys, 'a', undefined, { claimTtlMs: 100, keyTtlMs: 60_000 });
    await expect(sharedClaim(redis, keys, 'b', undefined, TTLS)).resolves.toMatchObject({ outcome: 'wait' });
    await sleep(200);
    await expect(sharedClaim(redis, keys, 'b', undefined, TTLS)).resolves.toEqual({ outcome: 'create' });
  });

  test('store: a claim that outlived its TTL loses to the id stored first', async () => {
    await sharedClaim(redis, keys, 'a', undefined, { claimTtlMs: 100, keyTtlMs: 60_000 });
    await sleep(200);
    await sharedClaim(redis, keys, 'b', undefined, TTLS);
    await expect(sharedStore(redis, keys, 'b', 'S-b', TTLS.keyTtlMs)).resolves.toEqual({ stored: true, id: 'S-b' });
    await expect(sharedStore(redis, keys, 'a', 'S-a', TTLS.keyTtlMs)).resolves.toEqual({ stored: false, id: 'S-b' });
    expect(await redis.hget(keys.shared, 'id')).toBe('S-b');
  });

  test('abandon ends only its own claim', async () => {
    await sharedClaim(redis, keys, 'a', undefined, TTLS);
    await expect(sharedAbandon(redis, keys, 'b')).resolves.toBe(false);
    expect(await redis.get(keys.creating)).toBe('a');
    await expect(sharedAbandon(redis, keys, 'a')).resolves.toBe(true);
    await expect(sharedClaim(redis, keys, 'b', undefined, TTLS)).resolves.toEqual({ outcome: 'create' });
  });

  test('compare and delete: release forgets the id only while the key still holds it', async () => {
    await sharedClaim(redis, keys, 'a', undefined, TTLS);
    await sharedStore(redis, keys, 'a', 'S1', TTLS.keyTtlMs);
    await expect(sharedRelease(redis, keys, 'S0')).resolves.toBe(false);
    expect(await redis.hget(keys.shared, 'id')).toBe('S1');
    await expect(sharedRelease(redis, keys, 'S1')).resolves.toBe(true);
    expect(await redis.exists(keys.shared)).toBe(0);
    await expect(sharedRelease(redis, keys, 'S1')).resolves.toBe(false);
  });

  test('claim with `replacing`: the id seen to fail is deleted, a newer one is adopted', async () => {
    await sharedClaim(redis, keys, 'a', undefined, TTLS);
    await sharedStore(redis, keys, 'a', 'S1', TTLS.keyTtlMs);
    // The first replica to see S1 fail replaces it.
    await expect(sharedClaim(redis, keys, 'b', 'S1', TTLS)).resolves.toEqual({ outcome: 'create' });
    await sharedStore(redis, keys, 'b', 'S2', TTLS.keyTtlMs);
    // A replica that saw S1 fail later adopts S2, and never deletes it.
    await expect(sharedClaim(redis, keys, 'c', 'S1', TTLS)).resolves.toEqual({ outcome: 'adopt', id: 'S2' });
    expect(await redis.hget(keys.shared, 'id')).toBe('S2');
  });

  test('touch: a use moves the server-clock last use and renews the key; another id is refused', async () => {
    await sharedClaim(redis, keys, 'a', undefined, TTLS);
    await sharedStore(redis, keys, 'a', 'S1', 1000);
    const first = await usedAt();
    await sleep(30);
    await expect(sharedTouch(redis, keys, 'S1', TTLS.keyTtlMs)).resolves.toBe(true);
    expect(await usedAt()).toBeGreaterThanOrEqual(first + 25);
    expect(await redis.pttl(keys.shared)).toBeGreaterThan(59_000);
    await expect(sharedTouch(redis, keys, 'S0', TTLS.keyTtlMs)).resolves.toBe(false);
    // A touch of an id that is no longer shared leaves nothing behind.
    await redis.del(keys.shared);
    await expect(sharedTouch(redis, keys, 'S1', TTLS.keyTtlMs)).resolves.toBe(false);
    expect(await redis.exists(keys.shared)).toBe(0);
  });

  test('retire: used within the idle time by anyone is busy, with the time left', async () => {
    await sharedClaim(redis, keys, 'a', undefined, TTLS);
    await sharedStore(redis, keys, 'a', 'S1', TTLS.keyTtlMs);
    const busy = await sharedRetire(redis, keys, 'S1', 10_000);
    expect(busy.outcome).toBe('busy');
    if (busy.outcome !== 'busy') return;
    expect(busy.leftMs).toBeGreaterThan(9000);
    expect(busy.leftMs).toBeLessThanOrEqual(10_000);
    expect(await redis.hget(keys.shared, 'id')).toBe('S1');
  });

  test('retire: left idle by the whole fleet, the key is deleted and the asker closes it', async () => {
    await sharedClaim(redis, keys, 'a', undefined, TTLS);
    await sharedStore(redis, keys, 'a', 'S1', TTLS.keyTtlMs);
    await sleep(150);
    await expect(sharedRetire(redis, keys, 'S1', 100)).resolves.toEqual({ outcome: 'retired' });
    expect(await redis.exists(keys.shared)).toBe(0);
    // Whoever asks next about S1 hears it is gone: it lets go without a close.
    await expect(sharedRetire(redis, keys, 'S1', 100)).resolves.toEqual({ outcome: 'gone' });
  });

  test('retire: a key holding another id is gone for the asker, and is left as it is', async () => {
    await sharedClaim(redis, keys, 'a', undefined, TTLS);
    await sharedStore(redis, keys, 'a', 'S2', TTLS.keyTtlMs);
    await sleep(150);
    await expect(sharedRetire(redis, keys, 'S1', 100)).resolves.toEqual({ outcome: 'gone' });
    expect(await redis.hget(keys.shared, 'id')).toBe('S2');
  });

  test('bad arguments are refused by the scripts, recognised by content', async () => {
    for (const attempt of [
      sharedRetire(redis, keys, 'S1', 0),
      sharedTouch(redis, keys, 'S1', -1),
      sharedFind(redis, keys, 1.5),
      sharedClaim(redis, keys, 'a', undefined, { claimTtlMs: 0, keyTtlMs: 1000 }),
    ]) {
      const error = await attempt.catch((e: unknown) => e);
      expect(isScriptRefusal(error)).toBe(true);
    }
  });

  test('after SCRIPT FLUSH the shared-session scripts still run', async () => {
    const sharing = new RedisSharedSessions({ client: redis, keyPrefix: 'test:' });
    await expect(sharing.claim('/me/drive/items/A', 't', undefined)).resolves.toEqual({ outcome: 'create' });
    await redis.script('FLUSH');
    await expect(sharing.store('/me/drive/items/A', 't', 'S1')).resolves.toEqual({ id: 'S1', shared: true });
    expect(await redis.script('EXISTS', sharedScripts.store.sha)).toEqual([1]);
    await expect(sharing.find('/me/drive/items/A')).resolves.toBe('S1');
  });
});
