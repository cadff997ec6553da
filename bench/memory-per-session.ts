import type { SessionManager, WorkbookSession } from '../dist/index.js';
import { workbookPaths } from './emulator-process.js';
import { collectGarbage, result, type BenchResult } from './measure.js';

export interface TrackedConfig {
  /** Sessions the big manager tracks. */
  readonly sessions: number;
  /** Sessions per workbook (Graph's unofficial cap is about 25). */
  readonly perWorkbook: number;
}

/**
 * Opens `config.sessions` sessions on `manager` (in batches of 1,000 opens at once) and returns
 * `memory-per-session`: the heap growth after full collections, divided by the sessions. The
 * manager's client must answer in-process (see in-memory-graph.ts): 100,000 creates over HTTP to
 * the emulator are too slow (its registry walks every session it ever made on each request).
 */
export async function memoryPerSession(
  manager: SessionManager,
  config: TrackedConfig,
): Promise<{ result: BenchResult; handles: WorkbookSession[] }> {
  const workbooks = workbookPaths(Math.ceil(config.sessions / config.perWorkbook), 'MANY');
  // Kept by the caller to make calls on; filled before the first heap reading, so it is not counted.
  const handles: WorkbookSession[] = new Array<WorkbookSession>(config.sessions);
  const before = await collectGarbage();
  const started = Date.now();
  const batch = 1000;
  for (let i = 0; i < config.sessions; i += batch) {
    const opened = await Promise.all(
      Array.from({ length: Math.min(batch, config.sessions - i) }, (_, j) =>
        manager.open(workbooks[(i + j) % workbooks.length] as string),
      ),
    );
    opened.forEach((h, j) => (handles[i + j] = h));
  }
  const openMs = Date.now() - started;
  const after = await collectGarbage();
  const perSession = (after - before) / config.sessions;
  return {
    handles,
    result: result({
      name: 'memory-per-session',
      value: perSession,
      unit: 'B',
      baseline: 2048,
      ratios: [perSession / 2048],
      better: 'lower',
      target: 1,
      extra: {
        sessions: config.sessions,
        workbooks: workbooks.length,
        transport: 'in-process',
        heapUsedMB: Math.round(after / 2 ** 20),
        openMs,
        note: 'baseline is the 2 KB target; ratio = value / 2048',
      },
    }),
  };
}
