import { promises as fs } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import { ManagerShutDownError, SessionJournal } from '../src/index.js';
import { startEmulator } from '../src/testing/index.js';
import { killAllChildren, spawnScript } from './helpers/child-process.js';
import { removeTempDirs, tempDir } from './fixtures/journal-spawn.js';
import { BOOK_A, books, overHttp, settle } from './helpers/graph.js';

// Shutdowns and aborts racing a session's creation, through the real Graph client over HTTP.
let env: Awaited<ReturnType<typeof overHttp>> | undefined;
afterEach(async () => {
  await killAllChildren();
  await env?.close();
  env = undefined;
});
afterAll(removeTempDirs);

const CHILD = fileURLToPath(new URL('./fixtures/shutdown-edges-child.ts', import.meta.url));

describe('open() aborted around the moment the session arrives', () => {
  test('open() with a signal aborted 0 to 8 microtask ticks after `opened` either hands out the session or closes it', async () => {
    env = await overHttp();
    const sessions = env.manager();
    const service = env.service;
    const outcomes: string[] = [];
    for (let ticks = 0; ticks <= 8; ticks++) {
      const controller = new AbortController();
      sessions.once('opened', () => {
        let left = ticks;
        const tick = (): void => (left-- === 0 ? controller.abort() : queueMicrotask(tick));
        queueMicrotask(tick);
      });
      const result = await settle(sessions.open(BOOK_A, { signal: controller.signal }));
      if (result.ok) {
        outcomes.push('handle');
        await result.value.close();
      } else {
        expect((result.error as Error).name).toBe('AbortError');
        outcomes.push('aborted');
      }
      // Nothing is left open: a session the caller gave up on is closed in the background at once.
      await vi.waitFor(() => expect(service.stats().open).toBe(0));
    }
    expect(outcomes).toHaveLength(9);
    expect(service.stats()).toMatchObject({ created: 9, closed: 9 });
  });
});

describe('shutdown() while a session is still being created', () => {
  test('a 201 arriving after the shutdown resolved is closed at once; the report lists the create as (creating)', async () => {
    env = await overHttp();
    const sessions = env.manager();
    env.service.injectFault({ workbook: BOOK_A, route: 'createSession', delayMs: 1000 });
    const opening = settle(sessions.open(BOOK_A));
    await vi.waitFor(() => expect(env?.service.stats().requestsByRoute.createSession).toBe(1));
    const report = await sessions.shutdown({ timeoutMs: 200 });
    expect(report).toMatchObject({ leftOpen: 1, timedOut: true });
    expect(report.sessions).toEqual([{ id: '(creating)', workbook: BOOK_A, outcome: 'pending' }]);
    const result = await opening;
    expect(result.ok === false && result.error).toBeInstanceOf(ManagerShutDownError);
    await vi.waitFor(() => expect(env?.service.stats()).toMatchObject({ created: 1, closed: 1, open: 0 }), {
      timeout: 5000,
    });
  });

  test('a session arriving after the report whose close keeps failing is given up after shutdownTimeoutMs, not retryDeadlineMs', async () => {
    env = await overHttp();
    const sessions = env.manager({ shutdownTimeoutMs: 300, retryBaseDelayMs: 10, retryMaxDelayMs: 20 });
    const failed: string[] = [];
    sessions.on('closeFailed', (e) => failed.push(e.workbook));
    env.service.injectFault({ workbook: BOOK_A, route: 'createSession', delayMs: 500 });
    env.service.injectFault({ workbook: BOOK_A, route: 'closeSession', count: 100_000, kind: '503-bare' });
    const opening = settle(sessions.open(BOOK_A));
    await vi.waitFor(() => expect(env?.service.stats().requestsByRoute.createSession).toBe(1));
    expect(await sessions.shutdown({ timeoutMs: 100 })).toMatchObject({ leftOpen: 1, timedOut: true });
    expect((await opening).ok).toBe(false);
    // The late session's close is bounded as a shutdown's would be: the failure is reported, and no
    // close is resent after it (retryDeadlineMs, 2 minutes, would keep the process alive meanwhile).
    await vi.waitFor(() => expect(failed).toEqual([BOOK_A]), { timeout: 5_000 });
    const sent = env.service.stats().requestsByRoute.closeSession;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(env.service.stats().requestsByRoute.closeSession).toBe(sent);
  });

  test('a long-running create still polling when shutdown({ timeoutMs }) resolves stops, and the process ends', async () => {
    const emu = await startEmulator({ workbooks: books(BOOK_A), asyncCreate: { rate: 1, durationMs: 600_000 } });
    try {
      const child = spawnScript(CHILD, [], {
        EMU_URL: emu.url,
        EMU_TOKEN: emu.token,
        SCENARIO: 'creating',
        SHUTDOWN_TIMEOUT_MS: '300',
      });
      await child.waitForLine('ready');
      await vi.waitFor(() => expect(emu.service.stats().requestsByRoute.operation).toBeGreaterThan(1), {
        timeout: 10_000,
      });
      child.process.stdin?.write('go\n');
      const report = await child.waitForLine(/^report /);
      expect(JSON.parse(report.slice('report '.length))).toEqual({
        leftOpen: 1,
        timedOut: true,
        sessions: [{ id: '(creating)', workbook: BOOK_A, outcome: 'pending' }],
      });
      // Polling stopped with the shutdown: nothing of the manager keeps the process (operationTimeoutMs is 2 minutes).
      expect(await child.waitForExit(15_000)).toEqual({ code: 0, signal: null });
      expect(child.lines).toContain('open rejected ManagerShutDownError');
      expect(emu.service.stats().created).toBe(0);
    } finally {
      await emu.close();
    }
  });
});

