// A replica SIGKILLed while it holds a workbook's lane lease, its request still at the server: the
// lease is nobody's to give back, so the lane is held until it expires. Another replica waiting on
// that workbook gets the lane no later than the lease's TTL, and its reaper closes the dead
// replica's sessions once the heartbeat has expired. Real processes: the emulator here, one
// redis-server, two workers. The stall and the time to the orphans closed are measured and printed,
// and asserted loosely.
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { useFleetLab } from '../helpers/fleet-lab.js';
import { redisTestsRun } from '../helpers/redis-server.js';
import { startLaneWorker, watchInFlight } from './lane-workers.js';

const A = '/me/drive/items/A';
const B = '/me/drive/items/B';
const LEASE_TTL_MS = 1000;
const REQUEST_TIMEOUT_MS = 800;
// The victim's request: at the server for most of the request timeout, so the kill lands mid-request.
const SLOW_MS = 700;
const HEARTBEAT_MS = 100;
const REAP_MS = 100;
// Loose: a loaded 2-core machine runs this beside other suites.
const MARGIN_MS = 2000;

describe.runIf(redisTestsRun())('a fleet worker killed mid-request, holding a lane lease', () => {
  const lab = useFleetLab({ workbooks: { [A]: {}, [B]: {} }, latency: { fixedMs: 2 }, seed: 16 });

  test("a waiting replica gets the lane within the lease TTL, and reaps the dead one's sessions", async () => {
    const env = {
      EMU_URL: lab.emulator.url,
      EMU_TOKEN: lab.emulator.token,
      REDIS_PORT: String(lab.redis.port),
      LEASE_TTL_MS: String(LEASE_TTL_MS),
      REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      HEARTBEAT_MS: String(HEARTBEAT_MS),
      REAP_MS: String(REAP_MS),
    };
    const [survivor, victim] = await Promise.all([startLaneWorker(env), startLaneWorker(env)]);
    await Promise.all([survivor.open(A), victim.open(A), victim.open(B)]);
    expect(lab.emulator.service.stats()).toMatchObject({ created: 3, open: 3 });

    const watch = watchInFlight(lab.emulator.service, A);
    lab.emulator.service.injectFault({ workbook: A, delayMs: SLOW_MS, count: 1 });
    victim.send(`call ${A} slow`);
    await watch.until(1);
    // The survivor asks for the same lane while the victim's request is at the server.
    survivor.send(`call ${A} waiting`);
    await delay(50);
    const heldAtKill = !survivor.answered('waiting');
    const killedAt = Date.now();
    await victim.child.kill();

    const waited = await survivor.result('waiting');
    const stallMs = waited.endedAt - killedAt;
    let stats = lab.emulator.service.stats();
    while (stats.closed < 2 && Date.now() - killedAt < 30_000) {
      await delay(5);
      stats = lab.emulator.service.stats();
    }
    const killToClosedMs = Date.now() - killedAt;
    const closesAfterKillMs = lab.emulator.service
      .events()
      .filter((e) => e.type === 'close')
      .map((e) => Math.round(e.at - killedAt));
    watch.stop();
    console.log(
      JSON.stringify({
        stallMs,
        survivorWaitMs: waited.endedAt - waited.startedAt,
        leaseTtlMs: LEASE_TTL_MS,
        killToClosedMs,
        closesAfterKillMs,
        heartbeatTtlMs: 3 * HEARTBEAT_MS,
        reapIntervalMs: REAP_MS,
        maxInFlightOnA: watch.max,
        maxInFlightPerWorkbook: stats.maxInFlightPerWorkbook,
      }),
    );

    // The lane really was held by the dead lease, then passed on no later than its TTL (plus margin).
    expect(heldAtKill).toBe(true);
    expect(waited.ok).toBe(true);
    expect(stallMs).toBeGreaterThan(0);
    expect(stallMs).toBeLessThanOrEqual(LEASE_TTL_MS + MARGIN_MS);
    // Both of the victim's sessions closed, once, by the survivor; the survivor's own still open.
    expect(stats).toMatchObject({ created: 3, closed: 2, open: 1, expired: 0 });
    // Heartbeat TTL + reaper interval + the closes, the one on A waiting out the same dead lease.
    expect(killToClosedMs).toBeLessThanOrEqual(3 * HEARTBEAT_MS + REAP_MS + LEASE_TTL_MS + MARGIN_MS);

    const end = await survivor.shutdown();
    expect(end).toMatchObject({ code: 0, leftOpen: 0, stderr: '' });
    expect(lab.emulator.service.stats()).toMatchObject({ created: 3, closed: 3, open: 0 });
  }, 30_000);
});
