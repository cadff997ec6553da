import { setTimeout as delay } from 'node:timers/promises';
import type { FleetLab } from './fleet-lab.js';
import { sharedNow } from './fleet-redis.js';
import { median, result, type BenchResult } from './measure.js';

export interface FleetKillConfig {
  readonly rounds: number;
  readonly workbooks: number;
  /** Sessions the killed worker holds on each workbook. */
  readonly sessions: number;
  readonly heartbeatMs: number;
  readonly reapIntervalMs: number;
  readonly latencyMs: number;
}

/**
 * `fleet-kill-reap`: a worker holding sessions (its journal a RedisSessionStore) is SIGKILLed; a
 * survivor's reaper closes them once the dead owner's heartbeat has expired. Timed from the kill
 * to the last orphan closed on the emulator, next to `heartbeatTtlMs + reapIntervalMs`, the most a
 * survivor may take to see the owner dead (its heartbeat was renewed up to `heartbeatMs` before the
 * kill and lasts `heartbeatTtlMs`) and start its next pass. `closeFloorMs` adds the closes, one at
 * a time per workbook.
 */
export async function fleetKillReap(lab: FleetLab, config: FleetKillConfig): Promise<BenchResult[]> {
  const workbooks = lab.workbooks(config.workbooks);
  const heartbeatTtlMs = 3 * config.heartbeatMs;
  const bound = heartbeatTtlMs + config.reapIntervalMs;
  const closeFloorMs = config.sessions * config.latencyMs;
  const orphans = config.workbooks * config.sessions;
  const { emulator } = lab;
  await emulator.setLatency(config.latencyMs);
  const journal = { op: 'journal', heartbeatMs: config.heartbeatMs, reapIntervalMs: config.reapIntervalMs } as const;
  const [survivor] = await lab.workers(1);
  if (survivor === undefined) throw new Error('the fleet lab started no worker');
  await survivor.run(journal);
  // A survivor with a session of its own, as a replica at work would have.
  await survivor.run({ op: 'hold', workbooks: workbooks.slice(0, 1), sessions: 1 });
  const times: number[] = [];
  const left: number[] = [];
  for (let r = 0; r < config.rounds; r++) {
    const victim = await lab.spareWorker();
    await victim.run(journal);
    await victim.run({ op: 'hold', workbooks, sessions: config.sessions });
    // Killed at a random point of its heartbeat, after a few of them.
    await delay(3 * config.heartbeatMs + Math.random() * config.heartbeatMs);
    const closedBefore = (await emulator.stats()).closed;
    const killedAt = sharedNow();
    await victim.kill();
    let closed = 0;
    while (closed < orphans && sharedNow() - killedAt < 30_000) {
      await delay(2);
      closed = (await emulator.stats()).closed - closedBefore;
    }
    times.push(sharedNow() - killedAt);
    left.push(orphans - closed);
  }
  return [
    result({
      name: 'fleet-kill-reap',
      value: median(times),
      unit: 'ms',
      baseline: bound,
      ratios: times.map((ms) => ms / bound),
      better: 'lower',
      extra: {
        orphans,
        orphansLeft: Math.max(...left),
        byRoundMs: times.map((ms) => Math.round(ms)),
        heartbeatMs: config.heartbeatMs,
        heartbeatTtlMs,
        reapIntervalMs: config.reapIntervalMs,
        closeFloorMs,
        goal: `<= ttl + reap + closes (${bound + closeFloorMs} ms)`,
        goalMet: Math.max(...times) <= bound + closeFloorMs,
        note:
          'SIGKILL of a worker holding sessions (journal in Redis) to the last of them closed by a ' +
          "survivor's reaper; baseline is heartbeatTtlMs + reapIntervalMs",
      },
    }),
  ];
}
