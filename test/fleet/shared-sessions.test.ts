// Four worker processes, each with its own SessionManager in fleet mode on one real redis-server,
// leasing the shared sessions of four workbooks of one emulator (`acquire()`): the fleet uses one
// session per workbook, closes each once after the fleet left it idle, and replaces one that Graph
// expired with exactly one new session.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, test } from 'vitest';
import type { RunningEmulator } from '../../src/testing/index.js';
import { spawnScript, type WatchedChild } from '../helpers/child-process.js';
import { useFleetLab } from '../helpers/fleet-lab.js';
import { redisTestsRun } from '../helpers/redis-server.js';

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/fleet/shared-worker.ts');
const BOOKS = ['/me/drive/items/A', '/me/drive/items/B', '/me/drive/items/C', '/me/drive/items/D'];
const WORKERS = 4;
const LEASES = 2;
const CALLS = 10;

interface WorkerReport {
  readonly workMs: number;
  readonly idleMs: number;
  readonly failures: number;
  readonly told: { opened: number; reopened: number; closed: number; expired: number };
  readonly closedAtShutdown: number;
}

describe.runIf(redisTestsRun())('shared sessions across a fleet of four processes on one Redis', () => {
  const lab = useFleetLab({
    workbooks: Object.fromEntries(BOOKS.map((book) => [book, {}])),
    latency: { fixedMs: 2, jitterMs: 3 },
    seed: 16,
  });
  // Sessions the emulator made before the test under way (it keeps every one it made).
  let before = 0;
  beforeEach(async () => {
    lab.emulator.service.resetStats();
    before = lab.emulator.service.sessions().length;
    const client = await lab.redis.client();
    await client.flushall();
  });

  const spawnWorkers = (pause: boolean): WatchedChild[] =>
    Array.from({ length: WORKERS }, () =>
      spawnScript(WORKER, [], {
        EMU_URL: lab.emulator.url,
        EMU_TOKEN: lab.emulator.token,
        REDIS_PORT: String(lab.redis.port),
        WORKBOOKS: BOOKS.join(','),
        LEASES: String(LEASES),
        CALLS: String(CALLS),
        IDLE_MS: '1500',
        PAUSE: pause ? '1' : '0',
      }),
    );

  const reportsOf = (workers: WatchedChild[]): Promise<WorkerReport[]> =>
    Promise.all(
      workers.map(async (worker) => {
        const exit = await worker.waitForExit(90_000);
        expect({ exit, stderr: worker.stderr() }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });
        const line = worker.lines.find((l) => l.startsWith('done '));
        return JSON.parse(line?.slice('done '.length) ?? '{}') as WorkerReport;
      }),
    );

  /** The emulator's sessions of this test, by state. */
  const sessionsNow = (): ReturnType<RunningEmulator['service']['sessions']> =>
    lab.emulator.service.sessions().slice(before);

  /** The emulator's sessions of this test per workbook, by state. */
  const sessionsByBook = (): Record<string, string[]> => {
    const byBook: Record<string, string[]> = {};
    for (const s of sessionsNow()) (byBook[s.workbook] ??= []).push(s.state);
    return byBook;
  };

  const sum = (reports: WorkerReport[], pick: (r: WorkerReport) => number): number =>
    reports.reduce((total, r) => total + pick(r), 0);

  // Four worker processes starting and working take a while on a busy machine: a generous timeout.
  test(
    'one session per workbook for the whole fleet, each closed once after the fleet left it idle',
    { timeout: 120_000 },
    async () => {
      const reports = await reportsOf(spawnWorkers(false));
      const stats = lab.emulator.service.stats();
      console.log(
        JSON.stringify({
          requests: stats.requests,
          created: stats.created,
          closed: stats.closed,
          closeRequests: stats.requestsByRoute.closeSession,
          maxInFlightPerWorkbook: stats.maxInFlightPerWorkbook,
          workMs: reports.map((r) => r.workMs),
          idleMs: reports.map((r) => r.idleMs),
          closedBy: reports.map((r) => r.told.closed),
        }),
      );
      for (const report of reports) expect(report.failures).toBe(0);
      // Every lease's calls went through.
      expect(stats.requestsByRoute.worksheets + stats.requestsByRoute.range).toBe(
        WORKERS * BOOKS.length * LEASES * CALLS,
      );
      // One session per workbook in total, whichever process created it; every process used it.
      expect(stats.created).toBe(BOOKS.length);
      for (const book of BOOKS) expect(sessionsByBook()[book]).toEqual(['closed']);
      for (const report of reports) expect(report.told.opened).toBe(BOOKS.length);
      // Each closed exactly once, by one replica, after the fleet left it idle (not by a shutdown).
      expect(stats.closed).toBe(BOOKS.length);
      expect(stats.requestsByRoute.closeSession).toBe(BOOKS.length);
      expect(sum(reports, (r) => r.told.closed)).toBe(BOOKS.length);
      expect(sum(reports, (r) => r.closedAtShutdown)).toBe(0);
      expect(stats.maxInFlightPerWorkbook).toBe(1);
      expect(stats.open).toBe(0);
    },
  );

  test(
    'a shared session Graph expired is replaced by the fleet with exactly one new session',
    { timeout: 120_000 },
    async () => {
      const workers = spawnWorkers(true);
      await Promise.all(workers.map((worker) => worker.waitForLine('paused', 60_000)));
      const first = sessionsNow();
      expect(first.map((s) => s.state)).toEqual(BOOKS.map(() => 'open'));
      for (const session of first) expect(lab.emulator.service.expireSession(session.id)).toBe(true);
      for (const worker of workers) worker.process.stdin?.write('go\n');
      const reports = await reportsOf(workers);
      const stats = lab.emulator.service.stats();
      console.log(
        JSON.stringify({
          created: stats.created,
          expired: stats.expired,
          closed: stats.closed,
          closeRequests: stats.requestsByRoute.closeSession,
          maxInFlightPerWorkbook: stats.maxInFlightPerWorkbook,
          reopenedBy: reports.map((r) => r.told.reopened),
          closedBy: reports.map((r) => r.told.closed),
        }),
      );
      for (const report of reports) expect(report.failures).toBe(0);
      // The expired one and exactly one replacement per workbook; every process moved to it.
      expect(stats.created).toBe(2 * BOOKS.length);
      for (const book of BOOKS) expect(sessionsByBook()[book]).toEqual(['expired', 'closed']);
      for (const report of reports) expect(report.told.reopened).toBe(BOOKS.length);
      expect(stats.closed).toBe(BOOKS.length);
      // Each process that met the expired session gave it up with a close of its own, best effort (an
      // invalidSessionReCreatable may be a passing fault): Graph answered each that it was gone. Only
      // the replacements were closed, once each.
      expect(stats.requestsByRoute.closeSession).toBe(BOOKS.length + WORKERS * BOOKS.length);
      expect(sum(reports, (r) => r.told.closed)).toBe(BOOKS.length);
      expect(stats.maxInFlightPerWorkbook).toBe(1);
      expect(stats.open).toBe(0);
    },
  );
});
