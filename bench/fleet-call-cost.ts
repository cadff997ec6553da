import { createBearerClient } from '../dist/index.js';
import { alternate, RANGE_PATH, type CallConfig } from './call-overhead.js';
import type { FleetLab } from './fleet-lab.js';
import { fleetRedis, redisRoundTrip } from './fleet-redis.js';
import { benchManager } from './manager.js';
import { median, result, round, type BenchResult } from './measure.js';

/** The target: a Redis lane adds under this much to a call on loopback. */
const ADDED_TARGET_MS = 0.3;

/**
 * `fleet-call-cost`: one call through a handle of a manager in fleet mode (its lane a lease taken
 * from Redis and given back, two scripts per call) versus the same call through a manager with
 * local lanes, on one emulator at zero latency, alternated round by round in this process. The
 * figure that matters is the difference, `addedMs`, next to one Redis round trip (`redisRttMs`).
 */
export async function fleetCallCost(lab: FleetLab, config: CallConfig): Promise<BenchResult[]> {
  const workbook = lab.workbooks(1)[0] as string;
  const { emulator } = lab;
  await emulator.setLatency(0);
  const redis = await fleetRedis(lab.redis.port);
  const client = createBearerClient({ baseUrl: emulator.url, token: emulator.token });
  const fleet = benchManager(client, { fleet: { redis } });
  const local = benchManager(client);
  try {
    const fleetBook = await fleet.open(workbook);
    const localBook = await local.open(workbook);
    const { oursUs, bareUs } = await alternate(
      config,
      () => fleetBook.api(RANGE_PATH).get(),
      () => localBook.api(RANGE_PATH).get(),
    );
    const rttMs = await redisRoundTrip(redis);
    const addedMs = (median(oursUs) - median(bareUs)) / 1000;
    return [
      result({
        name: 'fleet-call-cost',
        value: median(oursUs),
        unit: 'us/call',
        baseline: median(bareUs),
        ratios: oursUs.map((us, i) => us / (bareUs[i] as number)),
        better: 'lower',
        extra: {
          calls: config.calls,
          addedMs: round(addedMs, 3),
          addedByRoundMs: oursUs.map((us, i) => round((us - (bareUs[i] as number)) / 1000, 3)),
          goal: `+< ${ADDED_TARGET_MS} ms/call`,
          goalMet: addedMs < ADDED_TARGET_MS,
          redisRttMs: round(rttMs, 3),
          lostLeases: fleet.stats().lostLeases,
          note:
            'a call through a fleet-mode handle (lease taken from and given back to a redis-server on ' +
            'loopback) vs a local-lane handle, the emulator child at 0 ms latency; baseline is the local call',
        },
      }),
    ];
  } finally {
    await Promise.all([fleet.shutdown(), local.shutdown()]);
    redis.disconnect();
  }
}
