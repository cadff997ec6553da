// Crash recovery with real processes against the emulator: children open sessions with a journal,
// some are killed with SIGKILL, and other processes recover what they left.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBearerClient } from '../../src/transport/graph-client.js';
import type { RecoveryReport } from '../../src/journal/recovery.js';
import { SessionManager } from '../../src/manager/session-manager.js';
import { startEmulator, type RunningEmulator } from '../../src/testing/index.js';
import { killAllChildren, spawnChild, removeTempDirs, tempDir, type Child } from '../fixtures/journal-spawn.js';

const WORKBOOKS = ['/me/drive/items/A', '/me/drive/items/B'];
const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

let emu: RunningEmulator;

beforeEach(async () => {
  emu = await startEmulator({ workbooks: { '/me/drive/items/A': {}, '/me/drive/items/B': {} } });
});

afterEach(async () => {
  await killAllChildren();
  await emu.close();
});

function openingChild(journal: string, count: number): Child {
  return spawnChild('./journal/manager-child.ts', [emu.url, emu.token, journal, String(count), WORKBOOKS.join(',')]);
}

function recoveringChild(journal: string): Child {
  return spawnChild('./journal/manager-child.ts', [
    emu.url,
    emu.token,
    journal,
    '0',
    WORKBOOKS.join(','),
    'recover-now',
  ]);
}

function reportFrom(line: string): RecoveryReport {
  return JSON.parse(line.slice('report '.length)) as RecoveryReport;
}

function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

afterAll(removeTempDirs);

