// shutdown(): every session closed or reported, within its deadline, and nothing of ours runs on after it resolves.

import { afterEach, beforeEach, describe, expect, test, vi, afterAll } from 'vitest';
import { ManagerShutDownError, type SessionManager, SessionJournal } from '../../src/index.js';
import { BOOK_A, BOOK_B, BOOK_C, BOOK_D, overHttp, settle, fakeTimeGraph, books } from '../helpers/graph.js';
import { promises as fs } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startEmulator } from '../../src/testing/index.js';
import { killAllChildren, spawnScript } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../fixtures/journal-spawn.js';

describe('over HTTP (emulator)', () => {
  // Scenarios through the real Graph client against the emulator over HTTP on loopback.
  let env: Awaited<ReturnType<typeof overHttp>>;

  afterEach(async () => {
    await env.close();
  });

  let sessions: SessionManager;

  beforeEach(async () => {
    env = await overHttp();
    sessions = env.manager();
  });

  test('closes every open session and reports it with shortened ids', async () => {
    const handles = await Promise.all([BOOK_A, BOOK_A, BOOK_B, BOOK_C].map((b) => sessions.open(b)));
    env.service.expireSession(handles[3]!.id);
    const report = await sessions.shutdown();
    expect(report).toMatchObject({ closed: 3, expired: 1, failed: 0, leftOpen: 0, timedOut: false });
    expect(report.sessions).toHaveLength(4);
    for (const [i, s] of report.sessions.entries()) {
      expect(s.id.length).toBeLessThan(handles[i]!.id.length);
      expect(handles[i]!.id.startsWith(s.id.slice(0, 6))).toBe(true);
    }
    expect(env.service.stats().open).toBe(0);
    expect(handles.every((h) => h.state === 'closed' && h.closeReason !== undefined)).toBe(true);
  });

  test('a session reopened after expiring is reported closed, not expired, when shutdown closes it', async () => {
    const book = await sessions.open(BOOK_A);
    env.service.expireSession(book.id);
    await book.api('/worksheets').get();
    const report = await sessions.shutdown();
    expect(report).toMatchObject({ closed: 1, expired: 0, leftOpen: 0 });
    expect(env.service.stats()).toMatchObject({ created: 2, closed: 1, expired: 1, open: 0 });
  });

  test(
    'a session given up after a 502 and closed by Graph ' + 'during the shutdown is reported closed, not expired',
    async () => {
      const book = await sessions.open(BOOK_A);
      const first = book.id;
      env.service.injectFault({ workbook: BOOK_A, route: 'worksheets', kind: '502' });
      // Its close is slow: the shutdown finds it under way and joins it.
      env.service.injectFault({ workbook: BOOK_A, route: 'closeSession', delayMs: 300 });
      const call = settle(book.api('/worksheets').get());
      await vi.waitFor(() => expect(env.service.stats().requestsByRoute.closeSession).toBe(1));
      const report = await sessions.shutdown();
      expect((await call).ok).toBe(false);
      expect(env.service.sessions().find((s) => s.id === first)?.state).toBe('closed');
      expect(report).toMatchObject({ closed: 2, expired: 0, leftOpen: 0 });
      expect(report.sessions.map((s) => s.outcome)).toEqual(['closed', 'closed']);
    },
  );

  test('open() after shutdown is refused before any request', async () => {
    await sessions.shutdown();
    const before = env.service.stats().requests;
    await expect(sessions.open(BOOK_A)).rejects.toBeInstanceOf(ManagerShutDownError);
    expect(env.service.stats().requests).toBe(before);
  });

  test('shutdown returns one promise to every caller; `await using` on the manager shuts it down', async () => {
    expect(sessions.shutdown()).toBe(sessions.shutdown());
    const other = env.manager();
    {
      await using scoped = other;
      await scoped.open(BOOK_D);
    }
    expect(other.shuttingDown).toBe(true);
    expect(env.service.openSessions(BOOK_D)).toBe(0);
  });
});

