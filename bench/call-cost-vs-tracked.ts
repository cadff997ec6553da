import type { WorkbookSession } from '../dist/index.js';
import { alternate, perCall, RANGE_PATH, type CallConfig } from './call-overhead.js';
import { workbookPaths } from './emulator-process.js';
import { inMemoryClient } from './in-memory-graph.js';
import { benchManager } from './manager.js';
import { median, result, type BenchResult } from './measure.js';
import { memoryPerSession, type TrackedConfig } from './memory-per-session.js';

/** Calls that go round `handles`, one after another. */
function roundRobin(handles: readonly WorkbookSession[]): () => Promise<unknown> {
  let next = 0;
  return () => (handles[next++ % handles.length] as WorkbookSession).api(RANGE_PATH).get();
}

/**
 * `memory-per-session` and `call-cost-vs-tracked`, in-process (see in-memory-graph.ts): a small
 * manager tracks 10 sessions, a big one `config.sessions`; calls on each (round-robin over 10 of its
 * sessions) are alternated round by round, in one heap. `callUsBeforeGrowth` is the small manager's
 * cost measured before the big one existed, so the effect of a large heap shows too.
 */
export async function trackedSessions(config: TrackedConfig & CallConfig): Promise<BenchResult[]> {
  const { client } = inMemoryClient();
  const small = benchManager(client);
  const smallHandles = await Promise.all(workbookPaths(10, 'FEW').map((w) => small.open(w)));
  // Warmed up and over the same rounds as the comparison, so it differs from it only in heap size.
  const beforeGrowth = median((await alternate(config, roundRobin(smallHandles), roundRobin(smallHandles))).oursUs);

  const big = benchManager(client);
  const memory = await memoryPerSession(big, config);
  const step = Math.floor(config.sessions / 10);
  const bigHandles = Array.from({ length: 10 }, (_, i) => memory.handles[i * step] as WorkbookSession);
  // The big manager's sessions stay open until the process ends: closing 100,000 takes seconds.
  await perCall(config.warmup, roundRobin(bigHandles));
  const { oursUs: bigUs, bareUs: smallUs } = await alternate(config, roundRobin(bigHandles), roundRobin(smallHandles));
  await small.shutdown();
  return [
    memory.result,
    result({
      name: 'call-cost-vs-tracked',
      value: median(bigUs),
      unit: 'us/call',
      baseline: median(smallUs),
      ratios: bigUs.map((us, i) => us / (smallUs[i] as number)),
      better: 'lower',
      target: 1.2,
      extra: {
        tracked: config.sessions,
        baselineTracked: 10,
        calls: config.calls,
        transport: 'in-process',
        callUsBeforeGrowth: Math.round(beforeGrowth * 10) / 10,
        ratioToBeforeGrowth: Math.round((median(bigUs) / beforeGrowth) * 1000) / 1000,
      },
    }),
  ];
}