describe('shutdown() whose deadline passes while a call waits behind a long cooldown', () => {
  test('the process ends after the report: the cooldown of Retry-After: 600 no longer holds it', async () => {
    const emu = await startEmulator({ workbooks: books(BOOK_A) });
    try {
      const child = spawnScript(CHILD, [], {
        EMU_URL: emu.url,
        EMU_TOKEN: emu.token,
        SCENARIO: 'cooldown',
        SHUTDOWN_TIMEOUT_MS: '300',
      });
      await child.waitForLine('ready');
      emu.service.injectFault({ workbook: BOOK_A, route: 'range', status: 429, retryAfterSeconds: 600 });
      child.process.stdin?.write('go\n');
      expect(await child.waitForLine(/^first call /)).toBe('first call rejected retryAfterMs=600000');
      const report = JSON.parse((await child.waitForLine(/^report /)).slice('report '.length)) as {
        leftOpen: number;
        timedOut: boolean;
      };
      // The close waited behind the cooldown too: the session is reported, not sent into the cooldown.
      expect(report).toMatchObject({ leftOpen: 1, timedOut: true });
      expect(await child.waitForExit(15_000)).toEqual({ code: 0, signal: null });
      expect(emu.service.stats()).toMatchObject({ cooldownViolations: 0, open: 1 });
    } finally {
      await emu.close();
    }
  });
});

describe('shutdown() while open() still looks up which file it names', () => {
  test('the look-up that hangs is cut off when the report is out: no create is sent, and the process ends', async () => {
    const emu = await startEmulator({ workbooks: books(BOOK_A) });
    try {
      // Every answer takes a minute: the first request, the look-up, hangs.
      emu.service.setLatency({ fixedMs: 60_000 });
      const child = spawnScript(CHILD, [], {
        EMU_URL: emu.url,
        EMU_TOKEN: emu.token,
        SCENARIO: 'creating',
        SHUTDOWN_TIMEOUT_MS: '300',
      });
      await child.waitForLine('ready');
      await vi.waitFor(() => expect(emu.service.stats().requestsByRoute.item).toBe(1), { timeout: 10_000 });
      child.process.stdin?.write('go\n');
      await child.waitForLine(/^report /);
      // The answer would come only after 60 s (requestTimeoutMs): nothing of the manager waits for it.
      expect(await child.waitForExit(15_000)).toEqual({ code: 0, signal: null });
      expect(child.lines).toContain('open rejected ManagerShutDownError');
      expect(emu.service.stats()).toMatchObject({ created: 0, open: 0 });
      expect(emu.service.stats().requestsByRoute.createSession).toBe(0);
    } finally {
      await emu.close();
    }
  });
});

