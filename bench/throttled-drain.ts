import { createBearerClient } from '../dist/index.js';
import { startEmulatorProcess, workbookPaths } from './emulator-process.js';
import { benchManager, openSpread } from './manager.js';
import { median, result, settle, timed, type BenchResult } from './measure.js';
import { drainIdealMs, type DrainConfig } from './shutdown-drain.js';

export interface ThrottledConfig extends DrainConfig {
  /** Share of closeSession requests answered 429. */
  readonly throttleRate: number;
  readonly retryAfterSeconds: number;
}

/**
 * `throttled-drain`: the shutdown drain with a share of closes answered 429 `Retry-After`. The issue's
 * ideal is the plain drain's plus one cooldown. A 429 pauses its workbook for the whole cooldown, so
 * a lane that draws k of them cannot finish before k cooldowns; `laneBoundMs` is that floor, computed
 * from the 429s this run actually drew (counted from the manager's `retried` events).
 */
export async function throttledDrain(config: ThrottledConfig): Promise<BenchResult[]> {
  const workbooks = workbookPaths(config.workbooks);
  const emulator = await startEmulatorProcess({ workbooks, latencyMs: 0 });
  try {
    const client = createBearerClient({ baseUrl: emulator.url, token: emulator.token });
    const perWorkbook = Math.ceil(config.sessions / config.workbooks);
    const cooldownMs = config.retryAfterSeconds * 1000;
    const ideal = drainIdealMs(config.sessions, perWorkbook, config.concurrency, config.latencyMs) + cooldownMs;
    const times: number[] = [];
    const laneBounds: number[] = [];
    const leftOpen: number[] = [];
    const serverOpen: number[] = [];
    const closeFailures: number[] = [];
    let throttled = 0;
    let cooldownViolations = 0;
    let maxInFlight = 0;
    for (let round = 0; round < config.rounds; round++) {
      await emulator.setFaults(undefined);
      await emulator.setLatency(0);
      const openBefore = (await emulator.stats()).open;
      const manager = benchManager(client, { concurrency: config.concurrency });
      await openSpread(manager, workbooks, config.sessions);
      const retriesByWorkbook = new Map<string, number>();
      manager.on('retried', (event) => {
        retriesByWorkbook.set(event.workbook, (retriesByWorkbook.get(event.workbook) ?? 0) + 1);
      });
      await emulator.setLatency(config.latencyMs);
      await emulator.setFaults({
        rate: config.throttleRate,
        kinds: ['429'],
        retryAfterSeconds: config.retryAfterSeconds,
        routes: ['closeSession'],
      });
      await emulator.resetStats();
      await settle();
      let report: Awaited<ReturnType<typeof manager.shutdown>> | undefined;
      times.push(await timed(async () => (report = await manager.shutdown({ timeoutMs: 120_000 }))));
      const stats = await emulator.stats();
      leftOpen.push(report?.leftOpen ?? NaN);
      serverOpen.push(stats.open - openBefore);
      closeFailures.push(manager.stats().totals.closeFailures);
      throttled += stats.faultsInjected;
      cooldownViolations += stats.cooldownViolations;
      maxInFlight = Math.max(maxInFlight, stats.maxInFlightPerWorkbook);
      let lane = (stats.requests / config.concurrency) * config.latencyMs;
      for (const workbook of workbooks) {
        const retries = retriesByWorkbook.get(workbook) ?? 0;
        lane = Math.max(lane, (perWorkbook + retries) * config.latencyMs + retries * cooldownMs);
      }
      laneBounds.push(lane);
    }
    return [
      result({
        name: 'throttled-drain',
        value: median(times),
        unit: 'ms',
        baseline: ideal,
        ratios: times.map((ms) => ms / ideal),
        better: 'lower',
        extra: {
          sessions: config.sessions,
          workbooks: config.workbooks,
          latencyMs: config.latencyMs,
          concurrency: config.concurrency,
          throttleRate: config.throttleRate,
          throttledPerRound: Math.round(throttled / config.rounds),
          laneBoundMs: Math.round(median(laneBounds)),
          ratioToLaneBound: Number(median(times.map((ms, i) => ms / (laneBounds[i] as number))).toFixed(3)),
          leftOpen: Math.max(...leftOpen),
          serverOpen: Math.max(...serverOpen),
          leftOpenMet: Math.max(...leftOpen, ...serverOpen) === 0,
          leftOpenByRound: leftOpen,
          serverOpenByRound: serverOpen,
          closeFailuresByRound: closeFailures,
          cooldownViolations,
          maxInFlightPerWorkbook: maxInFlight,
        },
      }),
    ];
  } finally {
    await emulator.close();
  }
}
