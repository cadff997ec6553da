import type { FleetLab } from './fleet-lab.js';
import { quantile } from './fleet-redis.js';
import type { CallTimes, Lanes, RequestTimes } from './fleet-worker.js';
import type { FleetWorker } from './fleet-workers.js';
import { median, result, round, settle, type BenchResult } from './measure.js';

export interface FleetHandoffConfig {
  /** Hand-offs timed per round, for each side. */
  readonly samples: number;
  readonly rounds: number;
  /** The emulator's latency: how long the first request holds the lane while the second waits. */
  readonly latencyMs: number;
  /** Pairs of calls before the first timed one. */
  readonly warmup: number;
}

/** The target for the median hand-off between processes. */
const TARGET_MS = 2;

/** A sample counts only if the waiter called this long before the holder's answer came back. */
const WAITING_MARGIN_MS = 5;

/**
 * `fleet-handoff`: how long a workbook's lane takes to pass from one process to another. Worker A
 * sends a request on a workbook; once it has left, worker B calls on the same workbook and waits for
 * the lane (its lease taken on Redis is refused, it subscribes). The hand-off is from A's answer
 * arriving (A then gives its lease back, which publishes) to B's request leaving (B woken, its lease
 * taken), both timed on the clock the processes share. Baseline: the same hand-off between two calls
 * in one process with local lanes; `inProcessFleetMs` is two calls in one process in fleet mode.
 */
export async function fleetHandoff(lab: FleetLab, config: FleetHandoffConfig): Promise<BenchResult[]> {
  const workbook = lab.workbooks(1)[0] as string;
  const { emulator } = lab;
  await emulator.setLatency(0);
  const workers = await lab.workers(2);
  await Promise.all(workers.map((worker) => worker.run({ op: 'open', workbook })));
  const [first, second] = workers as [FleetWorker, FleetWorker];
  const redisRttMs = await first.run<number>({ op: 'ping' });
  for (let i = 0; i < config.warmup; i++) await first.run({ op: 'pair', lanes: 'fleet' });
  await emulator.setLatency(config.latencyMs);

  let discarded = 0;
  /** One hand-off from `holder` to `waiter`, or undefined when the waiter came too late to wait. */
  const across = async (holder: FleetWorker, waiter: FleetWorker): Promise<number | undefined> => {
    const sent = holder.nextEvent('sent');
    const held = holder.run<CallTimes>({ op: 'call', lanes: 'fleet' });
    await sent;
    const [a, b] = await Promise.all([held, waiter.run<CallTimes>({ op: 'call', lanes: 'fleet' })]);
    if (b.calledAt > a.inAt - WAITING_MARGIN_MS) {
      discarded++;
      return undefined;
    }
    return b.outAt - a.inAt;
  };
  const within = async (worker: FleetWorker, lanes: Lanes): Promise<number> => {
    const [a, b] = await worker.run<RequestTimes[]>({ op: 'pair', lanes });
    if (a === undefined || b === undefined) throw new Error('a pair of calls sent fewer than two requests');
    return b.outAt - a.inAt;
  };

  const fleet: number[][] = [];
  const local: number[][] = [];
  const inProcessFleet: number[] = [];
  for (let r = 0; r < config.rounds; r++) {
    const fleetRound: number[] = [];
    const localRound: number[] = [];
    for (let i = 0; i < config.samples; i++) {
      // Roles swap each time, so that neither process is always the one woken.
      const [holder, waiter] = i % 2 === 0 ? [first, second] : [second, first];
      const ms = await across(holder, waiter);
      if (ms !== undefined) fleetRound.push(ms);
      localRound.push(await within(holder, 'local'));
      if (i % 4 === 0) inProcessFleet.push(await within(waiter, 'fleet'));
      await settle(5);
    }
    fleet.push(fleetRound);
    local.push(localRound);
  }
  const fleetAll = fleet.flat();
  const localAll = local.flat();
  const medianMs = median(fleetAll);
  return [
    result({
      name: 'fleet-handoff',
      value: medianMs,
      unit: 'ms',
      baseline: median(localAll),
      ratios: fleet.map((samples, i) => median(samples) / median(local[i] as number[])),
      better: 'lower',
      extra: {
        samples: fleetAll.length,
        discarded,
        p95Ms: round(quantile(fleetAll, 0.95), 3),
        maxMs: round(Math.max(...fleetAll), 3),
        localP95Ms: round(quantile(localAll, 0.95), 3),
        inProcessFleetMs: round(median(inProcessFleet), 3),
        redisRttMs: round(redisRttMs, 3),
        goal: `median <= ${TARGET_MS} ms`,
        goalMet: medianMs <= TARGET_MS,
        latencyMs: config.latencyMs,
        note:
          "from process A's answer arriving to process B's request leaving, B waiting on the workbook's " +
          'lane on a redis-server; baseline: the same between two calls in one process with local lanes',
      },
    }),
  ];
}