describe('shutdown() while a poll of a long-running create hangs', () => {
  test('the poll is cut off when the report is out, and the process ends', async () => {
    const emu = await startEmulator({ workbooks: books(BOOK_A), asyncCreate: { rate: 1, durationMs: 600_000 } });
    try {
      const child = spawnScript(CHILD, [], {
        EMU_URL: emu.url,
        EMU_TOKEN: emu.token,
        SCENARIO: 'creating',
        SHUTDOWN_TIMEOUT_MS: '300',
      });
      await child.waitForLine('ready');
      await vi.waitFor(() => expect(emu.service.stats().requestsByRoute.operation).toBeGreaterThan(1), {
        timeout: 10_000,
      });
      // The next poll's answer takes a minute (requestTimeoutMs).
      emu.service.setLatency({ fixedMs: 60_000 });
      const polls = emu.service.stats().requestsByRoute.operation;
      await vi.waitFor(() => expect(emu.service.stats().requestsByRoute.operation).toBe(polls + 1), {
        timeout: 10_000,
      });
      child.process.stdin?.write('go\n');
      await child.waitForLine(/^report /);
      expect(await child.waitForExit(15_000)).toEqual({ code: 0, signal: null });
      expect(child.lines).toContain('open rejected ManagerShutDownError');
    } finally {
      await emu.close();
    }
  });
});

describe('the journal after a shutdown racing its first write', () => {
  test('shutdown() begun at `opened` leaves no session listed and no owner marker', async () => {
    env = await overHttp();
    const dir = await tempDir();
    const sessions = env.manager({ journal: { path: dir } });
    let shutdown: ReturnType<typeof sessions.shutdown> | undefined;
    sessions.once('opened', () => {
      shutdown = sessions.shutdown();
    });
    const opened = await settle(sessions.open(BOOK_A));
    expect(opened.ok === false && opened.error).toBeInstanceOf(ManagerShutDownError);
    const report = await (shutdown as NonNullable<typeof shutdown>);
    expect(report).toMatchObject({ closed: 1, leftOpen: 0 });
    expect(env.service.stats()).toMatchObject({ created: 1, closed: 1, open: 0 });
    const scan = await new SessionJournal({ path: dir }).scan();
    expect([...scan.live, ...scan.orphans]).toEqual([]);
    expect((await fs.readdir(dir)).filter((name) => name.includes('.owner-'))).toEqual([]);
  });
});

describe('shutdown() whose deadline passes while a close is on the wire', () => {
  test('the close runs until its answer; the process ends after it, with the journal emptied and its marker gone', async () => {
    const emu = await startEmulator({ workbooks: books(BOOK_A) });
    try {
      const dir = await tempDir();
      const child = spawnScript(CHILD, [], {
        EMU_URL: emu.url,
        EMU_TOKEN: emu.token,
        SCENARIO: 'closing',
        SHUTDOWN_TIMEOUT_MS: '300',
        JOURNAL_DIR: dir,
      });
      await child.waitForLine('ready');
      emu.service.injectFault({ workbook: BOOK_A, route: 'closeSession', delayMs: 1500 });
      child.process.stdin?.write('go\n');
      const report = JSON.parse((await child.waitForLine(/^report /)).slice('report '.length)) as {
        leftOpen: number;
        timedOut: boolean;
        sessions: Array<{ outcome: string }>;
      };
      expect(report).toMatchObject({ leftOpen: 1, timedOut: true, sessions: [{ outcome: 'pending' }] });
      expect(await child.waitForExit(15_000)).toEqual({ code: 0, signal: null });
      // The close was not torn down at the deadline: Graph's answer reached the manager after the report.
      const after = child.lines.slice(child.lines.findIndex((line) => line.startsWith('report ')) + 1);
      expect(after.filter((line) => line.startsWith('event '))).toEqual(['event closed alreadyExpired=false']);
      expect(emu.service.stats()).toMatchObject({ created: 1, closed: 1, open: 0 });
      const scan = await new SessionJournal({ path: dir }).scan();
      expect([...scan.live, ...scan.orphans]).toEqual([]);
      expect((await fs.readdir(dir)).filter((name) => name.includes('.owner-'))).toEqual([]);
    } finally {
      await emu.close();
    }
  });
});