describe('crash recovery across processes', () => {
  it(
    'a child with 10 open sessions is killed with SIGKILL; ' + 'a new process recovers and the emulator counts 0 open',
    async () => {
      const journal = await tempDir();
      const crashed = openingChild(journal, 10);
      await crashed.waitForLine(/^opened 10/);
      expect(emu.service.stats().open).toBe(10);
      await crashed.kill();
      expect(emu.service.stats().open).toBe(10);

      const recoverer = recoveringChild(journal);
      await recoverer.waitForLine(/^opened 0/);
      recoverer.process.stdin?.write('go\n');
      const report = reportFrom(await recoverer.waitForLine(/^report /));
      await recoverer.waitForExit();

      expect(report.closed).toHaveLength(10);
      expect(report.failed).toEqual([]);
      expect(report.closed.every((s) => s.pid === crashed.process.pid && s.id.includes('…'))).toBe(true);
      expect(emu.service.stats()).toMatchObject({ open: 0, closed: 10 });
    },
  );

  it("leaves a live child's sessions alone while closing a dead one's, and the live child keeps working", async () => {
    const journal = await tempDir();
    const dead = openingChild(journal, 3);
    const live = openingChild(journal, 4);
    await Promise.all([dead.waitForLine(/^opened 3/), live.waitForLine(/^opened 4/)]);
    await dead.kill();
    expect(emu.service.stats().open).toBe(7);

    // The recoverer here is this test process's own manager.
    const sessions = new SessionManager({
      client: createBearerClient({ baseUrl: emu.url, token: emu.token }),
      journal: { path: journal },
      exitHooks: false,
    });
    const report = await sessions.recover();
    await sessions.shutdown();
    expect(report.closed).toHaveLength(3);
    expect(report.skippedLive).toHaveLength(4);
    expect(report.skippedLive.every((s) => s.pid === live.process.pid)).toBe(true);
    expect(emu.service.stats()).toMatchObject({ open: 4, closed: 3 });

    live.process.stdin?.write('call\n');
    await live.waitForLine(/^called 4/);
    live.process.stdin?.write('shutdown\n');
    const shutdown = JSON.parse((await live.waitForLine(/^shutdown /)).slice('shutdown '.length)) as { closed: number };
    expect(shutdown.closed).toBe(4);
    await live.waitForExit();
    expect(emu.service.stats()).toMatchObject({ open: 0, closed: 7 });
  });

  it('two processes recovering at once close each orphan once', async () => {
    const journal = await tempDir();
    const crashed = openingChild(journal, 10);
    await crashed.waitForLine(/^opened 10/);
    await crashed.kill();

    const a = recoveringChild(journal);
    const b = recoveringChild(journal);
    await Promise.all([a.waitForLine(/^opened 0/), b.waitForLine(/^opened 0/)]);
    a.process.stdin?.write('go\n');
    b.process.stdin?.write('go\n');
    const [ra, rb] = (await Promise.all([a.waitForLine(/^report /), b.waitForLine(/^report /)])).map(reportFrom);
    await Promise.all([a.waitForExit(), b.waitForExit()]);

    expect((ra?.closed.length ?? 0) + (rb?.closed.length ?? 0)).toBe(10);
    expect([...(ra?.failed ?? []), ...(rb?.failed ?? []), ...(ra?.expired ?? []), ...(rb?.expired ?? [])]).toEqual([]);
    const stats = emu.service.stats();
    expect(stats).toMatchObject({ open: 0, closed: 10 });
    expect(stats.requestsByRoute.closeSession).toBe(10);
  });

  it('the CLI lists what it would close with --dry-run --json, then closes it', async () => {
    const journal = await tempDir();
    const crashed = openingChild(journal, 3);
    await crashed.waitForLine(/^opened 3/);
    await crashed.kill();

    const dry = await runCli(['recover', '--journal', journal, '--dry-run', '--json']);
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    const planned = JSON.parse(dry.stdout) as RecoveryReport;
    expect(planned.dryRun).toBe(true);
    expect(planned.wouldClose).toHaveLength(3);
    expect(planned.wouldClose.every((s) => /^.{6}….{4}$/.test(s.id) && WORKBOOKS.includes(s.workbook))).toBe(true);
    expect(planned.closed).toEqual([]);
    expect(emu.service.stats()).toMatchObject({ open: 3, closed: 0 });

    const real = await runCli(['recover', '--journal', journal, '--emulator-url', emu.url], {
      WORKBOOK_SESSIONS_TOKEN: emu.token,
    });
    expect(real.stderr).toBe('');
    expect(real.code).toBe(0);
    expect(real.stdout).toMatch(/^outcome +workbook +session +persist +age +pid$/m);
    expect(real.stdout.match(/^closed /gm)).toHaveLength(3);
    expect(real.stdout).toContain('Closed 3, expired 0, failed 0, 0 of live processes left alone.');
    expect(real.stdout).not.toContain(emu.token);
    expect(emu.service.stats()).toMatchObject({ open: 0, closed: 3 });
  });

  it('the CLI exits 1 when a close fails, naming the session by its short id', async () => {
    const journal = await tempDir();
    const crashed = openingChild(journal, 1);
    await crashed.waitForLine(/^opened 1/);
    await crashed.kill();
    const result = await runCli([
      'recover',
      '--journal',
      journal,
      '--emulator-url',
      emu.url,
      '--token',
      'wrong-token',
      '--json',
    ]);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as RecoveryReport;
    expect(report.failed).toEqual([
      expect.objectContaining({
        id: expect.stringMatching(/^.{6}….{4}$/) as unknown,
        error: expect.any(String) as unknown,
      }),
    ]);
    expect(emu.service.stats().open).toBe(1);
  });

  it('the CLI explains its usage: --help exits 0, bad usage exits 2', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: workbook-sessions recover --journal <path>/);
    expect(help.stdout).toContain('-v, --version');
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-v']) {
      const version = await runCli([flag]);
      expect(version).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    }

    for (const [args, message] of [
      [[], 'Missing the command (recover)'],
      [['recover'], 'Missing --journal <path>'],
      [['restore', '--journal', 'x'], 'Unknown command "restore"'],
      [['recover', '--journal', 'x', '--bogus'], "Unknown option '--bogus'"],
    ] as const) {
      const result = await runCli(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
      expect(result.stderr).toContain('Usage: workbook-sessions recover');
    }
    const dir = await tempDir();
    const noToken = await runCli(['recover', '--journal', dir, '--emulator-url', 'http://127.0.0.1:1']);
    expect(noToken.code).toBe(0); // no journal there: nothing to recover, nothing created, no client needed
    expect(noToken.stderr).toContain('no journal at');
  });
});
