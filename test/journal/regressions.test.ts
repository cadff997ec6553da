// The journal lock and recovery: races and judgements that once went wrong.

import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import { SessionJournal } from '../../src/journal/journal.js';
import { lock } from '../../src/journal/maintenance.js';
import { recoverOrphans } from '../../src/journal/recovery.js';
import { WorkbookService, startEmulator, type RunningEmulator } from '../../src/testing/index.js';
import { killChildren } from '../fixtures/exit-spawn.js';
import { DEAD_PID, openLine, removeTempDirs, spawnChild, tempDir } from '../fixtures/journal-spawn.js';

const TOKEN = 'regression-token';

const BOOK = '/me/drive/items/A';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

async function send(
  svc: WorkbookService,
  method: string,
  urlPath: string,
  init: { body?: unknown; session?: string } = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const headers = new Headers({ Authorization: `Bearer ${TOKEN}` });
  if (init.session !== undefined) headers.set('workbook-session-id', init.session);
  const res = await svc.handle(
    new Request(`https://graph.microsoft.com${urlPath}`, {
      method,
      headers,
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    }),
  );
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : (JSON.parse(text) as unknown), headers: res.headers };
}

function runCli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

afterEach(async () => {
  vi.restoreAllMocks();
  await killChildren();
});

afterAll(removeTempDirs);

describe('journal lock', () => {
  // Regression guard: two processes that both find the lock stale never both take it over (the race is forced here).
  test('two contenders for a stale lock never both hold it', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'sessions.journal');
    const lockPath = `${file}.lock`;
    const stale = JSON.stringify({ pid: DEAD_PID, at: Date.now() });
    await fs.writeFile(file, '', { mode: 0o600 });
    await fs.writeFile(lockPath, stale, { mode: 0o600 });

    const realReadFile = fs.readFile.bind(fs);
    let staleChecks = 0;
    let takeovers = 0;
    const waitFor = async (check: () => Promise<boolean> | boolean): Promise<void> => {
      for (let i = 0; i < 200 && !(await check()); i++) await new Promise((r) => setTimeout(r, 5));
    };
    vi.spyOn(fs, 'readFile').mockImplementation((async (...args: Parameters<typeof fs.readFile>) => {
      const stack = new Error().stack ?? '';
      if (args[0] === lockPath && stack.includes('staleLockText')) staleChecks++;
      if (args[0] === lockPath && stack.includes('takeOverStaleLock')) {
        takeovers++;
        // Both contenders have judged the lock stale before anyone takes it over...
        if (takeovers === 1) await waitFor(() => staleChecks >= 2);
        // ...and the second takeover reads after the first contender's own lock is in place.
        if (takeovers === 2)
          await waitFor(async () => (await realReadFile(lockPath, 'utf8').catch(() => stale)) !== stale);
      }
      return realReadFile(...args);
    }) as typeof fs.readFile);

    let holding = 0;
    let most = 0;
    await Promise.all(
      [0, 1].map(async () => {
        const release = await lock(new SessionJournal({ path: file }));
        holding++;
        most = Math.max(most, holding);
        await new Promise((r) => setTimeout(r, 100));
        holding--;
        await release?.();
      }),
    );
    // Takeovers take turns now: the second contender finds the guard taken and waits instead.
    expect(takeovers).toBeGreaterThanOrEqual(1);
    expect(most).toBe(1);
  });
});

describe('recovery', () => {
  // Regression guard: an orphan is judged expired by its last use, not its creation: Graph expires on inactivity.
  test('closes an orphan created 6 minutes ago but used 2 minutes before the crash', async () => {
    const service = new WorkbookService({ token: TOKEN, now: () => 1_800_000_000_000, workbooks: { [BOOK]: {} } });
    const created = await send(service, 'POST', `/v1.0${BOOK}/workbook/createSession`, {
      body: { persistChanges: true },
    });
    const id = (created.body as { id: string }).id;
    const createdAt = service.now();
    service.advanceTime(4 * 60_000); // the dead worker kept using the session...
    expect((await send(service, 'GET', `/v1.0${BOOK}/workbook/worksheets`, { session: id })).status).toBe(200);
    service.advanceTime(2 * 60_000); // ...until it was killed 2 minutes ago (6 min after create)
    expect(service.openSessions()).toBe(1); // Graph still holds it

    const dir = await tempDir();
    await fs.writeFile(path.join(dir, 'sessions.journal'), `${openLine({ id, workbook: BOOK, createdAt })}\n`, {
      mode: 0o600,
    });
    const closes: string[] = [];
    const report = await recoverOrphans(
      new SessionJournal({ path: dir }),
      async (workbook, sessionId) => {
        closes.push(sessionId);
        const res = await send(service, 'POST', `/v1.0${workbook}/workbook/closeSession`, { session: sessionId });
        return res.status === 204 ? 'closed' : 'expired';
      },
      { now: () => service.now() },
    );
    expect(report.expired).toEqual([]);
    expect(closes).toEqual([id]);
    expect(service.openSessions()).toBe(0);
  });

  // Regression guard: a journal shared by two managers keeps its owner marker until the last of them shuts down.
  test(
    "recovery by another process leaves a live process's sessions alone " + 'when two managers share a journal',
    async () => {
      const emu: RunningEmulator = await startEmulator({ workbooks: { [BOOK]: {} } });
      try {
        const dir = await tempDir();
        const child = spawnChild(
          fileURLToPath(new URL('../fixtures/journal/shared-journal-child.ts', import.meta.url)),
          [emu.url, emu.token, dir, BOOK],
        );
        const ready = await child.waitForLine(/^ready /);
        const keptId = ready.slice('ready '.length);
        expect(emu.service.openSessions()).toBe(1);

        const result = await runCli([
          'recover',
          '--journal',
          dir,
          '--emulator-url',
          emu.url,
          '--token',
          emu.token,
          '--json',
        ]);
        // With stderr, so a failure says why.
        expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
        const state = emu.service.sessions().find((s) => s.id === keptId)?.state;
        expect(state).toBe('open');
        await child.kill();
      } finally {
        await emu.close();
      }
    },
  );
});
