import { createBearerClient } from '../dist/index.js';
import { RANGE_PATH } from './call-overhead.js';
import { naiveCloseAll, naiveCreate } from './baselines/naive-close.js';
import { startEmulatorProcess, workbookPaths } from './emulator-process.js';
import { benchManager } from './manager.js';
import { inParallel, median, result, timed, type BenchResult } from './measure.js';
import { measureRoundTrip } from './round-trip.js';

export interface ThroughputConfig {
  readonly sessions: number;
  readonly workbooks: number;
  readonly latencyMs: number;
  readonly concurrency: number;
  /** Callers running `withSession` at once. */
  readonly callers: number;
  readonly rounds: number;
  /** Run one uncounted, smaller round of each first. */
  readonly warmup: boolean;
}

/** Sessions per second when each takes 3 requests (create, one call, close), one at a time per workbook. */
export function throughputIdeal(concurrency: number, workbooks: number, latencyMs: number): number {
  return (Math.min(concurrency, workbooks) / (3 * latencyMs)) * 1000;
}

/**
 * `open-close-throughput`: sessions opened, used once (a range GET) and closed per second, with
 * `callers` callers each running `withSession` one after another, at `latencyMs`. The ideal: the
 * global limit (or the number of lanes, if smaller) of requests every latency, 3 requests a session.
 */
export async function openCloseThroughput(config: ThroughputConfig): Promise<BenchResult[]> {
  const workbooks = workbookPaths(config.workbooks);
  const emulator = await startEmulatorProcess({ workbooks, latencyMs: config.latencyMs });
  try {
    const client = createBearerClient({ baseUrl: emulator.url, token: emulator.token });
    const rttMs = await measureRoundTrip(client, workbooks[0] as string);
    const ideal = throughputIdeal(config.concurrency, config.workbooks, config.latencyMs);
    const idealAtRtt = throughputIdeal(config.concurrency, config.workbooks, rttMs);
    const run = async (sessions: number): Promise<number> => {
      const manager = benchManager(client, { concurrency: config.concurrency });
      const ms = await timed(() =>
        inParallel(
          Array.from({ length: sessions }, (_, i) => workbooks[i % workbooks.length] as string),
          config.callers,
          (workbook) => manager.withSession(workbook, (book) => book.api(RANGE_PATH).get()),
        ),
      );
      await manager.shutdown();
      return (sessions / ms) * 1000;
    };
    // No library: `concurrency` loops of bare create, GET, close. What this machine, client and
    // emulator allow at that concurrency, apart from our scheduling.
    const bare = async (sessions: number): Promise<number> => {
      const ms = await timed(() =>
        inParallel(
          Array.from({ length: sessions }, (_, i) => workbooks[i % workbooks.length] as string),
          config.concurrency,
          async (workbook) => {
            const { id } = await naiveCreate(client, workbook);
            await client.api(`${workbook}/workbook${RANGE_PATH}`).header('workbook-session-id', id).get();
            await naiveCloseAll(client, [{ workbook, id }]);
          },
        ),
      );
      return (sessions / ms) * 1000;
    };
    if (config.warmup) {
      await run(Math.min(config.sessions, 100));
      await bare(Math.min(config.sessions, 100));
    }
    const rates: number[] = [];
    const bareRates: number[] = [];
    for (let round = 0; round < config.rounds; round++) {
      if (round % 2 === 0) {
        rates.push(await run(config.sessions));
        bareRates.push(await bare(config.sessions));
      } else {
        bareRates.push(await bare(config.sessions));
        rates.push(await run(config.sessions));
      }
    }
    const stats = await emulator.stats();
    return [
      result({
        name: 'open-close-throughput',
        value: median(rates),
        unit: 'sessions/s',
        baseline: ideal,
        ratios: rates.map((r) => r / ideal),
        better: 'higher',
        extra: {
          sessions: config.sessions,
          workbooks: config.workbooks,
          latencyMs: config.latencyMs,
          concurrency: config.concurrency,
          callers: config.callers,
          rttMs: Number(rttMs.toFixed(2)),
          idealAtRtt: Number(idealAtRtt.toFixed(1)),
          ratioAtRtt: Number((median(rates) / idealAtRtt).toFixed(3)),
          bareParallelRate: Number(median(bareRates).toFixed(1)),
          ratioToBareParallel: Number(median(rates.map((r, i) => r / (bareRates[i] as number))).toFixed(3)),
          serverOpen: stats.open,
          maxInFlightPerWorkbook: stats.maxInFlightPerWorkbook,
        },
      }),
    ];
  } finally {
    await emulator.close();
  }
}