describe('over HTTP (emulator): sessions opening while it runs', () => {
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  /** Polls (real time) until `check` is true, for at most `ms`. */
  async function until(check: () => boolean, ms = 3000): Promise<void> {
    const end = Date.now() + ms;
    while (!check()) {
      if (Date.now() > end) throw new Error('condition not reached in time');
      await sleep(5);
    }
  }

  let env: Awaited<ReturnType<typeof overHttp>>;

  beforeEach(async () => {
    env = await overHttp();
  });

  afterEach(async () => {
    await env.close();
  });

  // Regression guard: a reopen under way when shutdown() starts is closed or refused, never left open unreported.
  test('shutdown() closes (or refuses) a persistent session being reopened when it starts', async () => {
    const { service } = env;
    const sessions = env.manager();
    const book = await sessions.open(BOOK_A);
    service.expireSession(book.id);
    service.injectFault({ workbook: BOOK_A, route: 'createSession', delayMs: 300 });
    const call = settle(book.api('/worksheets').get());
    // The reopen's createSession has reached the server and is waiting there.
    await until(() => service.stats().requestsByRoute.createSession === 2);
    const report = await sessions.shutdown({ timeoutMs: 3000 });
    await call;
    await until(() => service.stats().inFlight === 0);
    // Either the reopen was refused and its session closed, or shutdown closed it: nothing open.
    expect({ serverOpen: service.stats().open, leftOpen: report.leftOpen }).toEqual({ serverOpen: 0, leftOpen: 0 });
  });

  // Regression guard: a session created during the shutdown is in its report, even when its close fails.
  test('shutdown() reports a session created during the shutdown whose close failed', async () => {
    const { service } = env;
    const sessions = env.manager();
    service.injectFault({ workbook: BOOK_B, route: 'createSession', delayMs: 300 });
    const opening = settle(sessions.open(BOOK_B));
    await until(() => service.stats().requestsByRoute.createSession === 1);
    // The close that shutdown sends for it fails for good (a 403 is not resent; a close's 500 would be).
    service.injectFault({ workbook: BOOK_B, route: 'closeSession', status: 403, code: 'accessDenied' });
    const report = await sessions.shutdown({ timeoutMs: 3000 });
    expect((await opening).ok).toBe(false);
    expect(service.stats().open).toBe(1);
    expect(report.leftOpen + report.failed).toBeGreaterThanOrEqual(1);
  });
});

describe('on fake timers (emulator behind msw)', () => {
  // Time-based behaviour, in process through msw, on vitest's fake clock.
  const { graph, manager, flush } = fakeTimeGraph();

  describe('its signal', () => {
    test('shutdown({ signal }) stops waiting when the signal aborts, and reports what is left', async () => {
      const sessions = manager();
      await sessions.open(BOOK_A);
      graph.service().setLatency({ fixedMs: 5_000 });
      const controller = new AbortController();
      const shutdown = sessions.shutdown({ timeoutMs: 60_000, signal: controller.signal });
      await flush();
      controller.abort();
      const report = await shutdown;
      expect(report).toMatchObject({ timedOut: true, leftOpen: 1, closed: 0 });
    });
  });

  describe('its deadline', () => {
    test('shutdown stops waiting at its deadline, reports what is left, and its closes stop too', async () => {
      const sessions = manager();
      await sessions.open(BOOK_A);
      await sessions.open(BOOK_B);
      graph.service().injectFault({ route: 'closeSession', count: 50, status: 503, retryAfterSeconds: 2 });
      const shutdown = sessions.shutdown({ timeoutMs: 3_000 });
      await vi.advanceTimersByTimeAsync(3_000);
      const report = await shutdown;
      expect(report).toMatchObject({ closed: 0, leftOpen: 2, timedOut: true });
      expect(report.sessions.map((s) => s.outcome)).toEqual(['pending', 'pending']);
      const sent = graph.service().stats().requestsByRoute.closeSession;
      await vi.advanceTimersByTimeAsync(60_000);
      await flush();
      expect(graph.service().stats().requestsByRoute.closeSession).toBe(sent);
      expect(vi.getTimerCount()).toBe(0);
    });
  });

  describe('a close during a reopen', () => {
    test(
      'close() during a reopen, then shutdown({ timeoutMs }): the shutdown ' +
        'deadline stops that close too, and no close is sent after the report',
      async () => {
        const sessions = manager({ idleTimeoutMs: 5_000, retryBaseDelayMs: 100, retryMaxDelayMs: 200 });
        const book = await sessions.open(BOOK_A);
        await vi.advanceTimersByTimeAsync(6_000);
        await flush();
        expect(book.closeReason).toBe('idle');
        graph.service().injectFault({ workbook: BOOK_A, route: 'createSession', delayMs: 1_000 });
        graph
          .service()
          .injectFault({ workbook: BOOK_A, route: 'closeSession', count: 1_000, status: 503, retryAfterSeconds: null });
        const call = settle(book.api('/worksheets').get());
        await flush();
        expect(book.state).toBe('opening');
        // The user's close comes first and waits for the reopen; the shutdown's close joins it.
        const closed = settle(book.close());
        const shutdown = sessions.shutdown({ timeoutMs: 2_000 });
        await vi.advanceTimersByTimeAsync(2_000);
        await flush();
        const report = await shutdown;
        expect(report).toMatchObject({ leftOpen: 1, timedOut: true });
        const sent = graph.service().stats().requestsByRoute.closeSession;
        await vi.advanceTimersByTimeAsync(30_000);
        await flush();
        expect(graph.service().stats().requestsByRoute.closeSession).toBe(sent);
        expect((await closed).ok).toBe(false);
        expect((await call).ok).toBe(false);
        expect(vi.getTimerCount()).toBe(0);
      },
    );
  });
});

