import type { Client } from '@microsoft/microsoft-graph-client';
import { createBearerClient, type SessionManager, type WorkbookSession } from '../dist/index.js';
import type { EmulatorStats } from '../dist/testing/index.js';
import { RANGE_PATH } from './call-overhead.js';
import { startEmulatorProcess, workbookPaths, type EmulatorProcess } from './emulator-process.js';
import { benchManager } from './manager.js';
import { inParallel, median, result, round, timed, type BenchResult } from './measure.js';
import { measureRoundTrip } from './round-trip.js';

export interface SharedConfig {
  /** Units of work (one GET and one POST each), spread round-robin over the workbooks. */
  readonly units: number;
  readonly workbooks: number;
  readonly latencyMs: number;
  /** How long the emulator takes to make a session, on top of the latency. */
  readonly createMs: number;
  /** Up to this much more per createSession (the emulator's seeded random source). */
  readonly createJitterMs: number;
  /** Units running at once: a web service handling this many requests at a time. */
  readonly concurrency: number;
  readonly rounds: number;
  /** Run one uncounted round of each first, with two units per workbook. */
  readonly warmup: boolean;
  /** `budget-wait`: opens asked for at once on one workbook, and the budget they share. */
  readonly budgetOpens: number;
  readonly budget: number;
}

// The library's default `maxSessionsPerWorkbook`; benchManager() turns the budget off unless given one.
const DEFAULT_BUDGET = 8;
const SUM_PATH = '/functions/sum';

/** One unit of work: a range GET and a POST (a workbook function), in whatever session `book` is. */
async function unitOfWork(book: WorkbookSession): Promise<void> {
  await book.api(RANGE_PATH).get();
  await book.api(SUM_PATH).post({ values: [[1, 2, 3]] });
}

interface Run {
  readonly ms: number;
  readonly stats: EmulatorStats;
}

/** Runs `use` over the units in a fresh manager, timed from the first unit to the end of its shutdown. */
async function runUnits(
  emulator: EmulatorProcess,
  client: Client,
  workbooks: readonly string[],
  config: SharedConfig,
  use: (manager: SessionManager, workbook: string) => Promise<void>,
): Promise<Run> {
  await emulator.resetStats();
  const manager = benchManager(client, { maxSessionsPerWorkbook: DEFAULT_BUDGET });
  // The shutdown is timed too, so the shared sessions' closes count as the per-request ones do.
  const ms = await timed(async () => {
    await inParallel(
      Array.from({ length: config.units }, (_, i) => workbooks[i % workbooks.length] as string),
      config.concurrency,
      (workbook) => use(manager, workbook),
    );
    await manager.shutdown();
  });
  return { ms, stats: await emulator.stats() };
}

/**
 * `shared-vs-per-request` and `budget-wait`. The first: `units` units of work over `workbooks`
 * workbooks, `concurrency` at a time, each in a session of its own (`open()`, under the default
 * budget) and each on a lease of its workbook's shared session (`acquire()`), alternated round by
 * round in this process. The ratio is per-request time / shared time; the sessions each side created
 * are the emulator's count. The ideals assume one request at a time per workbook (the lanes), a
 * create taking latency + delay + half the jitter, and the global limit not binding.
 * The second: `budgetOpens` opens at once on one workbook at budget `budget`, each one GET then a
 * close; the peak of sessions open at once on that workbook is the emulator's.
 */
