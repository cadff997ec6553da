// A replica paused (SIGSTOP) in the middle of a request and kept stopped past its lane lease: the
// lease expires, another replica takes the lane and sends, and the paused one's request is still at
// the server. Lanes are efficiency locks (Graph checks no fencing token), so the two may overlap on
// the workbook: the overlap is measured from the emulator and printed, never hidden or asserted
// away. What the library promises is asserted: once resumed (SIGCONT) the paused replica counts its
// lease lost, its request finishes, and its next request waits for a new lease.
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { workbookKeys } from '../../src/coordination/redis/scripts.js';
import { useFleetLab } from '../helpers/fleet-lab.js';
import { redisTestsRun } from '../helpers/redis-server.js';
import { startLaneWorker, watchInFlight } from './lane-workers.js';

const A = '/me/drive/items/A';
const LEASE_TTL_MS = 2000;
const REQUEST_TIMEOUT_MS = 1500;
// The paused replica's request stays at the server past its lease, so the next one overlaps it; it
// is answered while its process is still stopped (a stopped process cannot time out).
const PAUSED_REQUEST_MS = 2300;
const STOPPED_MS = 2700;
// The other replica's request (within its timeout) runs past the resume, so the resumed one has to
// wait for a lease.
const TAKER_REQUEST_MS = 1300;
// The heartbeat outlives the pause: this test is about the lane, not about reaping the paused one.
const HEARTBEAT_MS = 2000;

describe.runIf(redisTestsRun())('a fleet worker paused past its lane lease', () => {
  const lab = useFleetLab({ workbooks: { [A]: {} }, latency: { fixedMs: 2 }, seed: 16 });

  test('SIGSTOP then SIGCONT: the lease counts as lost, the request finishes, the next one waits', async () => {
    const env = {
      EMU_URL: lab.emulator.url,
      EMU_TOKEN: lab.emulator.token,
      REDIS_PORT: String(lab.redis.port),
      LEASE_TTL_MS: String(LEASE_TTL_MS),
      REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      HEARTBEAT_MS: String(HEARTBEAT_MS),
      REAP_MS: '100',
    };
    const [paused, taker] = await Promise.all([startLaneWorker(env), startLaneWorker(env)]);
    await Promise.all([paused.open(A), taker.open(A)]);

    const admin = await lab.redis.client();
    const leases = (): Promise<string[]> => admin.zrange(workbookKeys('wbs:', A).leases, 0, -1);
    const watch = watchInFlight(lab.emulator.service, A);
    lab.emulator.service.injectFault({ workbook: A, delayMs: PAUSED_REQUEST_MS, count: 1 });
    paused.send(`call ${A} paused`);
    await watch.until(1);
    const stoppedAt = Date.now();
    paused.child.process.kill('SIGSTOP');
    const heldWhenStopped = await leases();
    lab.emulator.service.injectFault({ workbook: A, delayMs: TAKER_REQUEST_MS, count: 1 });
    taker.send(`call ${A} taker`);
    await delay(stoppedAt + STOPPED_MS - Date.now());
    const heldBeforeResume = await leases();
    const takerAnsweredBeforeResume = taker.answered('taker');
    const overlapWhileStoppedMs = watch.overlapMs;
    const resumedAt = Date.now();
    paused.child.process.kill('SIGCONT');
    paused.send(`call ${A} next`);

    const [first, next, taken] = await Promise.all([
      paused.result('paused'),
      paused.result('next'),
      taker.result('taker'),
    ]);
    watch.stop();
    const pausedEnd = await paused.shutdown();
    const takerEnd = await taker.shutdown();
    const stats = lab.emulator.service.stats();
    console.log(
      JSON.stringify({
        leaseTtlMs: LEASE_TTL_MS,
        stoppedMs: resumedAt - stoppedAt,
        maxInFlightOnA: watch.max,
        overlapMs: watch.overlapMs,
        overlapWhileStoppedMs,
        maxInFlightAfterResume: watch.maxSince(resumedAt),
        pausedRequestMs: first.endedAt - first.startedAt,
        nextWaitedMs: next.endedAt - next.startedAt,
        takerWaitedMs: taken.endedAt - taken.startedAt,
        pausedRetries: pausedEnd.totals.retries,
        lostLeases: pausedEnd.lostLeases,
        leaseLostEvents: paused.lostLeases().length,
        requests: stats.requests,
      }),
    );

    // The paused replica's lease expired and the taker's took the lane while it was stopped.
    expect(heldWhenStopped).toHaveLength(1);
    expect(heldBeforeResume).toHaveLength(1);
    expect(heldBeforeResume).not.toEqual(heldWhenStopped);
    expect(takerAnsweredBeforeResume).toBe(false);
    expect(taken.ok).toBe(true);
    // The paused replica: its lease counted lost and told, its request finished all the same.
    expect(first).toMatchObject({ ok: true });
    expect(pausedEnd.lostLeases).toBeGreaterThanOrEqual(1);
    expect(paused.lostLeases()).toContain(`leaseLost ${A}`);
    // Its next request waited for a lease of its own: nothing of it ran beside the taker's.
    expect(next).toMatchObject({ ok: true });
    expect(next.endedAt).toBeGreaterThan(taken.endedAt);
    expect(watch.maxSince(resumedAt)).toBeLessThanOrEqual(1);
    // Everything closed at the end.
    expect(pausedEnd).toMatchObject({ code: 0, leftOpen: 0 });
    // It warns of the loss. Timers overdue at the resume may also cut off a Redis command its reaper or
    // journal had out (ioredis's command timeout fires before the answer is read): those say so, and
    // nothing else is warned.
    const lost = `workbook-sessions: a lane lease expired while its request ran {"workbook":"${A}"}`;
    const warnings = pausedEnd.stderr.trim().split('\n');
    expect(warnings).toContain(lost);
    const others = warnings.filter((line) => line !== lost);
    expect(
      others.every((line) => /(reaping orphaned|journal) .*failed .*Command timed out/.test(line)),
      others.join('\n'),
    ).toBe(true);
    expect(takerEnd).toMatchObject({ code: 0, leftOpen: 0, lostLeases: 0, stderr: '' });
    expect(stats).toMatchObject({ created: 2, closed: 2, open: 0 });
  }, 30_000);
});
