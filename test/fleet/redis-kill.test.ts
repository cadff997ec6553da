// The redis-server SIGKILLed under a running fleet (`onRedisDown: 'fail'`, clients that fail fast:
// no offline queue, one retry, a command timeout): calls fail at once with FleetUnavailableError,
// nothing waits for Redis, closes still go out, and once a fresh redis-server runs on the same port
// the clients reconnect and work resumes. Real processes: the emulator here, one redis-server
// (killed, then started again), two workers calling in loops. The time from the kill to the first
// failure, each failed call's time and the time from the restart to the first success are printed;
// only loose bounds are asserted.
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { SessionManager, isFleetUnavailableError } from '../../src/index.js';
import { createBearerClient } from '../../src/transport/graph-client.js';
import { useFleetLab } from '../helpers/fleet-lab.js';
import { redisTestsRun, startRedisServer } from '../helpers/redis-server.js';
import { startLaneWorker, type CallResult, type LaneWorker } from './lane-workers.js';

const BOOKS = ['/me/drive/items/A', '/me/drive/items/B'];
const COMMAND_TIMEOUT_MS = 500;
const DOWN_MS = 1000;
// Loose: a loaded 2-core machine runs this beside other suites.
const MARGIN_MS = 1000;

describe.runIf(redisTestsRun())('the redis-server killed under a running fleet', () => {
  const lab = useFleetLab({
    workbooks: Object.fromEntries(BOOKS.map((book) => [book, {}])),
    latency: { fixedMs: 5 },
    seed: 16,
  });

  const results = (workers: readonly LaneWorker[]): CallResult[] =>
    workers.flatMap((worker) => BOOKS.flatMap((book) => worker.loopResults(book)));

  test('calls fail fast with FleetUnavailableError, closes go out, work resumes on a fresh Redis', async () => {
    const env = {
      EMU_URL: lab.emulator.url,
      EMU_TOKEN: lab.emulator.token,
      REDIS_PORT: String(lab.redis.port),
      COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
      ON_REDIS_DOWN: 'fail',
      LEASE_TTL_MS: '1000',
      REQUEST_TIMEOUT_MS: '800',
    };
    const workers = await Promise.all([startLaneWorker(env), startLaneWorker(env)]);
    const [keeps, leaves] = workers as [LaneWorker, LaneWorker];
    await Promise.all(workers.flatMap((worker) => BOOKS.map((book) => worker.open(book))));
    for (const worker of workers) for (const book of BOOKS) worker.send(`loop ${book}`);
    await delay(500);
    const before = results(workers);

    const killedAt = Date.now();
    await lab.redis.kill();
    await delay(DOWN_MS);
    // A replica shutting down while Redis is down still closes its sessions.
    const closedBefore = lab.emulator.service.stats().closed;
    const leaving = Date.now();
    const left = await leaves.shutdown();
    const leaveMs = Date.now() - leaving;
    const closedWhileDown = lab.emulator.service.stats().closed - closedBefore;

    const restartedAt = Date.now();
    await lab.redis.restart();
    const restartMs = Date.now() - restartedAt;
    const resumed = async (): Promise<CallResult | undefined> => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const ok = results([keeps]).find((r) => r.ok && r.startedAt > restartedAt);
        if (ok !== undefined || Date.now() > deadline) return ok;
        await delay(10);
      }
    };
    const firstSuccess = await resumed();
    await delay(200);
    keeps.send('stop');
    await keeps.child.waitForLine('stopped');
    const after = results([keeps]).filter((r) => firstSuccess !== undefined && r.startedAt > firstSuccess.endedAt);
    const kept = await keeps.shutdown();

    const down = results(workers).filter((r) => r.startedAt > killedAt && r.endedAt < restartedAt);
    const failures = down.filter((r) => !r.ok);
    const firstFailure = Math.min(...results(workers).flatMap((r) => (r.ok ? [] : [r.endedAt])));
    const failMs = failures.map((r) => r.endedAt - r.startedAt);
    const stats = lab.emulator.service.stats();
    console.log(
      JSON.stringify({
        commandTimeoutMs: COMMAND_TIMEOUT_MS,
        callsBeforeKill: before.length,
        killToFirstFailureMs: firstFailure - killedAt,
        callsWhileDown: down.length,
        failedWhileDown: failures.length,
        failedCallMaxMs: Math.max(...failMs),
        errors: [...new Set(failures.map((r) => r.name))],
        shutdownWhileDownMs: leaveMs,
        closedWhileDown,
        restartMs,
        restartToFirstSuccessMs: firstSuccess === undefined ? null : firstSuccess.endedAt - restartedAt,
        callsAfterResume: after.length,
        stderrLines: [left.stderr, kept.stderr].map((s) => s.split('\n').filter(Boolean).length),
        emulator: { created: stats.created, closed: stats.closed, open: stats.open },
      }),
    );

    // Before the kill, every call went through.
    expect(before.length).toBeGreaterThan(0);
    expect(before.every((r) => r.ok)).toBe(true);
    // While Redis is down, every call fails fast with FleetUnavailableError: nothing waits for it.
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.length).toBe(down.length);
    expect(failures.every((r) => r.name === 'FleetUnavailableError' && r.code === 'FLEET_UNAVAILABLE')).toBe(true);
    expect(firstFailure - killedAt).toBeLessThanOrEqual(COMMAND_TIMEOUT_MS + MARGIN_MS);
    for (const ms of failMs) expect(ms).toBeLessThanOrEqual(COMMAND_TIMEOUT_MS + MARGIN_MS);
    // The replica that left while Redis was down closed both of its sessions.
    expect(left).toMatchObject({ code: 0, leftOpen: 0 });
    expect(closedWhileDown).toBe(2);
    // On a fresh Redis the other resumes: its calls succeed again.
    expect(firstSuccess).toBeDefined();
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((r) => r.ok)).toBe(true);
    expect(kept).toMatchObject({ code: 0, leftOpen: 0 });
    expect(stats).toMatchObject({ created: 4, closed: 4, open: 0 });
  }, 30_000);

  test('a call made while the client is between reconnection attempts fails at once, not after a wait', async () => {
    const server = await startRedisServer();
    const client = await server.client({ commandTimeout: COMMAND_TIMEOUT_MS });
    client.on('error', () => undefined);
    const sessions = new SessionManager({
      client: createBearerClient({ baseUrl: lab.emulator.url, token: lab.emulator.token }),
      exitHooks: false,
      resolveWorkbooks: false,
      requestTimeoutMs: 800,
      fleet: { redis: client, leaseTtlMs: 1000 },
    });
    try {
      const session = await sessions.open(BOOKS[0] ?? '');
      await session.api('/worksheets').get();
      await server.kill();
      // ioredis says `connecting` during each attempt to reconnect: a call made then is not one
      // made during a first connection, and must not wait for it.
      const tookMs: number[] = [];
      for (let attempt = 0; attempt < 3; attempt++) {
        await new Promise((resolve) => client.once('connecting', resolve));
        const started = performance.now();
        const error = await session
          .api('/worksheets')
          .get()
          .catch((e: unknown) => e);
        tookMs.push(Math.round(performance.now() - started));
        expect(isFleetUnavailableError(error)).toBe(true);
      }
      console.log(JSON.stringify({ callsWhileReconnectingMs: tookMs }));
      for (const ms of tookMs) expect(ms).toBeLessThan(COMMAND_TIMEOUT_MS);
      await server.restart();
      await expect.poll(() => client.status, { timeout: 10_000 }).toBe('ready');
      await expect(session.api('/worksheets').get()).resolves.toBeDefined();
      await session.close();
    } finally {
      await sessions.shutdown();
      await server.stop();
    }
    expect(lab.emulator.service.stats().open).toBe(0);
  });
});