export async function sharedSessions(config: SharedConfig): Promise<BenchResult[]> {
  const workbooks = workbookPaths(config.workbooks);
  const [budgetWorkbook] = workbookPaths(1, 'BUDGET') as [string];
  const emulator = await startEmulatorProcess({
    workbooks: [...workbooks, budgetWorkbook],
    latencyMs: config.latencyMs,
    createSessionDelayMs: config.createMs,
    createSessionJitterMs: config.createJitterMs,
  });
  try {
    const client = createBearerClient({ baseUrl: emulator.url, token: emulator.token });
    const rttMs = await measureRoundTrip(client, workbooks[0] as string);
    const createMs = config.latencyMs + config.createMs + config.createJitterMs / 2;
    const perWorkbook = Math.ceil(config.units / config.workbooks);
    const lookupMs = config.latencyMs;
    // Per request: each unit is create, GET, POST, close, one after another in its workbook's lane.
    const idealPerRequest = lookupMs + perWorkbook * (createMs + 3 * config.latencyMs);
    // Shared: one create per workbook, then every unit's two requests, then one close.
    const idealShared = lookupMs + createMs + perWorkbook * 2 * config.latencyMs + config.latencyMs;

    const perRequest = (units = config.units): Promise<Run> =>
      runUnits(emulator, client, workbooks, { ...config, units }, async (manager, workbook) => {
        await using book = await manager.open(workbook);
        await unitOfWork(book);
      });
    const shared = (units = config.units): Promise<Run> =>
      runUnits(emulator, client, workbooks, { ...config, units }, async (manager, workbook) => {
        await using book = await manager.acquire(workbook);
        await unitOfWork(book);
      });
    if (config.warmup) {
      await shared(2 * config.workbooks);
      await perRequest(2 * config.workbooks);
    }
    const perRequestRuns: Run[] = [];
    const sharedRuns: Run[] = [];
    for (let r = 0; r < config.rounds; r++) {
      if (r % 2 === 0) {
        sharedRuns.push(await shared());
        perRequestRuns.push(await perRequest());
      } else {
        perRequestRuns.push(await perRequest());
        sharedRuns.push(await shared());
      }
    }
    const most = (runs: readonly Run[], pick: (s: EmulatorStats) => number): number =>
      Math.max(...runs.map((run) => pick(run.stats)));
    const sharedCreated = most(sharedRuns, (s) => s.created);
    const sessionsTarget = config.workbooks;

    const budget = await budgetWait(emulator, client, budgetWorkbook, config);
    const budgetRounds = Math.ceil(config.budgetOpens / config.budget);
    const idealBudget = lookupMs + budgetRounds * (createMs + 2 * config.latencyMs);
    const laneFloor = lookupMs + config.budgetOpens * (createMs + 2 * config.latencyMs);
    const common = {
      latencyMs: config.latencyMs,
      createSessionDelayMs: config.createMs,
      createSessionJitterMs: config.createJitterMs,
      rttMs: round(rttMs),
    };
    return [
      result({
        name: 'shared-vs-per-request',
        value: median(sharedRuns.map((run) => run.ms)),
        unit: 'ms',
        baseline: median(perRequestRuns.map((run) => run.ms)),
        ratios: sharedRuns.map((run, i) => (perRequestRuns[i] as Run).ms / run.ms),
        better: 'higher',
        target: 5,
        extra: {
          units: config.units,
          workbooks: config.workbooks,
          concurrency: config.concurrency,
          perRequestBudget: DEFAULT_BUDGET,
          ...common,
          sharedRoundsMs: sharedRuns.map((run) => Math.round(run.ms)),
          perRequestRoundsMs: perRequestRuns.map((run) => Math.round(run.ms)),
          idealSharedMs: Math.round(idealShared),
          idealPerRequestMs: Math.round(idealPerRequest),
          sharedCreated,
          perRequestCreated: most(perRequestRuns, (s) => s.created),
          sharedCreatedTarget: `<= ${sessionsTarget} ${sharedCreated <= sessionsTarget ? 'ok' : 'MISSED'}`,
          sharedRequests: most(sharedRuns, (s) => s.requests),
          perRequestRequests: most(perRequestRuns, (s) => s.requests),
          sharedMaxOpenPerWorkbook: most(sharedRuns, (s) => s.maxOpenPerWorkbook),
          perRequestMaxOpenPerWorkbook: most(perRequestRuns, (s) => s.maxOpenPerWorkbook),
          serverOpen: most([...sharedRuns, ...perRequestRuns], (s) => s.open),
          maxInFlightPerWorkbook: most([...sharedRuns, ...perRequestRuns], (s) => s.maxInFlightPerWorkbook),
        },
      }),
      result({
        name: 'budget-wait',
        value: budget.ms,
        unit: 'ms',
        baseline: idealBudget,
        ratios: [budget.ms / idealBudget],
        better: 'lower',
        extra: {
          opens: config.budgetOpens,
          budget: config.budget,
          ...common,
          budgetRounds,
          laneFloorMs: Math.round(laneFloor),
          ratioToLaneFloor: round(budget.ms / laneFloor, 3),
          maxOpen: budget.maxOpen,
          maxOpenTarget: `<= ${config.budget} ${budget.maxOpen <= config.budget ? 'ok' : 'MISSED'}`,
          budgetWaits: budget.waits,
          created: budget.stats.created,
          serverOpen: budget.stats.open,
          maxInFlightPerWorkbook: budget.stats.maxInFlightPerWorkbook,
        },
      }),
    ];
  } finally {
    await emulator.close();
  }
}

/** `budgetOpens` opens at once on `workbook` at budget `budget`, each one GET then a close. */
async function budgetWait(
  emulator: EmulatorProcess,
  client: Client,
  workbook: string,
  config: SharedConfig,
): Promise<{ ms: number; maxOpen: number; waits: number; stats: EmulatorStats }> {
  await emulator.resetStats();
  const manager = benchManager(client, { maxSessionsPerWorkbook: config.budget });
  let waits = 0;
  manager.on('budgetWait', () => waits++);
  const ms = await timed(async () => {
    await Promise.all(
      Array.from({ length: config.budgetOpens }, async () => {
        await using book = await manager.open(workbook);
        await book.api(RANGE_PATH).get();
      }),
    );
    await manager.shutdown();
  });
  const stats = await emulator.stats();
  return { ms, maxOpen: stats.maxOpenByWorkbook[workbook] ?? 0, waits, stats };
}
