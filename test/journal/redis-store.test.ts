import type { Redis } from 'ioredis';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { isScriptRefusal } from '../../src/coordination/redis/scripts.js';
import { startOrphanReaper } from '../../src/journal/redis-reaper.js';
import { RedisSessionStore, ownerKeys, type RedisSessionStoreOptions } from '../../src/journal/redis-store.js';
import { recoverOrphans, type RecoveryReport, type SessionCloser } from '../../src/journal/recovery.js';
import { closeConfirmed } from '../../src/session/close.js';
import { startEmulator, type RunningEmulator } from '../../src/testing/index.js';
import { createBearerClient } from '../../src/transport/graph-client.js';
import type { GraphTransport } from '../../src/transport/graph-transport.js';
import { killAllChildren, spawnScript } from '../helpers/child-process.js';
import { redisTestsRun, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { transportsOver } from '../helpers/transport.js';

const PREFIX = 'test:';
const BOOK = '/me/drive/items/A';
const CHILD = fileURLToPath(new URL('../fixtures/journal/redis-owner-child.ts', import.meta.url));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const ids = (n: number, tag: string): string[] =>
  Array.from({ length: n }, (_, i) => `${tag}-session-${i}-0123456789abcdef`);

function countingCloser(answer: () => 'closed' | 'expired' | Error = () => 'closed') {
  const calls: string[] = [];
  const closer: SessionCloser = async (_workbook, id) => {
    calls.push(id);
    await sleep(1);
    const result = answer();
    if (result instanceof Error) throw result;
    return result;
  };
  return { calls, closer };
}

/** Waits until `check` holds, looking every 10 ms, or fails after `timeoutMs`. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Not so within ${timeoutMs} ms`);
    await sleep(10);
  }
}

describe.runIf(redisTestsRun())('RedisSessionStore against a real redis-server', () => {
  let server: RedisServer;
  let redis: Redis;
  const stores: RedisSessionStore[] = [];

  const store = (more: Partial<RedisSessionStoreOptions> = {}): RedisSessionStore => {
    const made = new RedisSessionStore({ client: redis, keyPrefix: PREFIX, ...more });
    stores.push(made);
    return made;
  };

  /** An owner that records `sessions` and then dies at once (its heartbeat deleted). */
  const deadOwner = async (sessions: readonly string[], createdAt = Date.now()): Promise<RedisSessionStore> => {
    const owner = store();
    for (const id of sessions) await owner.record({ workbook: BOOK, id, persistChanges: true, createdAt });
    await owner.close();
    return owner;
  };

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
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close().catch(() => undefined)));
    await killAllChildren();
  });

  test('record, remove and scan: sessions of a live owner, with its owner id, pid and host', async () => {
    const owner = store();
    const [a, b] = ids(2, 'live');
    await owner.record({ workbook: BOOK, file: '/drives/d/items/i', id: a!, persistChanges: true, createdAt: 1 });
    await owner.record({ workbook: BOOK, id: b!, persistChanges: false, createdAt: 2 });
    const scan = await store().scan();
    expect(scan.orphans).toEqual([]);
    expect(scan.corrupt).toEqual([]);
    expect(scan.live).toEqual([
      expect.objectContaining({ workbook: BOOK, file: '/drives/d/items/i', id: a, persistChanges: true, createdAt: 1 }),
      expect.objectContaining({ id: b, persistChanges: false, createdAt: 2 }),
    ]);
    for (const entry of scan.live) {
      expect(entry).toMatchObject({ owner: owner.owner, pid: process.pid });
      expect(entry.lastSeenAt).toBeUndefined();
      expect(typeof entry.host).toBe('string');
    }
    await owner.remove(a!);
    // Not recorded by this store: a no-op.
    await store().remove(b!);
    await owner.remove('never-recorded');
    expect((await owner.scan()).live.map((e) => e.id)).toEqual([b]);
    // Every key of the owner carries its hash tag.
    const keys = await redis.keys(`${PREFIX}{owner:*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(key.startsWith(`${PREFIX}{owner:${owner.owner}}:`)).toBe(true);
    expect(await redis.smembers(owner.ownersKey)).toEqual([owner.owner]);
  });

  test('options are checked; a heartbeat TTL cannot outlast the bound recovery assumes', () => {
    expect(() => new RedisSessionStore({ client: redis, heartbeatMs: 5 })).toThrow(/heartbeatMs/);
    expect(() => new RedisSessionStore({ client: redis, heartbeatMs: 100, heartbeatTtlMs: 150 })).toThrow(
      /heartbeatTtlMs/,
    );
    expect(() => new RedisSessionStore({ client: redis, heartbeatTtlMs: 120_000 })).toThrow(/heartbeatTtlMs/);
    expect(() => new RedisSessionStore({ client: {} as Redis })).toThrow(/ioredis client/);
    expect(() => new RedisSessionStore({ client: redis, extra: 1 } as RedisSessionStoreOptions)).toThrow(TypeError);
    const made = new RedisSessionStore({ client: redis, heartbeatMs: 100 });
    expect(made.heartbeatTtlMs).toBe(300);
  });

  test('an owner whose heartbeat expires becomes orphaned, with its last heartbeat as lastSeenAt', async () => {
    // Its own connection, cut as a killed process's would be: its heartbeats stop reaching Redis.
    const own = await server.client();
    const errors: unknown[] = [];
    const dying = new RedisSessionStore({
      client: own,
      keyPrefix: PREFIX,
      heartbeatMs: 50,
      heartbeatTtlMs: 150,
      onError: (error) => errors.push(error),
    });
    const [id] = ids(1, 'dying');
    await dying.record({ workbook: BOOK, id: id!, persistChanges: true, createdAt: Date.now() });
    await sleep(200);
    // Heartbeats keep it alive past its TTL.
    expect((await store().scan()).live.map((e) => e.id)).toEqual([id]);
    const cut = Date.now();
    own.disconnect();
    await until(async () => (await store().scan()).orphans.length === 1, 5_000);
    const { orphans, live } = await store().scan();
    expect(live).toEqual([]);
    expect(orphans[0]).toMatchObject({ id, owner: dying.owner });
    expect(orphans[0]!.lastSeenAt).toBeGreaterThan(cut - 1_000);
    expect(orphans[0]!.lastSeenAt).toBeLessThanOrEqual(Date.now() + 1_000);
    // Its heartbeats failed and said so.
    await until(() => errors.length > 0, 2_000);
    await dying.close().catch(() => undefined);
  });

  test('close() makes the owner dead at once; an owner with nothing left leaves no key behind', async () => {
    const owner = store({ heartbeatMs: 10_000 });
    const [a, b] = ids(2, 'closing');
    await owner.record({ workbook: BOOK, id: a!, persistChanges: true, createdAt: 1 });
    await owner.record({ workbook: BOOK, id: b!, persistChanges: true, createdAt: 2 });
    await owner.remove(a!);
    await owner.close();
    // Not after the heartbeat's 30 s TTL: now.
    const scan = await store().scan();
    expect(scan.live).toEqual([]);
    expect(scan.orphans.map((e) => e.id)).toEqual([b]);

    const clean = store();
    await clean.record({ workbook: BOOK, id: 'clean-one', persistChanges: true, createdAt: 1 });
    await clean.remove('clean-one');
    await clean.close();
    expect(await redis.keys(`${PREFIX}{owner:${clean.owner}}*`)).toEqual([]);
    expect(await redis.smembers(clean.ownersKey)).toEqual([owner.owner]);
    // A record after close() starts a heartbeat again: the owner is alive.
    await clean.record({ workbook: BOOK, id: 'clean-two', persistChanges: true, createdAt: 1 });
    expect((await store().scan()).live.map((e) => e.id)).toEqual(['clean-two']);
    expect(clean.lostHeartbeats).toBe(0);
  });

  test('a heartbeat found gone (the owner was taken for dead) is counted, and the owner is alive again', async () => {
    const owner = store({ heartbeatMs: 50 });
    await owner.record({ workbook: BOOK, id: 'paused-one', persistChanges: true, createdAt: 1 });
    await redis.del(ownerKeys(PREFIX, owner.owner).alive);
    expect((await store().scan()).orphans.map((e) => e.id)).toEqual(['paused-one']);
    await until(() => owner.lostHeartbeats === 1, 2_000);
    expect((await store().scan()).live.map((e) => e.id)).toEqual(['paused-one']);
  });

  test('many reapers claiming at once: each orphan is claimed exactly once', async () => {
    const all: string[] = [];
    for (let o = 0; o < 12; o++) {
      const sessions = ids(5, `owner${o}`);
      all.push(...sessions);
      await deadOwner(sessions);
    }
    const live = store();
    await live.record({ workbook: BOOK, id: 'live-one', persistChanges: true, createdAt: 1 });
    const reapers = Array.from({ length: 8 }, () => store());
    const claimed: string[] = [];
    // Every reaper claims at once, several rounds, settling nothing and never releasing: a claim
    // held is never claimed twice.
    for (let round = 0; round < 3; round++) {
      const claims = await Promise.all(reapers.map((r) => r.claimOrphans()));
      for (const claim of claims) {
        claimed.push(...claim.orphans.map((e) => e.id));
        expect(claim.live.map((e) => e.id)).toEqual(['live-one']);
      }
    }
    expect(claimed.sort()).toEqual([...all].sort());
  });

  test('concurrent recoveries through recoverOrphans close each orphan once, and leave nothing behind', async () => {
    const all: string[] = [];
    for (let o = 0; o < 10; o++) {
      const sessions = ids(4, `rec${o}`);
      all.push(...sessions);
      await deadOwner(sessions);
    }
    const { calls, closer } = countingCloser();
    const reports = await Promise.all(Array.from({ length: 6 }, () => recoverOrphans(store(), closer)));
    expect(calls.sort()).toEqual([...all].sort());
    expect(reports.reduce((sum, r) => sum + r.closed.length, 0)).toBe(all.length);
    const after = await store().scan();
    expect(after).toEqual({ orphans: [], live: [], corrupt: [] });
    expect(await redis.keys(`${PREFIX}*`)).toEqual([]);
  });

  test('release() puts unsettled sessions back; a claim whose holder died expires back to orphaned', async () => {
    const sessions = ids(3, 'back');
    await deadOwner(sessions);
    const first = await store().claimOrphans();
    expect(first.orphans.map((e) => e.id).sort()).toEqual([...sessions].sort());
    // Held: another claimer sees none of them.
    const meanwhile = await store().claimOrphans();
    expect(meanwhile.orphans).toEqual([]);
    await meanwhile.release();
    await first.settle(sessions[0]!, 'recovered');
    await expect(first.settle('not-claimed', 'recovered')).rejects.toThrow(TypeError);
    await first.release();
    await first.release();
    const second = await store().claimOrphans();
    expect(second.orphans.map((e) => e.id).sort()).toEqual(sessions.slice(1).sort());
    // Never released (its holder died): it expires, and the sessions are orphans again.
    const short = store({ claimTtlMs: 100 });
    await second.release();
    const abandoned = await short.claimOrphans();
    expect(abandoned.orphans).toHaveLength(2);
    // Its renewal timer is what a dead holder loses; stopped here without giving the claim back.
    await redis.set(ownerKeys(PREFIX, abandoned.orphans[0]!.owner).claim, 'someone-dead', 'PX', 100);
    expect((await store().claimOrphans()).orphans).toEqual([]);
    await sleep(150);
    const third = await store().claimOrphans();
    expect(third.orphans).toHaveLength(2);
    await abandoned.release();
  });

  test('claimOrphans stops at an aborted signal, and gives back what it had claimed', async () => {
    await deadOwner(ids(1, 'abort-a'));
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(store().claimOrphans({ signal: controller.signal })).rejects.toThrow('stop');
    expect((await store().claimOrphans()).orphans).toHaveLength(1);
  });

  test('corrupt records are reported and skipped, and a flushed script cache changes nothing', async () => {
    const owner = await deadOwner(ids(1, 'corrupt'));
    await redis.hset(ownerKeys(PREFIX, owner.owner).sessions, 'bad-record-0123456789', '{"workbook":1}');
    await redis.sadd(`${PREFIX}owners`, 'not{an}owner');
    await redis.script('FLUSH');
    const scan = await store().scan();
    expect(scan.orphans.map((e) => e.id)).toEqual(['corrupt-session-0-0123456789abcdef']);
    expect(scan.corrupt).toHaveLength(2);
    expect(scan.corrupt.map((c) => c.reason).join('\n')).not.toContain('bad-record-0123456789');
    await redis.script('FLUSH');
    const fresh = store();
    await fresh.record({ workbook: BOOK, id: 'after-flush', persistChanges: true, createdAt: 1 });
    expect((await fresh.scan()).live.map((e) => e.id)).toEqual(['after-flush']);
  });

  test('a bad argument is refused by the script itself, matched by content', async () => {
    const own = ownerKeys(PREFIX, 'x');
    const error = await redis.eval("return redis.error_reply('WBS_BADARG ttl 0')", 0).catch((e: unknown) => e);
    expect(isScriptRefusal(error)).toBe(true);
    expect(own.alive).toBe(`${PREFIX}{owner:x}:alive`);
  });

  describe('against the emulator', () => {
    let emu: RunningEmulator;
    let transport: GraphTransport;
    beforeAll(async () => {
      emu = await startEmulator({ workbooks: { [BOOK]: {} } });
      transport = transportsOver(createBearerClient({ baseUrl: emu.url, token: emu.token }))();
    });
    afterAll(async () => {
      await emu?.close();
    });

    const closer: SessionCloser = (workbook, id) => closeConfirmed(transport, workbook, id);

    test(
      'recoverOrphans closes the sessions of a dead owner, ' + 'counts a 404 as expired, skips ones past expiry',
      async () => {
        const created = await Promise.all([1, 2, 3].map(() => transport.createSession(BOOK, true)));
        const [open1, open2, gone] = created.map((c) => c.id);
        // Graph expired it meanwhile: its close is answered 404.
        expect(emu.service.expireSession(gone!)).toBe(true);
        await deadOwner([open1!, open2!, gone!]);
        // An owner dead long ago: its session is past Graph's expiry by its last heartbeat.
        const old = (await transport.createSession(BOOK, true)).id;
        const ancient = await deadOwner([old], Date.now() - 3_600_000);
        await redis.hset(ownerKeys(PREFIX, ancient.owner).meta, 'lastSeenAt', String(Date.now() - 3_600_000));
        const before = emu.service.stats().closed;

        const report = await recoverOrphans(store(), closer);
        expect(report.closed).toHaveLength(2);
        expect(report.expired.map((s) => s.expiredBy).sort()).toEqual(['age', 'graph']);
        expect(report.failed).toEqual([]);
        // Only the two open ones were closed: nothing was sent for the one past expiry.
        expect(emu.service.stats().closed - before).toBe(2);
        expect(emu.service.sessions().find((s) => s.id === old)?.state).toBe('open');
        expect(await store().scan()).toEqual({ orphans: [], live: [], corrupt: [] });
        await transport.closeSession(BOOK, old);
      },
    );

    test('the reaper closes orphans on its timer, counts a thrown 404 as expired, and stops on close()', async () => {
      const reports: RecoveryReport[] = [];
      const notFound = Object.assign(new Error('404'), { name: 'GraphRequestError', status: 404 });
      const fake = countingCloser(() => notFound);
      const reaper = startOrphanReaper({
        store: store(),
        closer: fake.closer,
        intervalMs: 20,
        onReport: (r) => reports.push(r),
      });
      await deadOwner(ids(2, 'timer'));
      await until(() => reports.length > 0);
      expect(reports[0]!.expired.map((s) => s.expiredBy)).toEqual(['graph', 'graph']);
      await reaper.close();
      const passes = reaper.passes;
      await deadOwner(ids(1, 'after-close'));
      await sleep(100);
      expect(reaper.passes).toBe(passes);
      expect(fake.calls).toHaveLength(2);
      await expect(reaper.runOnce()).resolves.toBeUndefined();
    });

    test(
      'a SIGKILLed owner process: ' + 'the reaper of a survivor closes its sessions once its heartbeat expires',
      async () => {
        const heartbeatMs = 100;
        const child = spawnScript(CHILD, [
          emu.url,
          emu.token,
          String(server.port),
          PREFIX,
          BOOK,
          '3',
          String(heartbeatMs),
        ]);
        const ready = await child.waitForLine(/^ready /);
        const childIds = ready.slice('ready '.length).split(',');
        expect(childIds).toHaveLength(3);
        const closedBefore = emu.service.stats().closed;
        const events: string[] = [];
        let closedAt = 0;
        const reaper = startOrphanReaper({
          store: store(),
          closer,
          intervalMs: 50,
          onReport: (r) => {
            events.push(`reaped ${r.closed.length}`);
            closedAt = Date.now();
          },
        });
        // While the child lives, passes run and touch none of its sessions.
        await until(() => reaper.passes >= 3);
        expect(events).toEqual([]);
        expect(childIds.map((id) => emu.service.sessions().find((s) => s.id === id)?.state)).toEqual([
          'open',
          'open',
          'open',
        ]);
        await child.kill();
        const killedAt = Date.now();
        events.push('killed');
        await until(() => events.length > 1);
        await until(() => emu.service.stats().closed - closedBefore === 3);
        await reaper.close();
        expect(events).toEqual(['killed', 'reaped 3']);
        expect(childIds.map((id) => emu.service.sessions().find((s) => s.id === id)?.state)).toEqual([
          'closed',
          'closed',
          'closed',
        ]);
        expect(emu.service.stats().closed - closedBefore).toBe(3);
        // Measured, not asserted: heartbeat TTL (300 ms) + interval (50 ms) + the closes.
        console.info(`SIGKILL to orphans closed: ${closedAt - killedAt} ms (heartbeat TTL 300 ms, interval 50 ms)`);
      },
    );
  });
});