describe('on fake timers (emulator behind msw): a close already under way', () => {
  const { graph, manager, flush } = fakeTimeGraph();

  // Regression guard: a close already under way when shutdown() starts gets the shutdown deadline too.
  test('a close under way when shutdown() starts stops at the shutdown deadline', async () => {
    const sessions = manager();
    const book = await sessions.open(BOOK_B);
    graph.service().injectFault({ workbook: BOOK_B, route: 'closeSession', status: 502, count: 1000 });
    const closing = settle(book.close());
    await flush();
    const shutdown = sessions.shutdown({ timeoutMs: 100 });
    await vi.advanceTimersByTimeAsync(100);
    await flush();
    const report = await shutdown;
    expect(report.timedOut).toBe(true);
    const sentBy = graph.service().stats().requestsByRoute.closeSession;
    await vi.advanceTimersByTimeAsync(30_000);
    await flush();
    expect(graph.service().stats().requestsByRoute.closeSession).toBe(sentBy);
    void closing;
  });
});

describe("over HTTP and in child processes: shutdown racing a session's creation", () => {
  // Shutdowns and aborts racing a session's creation, through the real Graph client over HTTP.
  let env: Awaited<ReturnType<typeof overHttp>> | undefined;

  afterEach(async () => {
    await killAllChildren();
    await env?.close();
    env = undefined;
  });

  afterAll(removeTempDirs);

  const CHILD = fileURLToPath(new URL('../fixtures/shutdown-edges-child.ts', import.meta.url));

  describe('shutdown() while a session is still being created', () => {
    test(
      'a 201 arriving after the shutdown resolved is closed ' + 'at once; the report lists the create as (creating)',
      async () => {
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
      },
    );

    test(
      'a session arriving after the report whose close keeps failing ' +
        'is given up after shutdownTimeoutMs, not retryDeadlineMs',
      async () => {
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
      },
    );

    test(
      'a long-running create still polling when shutdown({ ' + 'timeoutMs }) resolves stops, and the process ends',
      async () => {
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
          // Polling stopped with the shutdown: nothing of the manager keeps the process (operationTimeoutMs is 2
          // minutes).
          expect(await child.waitForExit(15_000)).toEqual({ code: 0, signal: null });
          expect(child.lines).toContain('open rejected ManagerShutDownError');
          expect(emu.service.stats().created).toBe(0);
        } finally {
          await emu.close();
        }
      },
    );
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
    test(
      'the look-up that hangs is cut off when the report ' + 'is out: no create is sent, and the process ends',
      async () => {
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
      },
    );
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
    test(
      'the close runs until its answer; the process ends ' + 'after it, with the journal emptied and its marker gone',
      async () => {
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
      },
    );
  });
});
