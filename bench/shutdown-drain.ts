import { createBearerClient } from '../dist/index.js';
import { naiveCloseAll, naiveCreate, type OpenSessionRef } from './baselines/naive-close.js';
import { startEmulatorProcess, workbookPaths, type EmulatorProcess } from './emulator-process.js';
import { benchManager, openSpread } from './manager.js';
import { inParallel, median, result, round, settle, timed, type BenchResult } from './measure.js';
import { measureRoundTrip } from './round-trip.js';

export interface DrainConfig {
  readonly sessions: number;
  readonly workbooks: number;
  readonly latencyMs: number;
  readonly concurrency: number;
  readonly rounds: number;
  /** Run one uncounted drain of each kind first. */
  readonly warmup: boolean;
}

/** The ideal: the global limit's bound or the one-request-per-workbook bound, whichever is larger. */
export function drainIdealMs(requests: number, perWorkbook: number, concurrency: number, latencyMs: number): number {
  return Math.max((requests / concurrency) * latencyMs, perWorkbook * latencyMs);
}

interface Drain {
  readonly ms: number;
  readonly cpuMs: number;
  readonly emulatorCpuMs: number;
  readonly serverOpen: number;
  readonly leftOpen: number;
  readonly maxInFlight: number;
}

/** Times `close` (the sessions are already open), with the CPU this process and the emulator spent. */
async function measureDrain(
  emulator: EmulatorProcess,
  latencyMs: number,
  close: () => Promise<number>,
): Promise<Drain> {
  await emulator.setLatency(latencyMs);
  await emulator.resetStats();
  await settle();
  const emulatorCpu = await emulator.cpuMs();
  const cpu = process.cpuUsage();
  let leftOpen = 0;
  const ms = await timed(async () => (leftOpen = await close()));
  const used = process.cpuUsage(cpu);
  const emulatorCpuMs = (await emulator.cpuMs()) - emulatorCpu;
  const stats = await emulator.stats();
  return {
    ms,
    cpuMs: (used.user + used.system) / 1000,
    emulatorCpuMs,
    serverOpen: stats.open,
    leftOpen,
    maxInFlight: stats.maxInFlightPerWorkbook,
  };
}

/**
 * `shutdown-drain` and `shutdown-vs-naive`: `sessions` open sessions on `workbooks` workbooks are
 * closed by `shutdown()`, and by the naive loop of awaited closeSession calls (baselines/), round by
 * round, the order rotating. A third contender, `bareParallel`, is no library at all: `concurrency`
 * loops of bare closeSession calls over a list interleaved by workbook. It shows what this machine,
 * client and emulator allow at that concurrency, apart from anything our scheduling adds.
 * Sessions are opened at zero latency; only the closing runs at `latencyMs`.
 */
export async function shutdownDrain(config: DrainConfig): Promise<BenchResult[]> {
  const workbooks = workbookPaths(config.workbooks);
  const emulator = await startEmulatorProcess({ workbooks, latencyMs: config.latencyMs });
  try {
    const client = createBearerClient({ baseUrl: emulator.url, token: emulator.token });
    const rttMs = await measureRoundTrip(client, workbooks[0] as string);
    const perWorkbook = Math.ceil(config.sessions / config.workbooks);
    const ideal = drainIdealMs(config.sessions, perWorkbook, config.concurrency, config.latencyMs);
    const idealAtRtt = drainIdealMs(config.sessions, perWorkbook, config.concurrency, rttMs);

    const openBare = async (sessions: number): Promise<OpenSessionRef[]> => {
      await emulator.setLatency(0);
      const refs: OpenSessionRef[] = new Array<OpenSessionRef>(sessions);
      await inParallel(
        Array.from({ length: sessions }, (_, i) => i),
        config.concurrency,
        async (i) => {
          refs[i] = await naiveCreate(client, workbooks[i % workbooks.length] as string);
        },
      );
      return refs;
    };
    const contenders = {
      ours: async (sessions = config.sessions): Promise<Drain> => {
        await emulator.setLatency(0);
        const manager = benchManager(client, { concurrency: config.concurrency });
        await openSpread(manager, workbooks, sessions);
        return measureDrain(
          emulator,
          config.latencyMs,
          async () => (await manager.shutdown({ timeoutMs: 120_000 })).leftOpen,
        );
      },
      naive: async (sessions = config.sessions): Promise<Drain> => {
        const refs = await openBare(sessions);
        return measureDrain(emulator, config.latencyMs, async () => {
          await naiveCloseAll(client, refs);
          return 0;
        });
      },
      bareParallel: async (sessions = config.sessions): Promise<Drain> => {
        const refs = await openBare(sessions);
        return measureDrain(emulator, config.latencyMs, async () => {
          await inParallel(refs, config.concurrency, (ref) => naiveCloseAll(client, [ref]));
          return 0;
        });
      },
    };
    type Name = keyof typeof contenders;
    const names = Object.keys(contenders) as Name[];

    // Warm-up, not counted: the first drains in a fresh process run cold code and are up to twice as slow.
    if (config.warmup) {
      await contenders.ours();
      await contenders.bareParallel();
      await contenders.naive(Math.min(config.sessions, 50));
    }

    const runs: Record<Name, Drain[]> = { ours: [], naive: [], bareParallel: [] };
    for (let r = 0; r < config.rounds; r++) {
      // Rotate the order, so a drift in the machine's speed falls on every contender.
      for (let k = 0; k < names.length; k++) {
        const name = names[(r + k) % names.length] as Name;
        runs[name].push(await contenders[name]());
      }
    }
    const ms = (name: Name): number[] => runs[name].map((d) => d.ms);
    const ours = ms('ours');
    const common = {
      sessions: config.sessions,
      workbooks: config.workbooks,
      latencyMs: config.latencyMs,
      concurrency: config.concurrency,
      rttMs: round(rttMs),
    };
    return [
      result({
        name: 'shutdown-drain',
        value: median(ours),
        unit: 'ms',
        baseline: ideal,
        ratios: ours.map((t) => t / ideal),
        better: 'lower',
        target: 1.15,
        extra: {
          ...common,
          roundsMs: ours.map((t) => Math.round(t)),
          idealAtRttMs: round(idealAtRtt, 1),
          ratioAtRtt: round(median(ours) / idealAtRtt, 3),
          bareParallelMs: Math.round(median(ms('bareParallel'))),
          ratioToBareParallel: round(median(ours.map((t, i) => t / (ms('bareParallel')[i] as number))), 3),
          cpuMs: Math.round(median(runs.ours.map((d) => d.cpuMs))),
          bareParallelCpuMs: Math.round(median(runs.bareParallel.map((d) => d.cpuMs))),
          emulatorCpuMs: Math.round(median(runs.ours.map((d) => d.emulatorCpuMs))),
          leftOpen: Math.max(...runs.ours.map((d) => d.leftOpen)),
          serverOpen: Math.max(
            ...Object.values(runs)
              .flat()
              .map((d) => d.serverOpen),
          ),
          maxInFlightPerWorkbook: Math.max(...runs.ours.map((d) => d.maxInFlight)),
        },
      }),
      result({
        name: 'shutdown-vs-naive',
        value: median(ours),
        unit: 'ms',
        baseline: median(ms('naive')),
        ratios: ms('naive').map((t, i) => t / (ours[i] as number)),
        better: 'higher',
        target: 10,
        extra: {
          ...common,
          naiveRoundsMs: ms('naive').map((t) => Math.round(t)),
          naivePerCloseMs: round(median(ms('naive')) / config.sessions),
        },
      }),
    ];
  } finally {
    await emulator.close();
  }
}
