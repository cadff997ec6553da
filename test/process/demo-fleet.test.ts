// `npm run demo -- --fleet` as a user runs it: worker processes on one emulator and a redis-server
// of the machine's packages, one SIGKILLed holding sessions. Needs `redis-server` (skipped without
// it, except under CI where it must run).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { redisTestsRun } from '../helpers/redis-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function demo(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  const environment = { ...process.env, ...env };
  // Never reach for a real tenant from the tests, whatever the developer's shell has set.
  for (const key of Object.keys(environment)) if (key.startsWith('WORKBOOK_SESSIONS_')) delete environment[key];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'examples/demo.ts', ...args],
      { cwd: root, env: environment, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

interface FleetSummary {
  ok: boolean;
  workers: number;
  killed: { name: string; held: number };
  orphans: { held: number; closed: number; byWorker: Record<string, number>; killToClosedMs: number | null };
  survivors: { name: string; closed: number; leftOpen: number }[];
  server: {
    created: number;
    closed: number;
    expired: number;
    open: number;
    faultsInjected: number;
    maxInFlightPerWorkbook: number;
    cooldownViolations: number;
  };
  workbooks: Record<string, { created: number; mostInFlight: number; mostOpen: number; rows: number }>;
}

describe('demo.ts --fleet', { timeout: 90_000 }, () => {
  it('--help lists --fleet', async () => {
    const result = await demo(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: npm run demo \[-- --json\] \[-- --fleet\]/);
    expect(result.stdout).toContain('--fleet     fleet mode instead');
  });

  it('without redis-server says how to install it and exits 1', async () => {
    const result = await demo(['--fleet'], { REDIS_SERVER: '/nonexistent/redis-server' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('The fleet demo needs `redis-server`');
    expect(result.stderr).toContain('`apt-get install redis-server`');
    expect(result.stderr).toContain('`brew install redis`');
    expect(result.stdout).toBe('');
  });

  describe.runIf(redisTestsRun())('with redis-server', () => {
    it('--json: the killed worker held sessions, survivors closed every one, 0 open at the end', async () => {
      const result = await demo(['--fleet', '--json']);
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      const summary = JSON.parse(result.stdout) as FleetSummary;
      expect(summary.ok).toBe(true);
      expect(summary.workers).toBe(3);
      expect(summary.killed).toEqual({ name: 'w2', held: 3 });
      // Every orphan closed exactly once, by the survivors' reapers, none by the killed worker.
      expect(summary.orphans).toMatchObject({ held: 3, closed: 3 });
      expect(Object.keys(summary.orphans.byWorker).every((name) => name === 'w1' || name === 'w3')).toBe(true);
      expect(summary.orphans.killToClosedMs).not.toBeNull();
      for (const survivor of summary.survivors) expect(survivor).toMatchObject({ closed: 3, leftOpen: 0 });
      // What the emulator saw across the processes: one request at a time per workbook, none inside
      // the cooldown of the injected 429, every session closed and none expired.
      expect(summary.server).toMatchObject({
        open: 0,
        expired: 0,
        faultsInjected: 1,
        maxInFlightPerWorkbook: 1,
        cooldownViolations: 0,
      });
      expect(summary.server.closed).toBe(summary.server.created);
      // 3 workers x (2 writes + 1 held) per workbook, each in a session of its own.
      for (const workbook of Object.values(summary.workbooks)) {
        expect(workbook).toMatchObject({ created: 9, mostInFlight: 1, rows: 6 });
      }
    });

    it('prints the snapshots across processes, the kill, the reaping and the summary', async () => {
      const result = await demo(['--fleet']);
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(result.stdout).toContain('workbook-sessions fleet demo: 3 worker processes');
      expect(result.stdout).toMatch(/w\d {2}stock {3}retried {2}after 429; lane paused for every process 1000 ms/);
      expect(result.stdout).toMatch(/holding\n.*in flight {2}cooldown {2}open {2}held by \(journal in Redis\)/);
      expect(result.stdout).toMatch(/sales +0 +- +3 {2}w1 1, w2 1, w3 1/);
      expect(result.stdout).toMatch(/3\. SIGKILL w2 \(pid \d+\) while it holds 3 sessions/);
      expect(result.stdout).toMatch(/w[13] {2}reaper {3}closed \d session\(s\) of a process that is gone/);
      expect(result.stdout).toContain('orphans closed by survivors: 3 of 3');
      expect(result.stdout).toContain('most requests at once on one workbook, all processes: 1 (limit 1): ok');
      expect(result.stdout).toContain('requests sent during a Retry-After cooldown: 0');
      expect(result.stdout).toMatch(/ok: 0 sessions open on the emulator \(27 created, 27 closed\)\./);
    });
  });
});
