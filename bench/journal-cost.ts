import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createBearerClient, SessionJournal } from '../dist/index.js';
import { alternate, RANGE_PATH, type CallConfig } from './call-overhead.js';
import { startEmulatorProcess, workbookPaths } from './emulator-process.js';
import { benchManager } from './manager.js';
import { median, result, type BenchResult } from './measure.js';

export interface JournalConfig extends CallConfig {
  /** record+remove pairs per round, and open+close pairs per round. */
  readonly pairs: number;
  readonly latencyMs: number;
}

/**
 * The journal's cost (issue 8): `journal-record-remove`, one record+remove pair written straight to a
 * `SessionJournal` (each line is flushed with fdatasync), against the create+close round trips it
 * rides on; `journal-open-close`, open+close of one session through the manager at `latencyMs`,
 * journal on vs off; `journal-call-overhead`, a call at zero latency, journal on vs off (a call
 * writes nothing, so this should be 1).
 */
export async function journalCost(config: JournalConfig): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'wbs-bench-journal-'));
  const workbooks = workbookPaths(1);
  const emulator = await startEmulatorProcess({ workbooks, latencyMs: config.latencyMs });
  const workbook = workbooks[0] as string;
  try {
    const client = createBearerClient({ baseUrl: emulator.url, token: emulator.token });

    // Raw record+remove pairs.
    const journal = new SessionJournal({ path: join(dir, 'raw') + '/' });
    const pairMs: number[] = [];
    let serial = 0;
    const pairs = async (): Promise<number> => {
      const start = performance.now();
      for (let i = 0; i < config.pairs; i++) {
        const id = `bench-session-${++serial}`;
        await journal.record({ workbook, id, persistChanges: true, createdAt: Date.now() });
        await journal.remove(id);
      }
      return (performance.now() - start) / config.pairs;
    };
    await pairs();

    // open+close through the manager, journal on and off, alternated.
    const withJournal = benchManager(client, { journal: { path: join(dir, 'manager') + '/' } });
    const without = benchManager(client);
    const openClose = async (manager: typeof without): Promise<number> => {
      const start = performance.now();
      for (let i = 0; i < config.pairs; i++) await (await manager.open(workbook)).close();
      return (performance.now() - start) / config.pairs;
    };
    await openClose(withJournal);
    await openClose(without);
    const onMs: number[] = [];
    const offMs: number[] = [];
    for (let round = 0; round < config.rounds; round++) {
      pairMs.push(await pairs());
      if (round % 2 === 0) {
        onMs.push(await openClose(withJournal));
        offMs.push(await openClose(without));
      } else {
        offMs.push(await openClose(without));
        onMs.push(await openClose(withJournal));
      }
    }

    // A call, journal on vs off, at zero latency.
    await emulator.setLatency(0);
    const bookOn = await withJournal.open(workbook);
    const bookOff = await without.open(workbook);
    const calls = await alternate(
      config,
      () => bookOn.api(RANGE_PATH).get(),
      () => bookOff.api(RANGE_PATH).get(),
    );
    await Promise.all([withJournal.shutdown(), without.shutdown(), journal.close()]);

    const common = { latencyMs: config.latencyMs, journalDir: tmpdir() };
    return [
      result({
        name: 'journal-record-remove',
        value: median(pairMs),
        unit: 'ms/pair',
        baseline: median(offMs),
        ratios: pairMs.map((ms, i) => ms / (offMs[i] as number)),
        better: 'lower',
        extra: {
          ...common,
          pairs: config.pairs,
          note: 'baseline: open+close of a session without journal at the latency',
        },
      }),
      result({
        name: 'journal-open-close',
        value: median(onMs),
        unit: 'ms/session',
        baseline: median(offMs),
        ratios: onMs.map((ms, i) => ms / (offMs[i] as number)),
        better: 'lower',
        extra: { ...common, pairs: config.pairs, addedMs: Number((median(onMs) - median(offMs)).toFixed(2)) },
      }),
      result({
        name: 'journal-call-overhead',
        value: median(calls.oursUs),
        unit: 'us/call',
        baseline: median(calls.bareUs),
        ratios: calls.oursUs.map((us, i) => us / (calls.bareUs[i] as number)),
        better: 'lower',
        extra: { calls: config.calls, transport: 'http', latencyMs: 0 },
      }),
    ];
  } finally {
    await emulator.close();
    await rm(dir, { recursive: true, force: true });
  }
}
