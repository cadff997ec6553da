import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { SessionJournal } from '../../src/index.js';
import { openLine, removeTempDirs, tempDir } from '../fixtures/journal-spawn.js';
import { BOOK_A, BOOK_B, createdElsewhere, overHttp } from '../helpers/graph.js';

// The manager and its journal together, in one process, against the emulator over HTTP.
let env: Awaited<ReturnType<typeof overHttp>>;
beforeEach(async () => {
  env = await overHttp();
});
afterEach(async () => {
  await env.close();
});
afterAll(removeTempDirs);

describe('SessionManager with a journal', () => {
  test('records each session while it is open and marks it when it closes', async () => {
    const dir = await tempDir();
    const sessions = env.manager({ journal: { path: dir } });
    const book = await sessions.open(BOOK_A);
    const journal = new SessionJournal({ path: dir });
    // This process is alive: its session is live, not an orphan.
    expect((await journal.scan()).live.map((e) => e.id)).toEqual([book.id]);
    expect((await journal.scan()).orphans).toEqual([]);
    await book.close();
    expect((await journal.scan()).live).toEqual([]);
    const mode = (await fs.stat(path.join(dir, 'sessions.journal'))).mode & 0o777;
    expect(mode).toBe(0o600);
  });

  test('recoverOnStart closes what a process that is gone left open, and nothing of its own', async () => {
    const dir = await tempDir();
    const orphans = [await createdElsewhere(env.emulator, BOOK_A), await createdElsewhere(env.emulator, BOOK_B)];
    await fs.writeFile(
      path.join(dir, 'sessions.journal'),
      orphans.map((id, i) => `${openLine({ id, workbook: i === 0 ? BOOK_A : BOOK_B })}\n`).join(''),
      { mode: 0o600 },
    );
    expect(env.service.stats().open).toBe(2);
    const sessions = env.manager({ journal: { path: dir }, recoverOnStart: true });
    const mine = await sessions.open(BOOK_A);
    // shutdown() waits for the recovery started with the manager.
    const report = await sessions.shutdown();
    expect(report).toMatchObject({ closed: 1, leftOpen: 0 });
    expect(env.service.sessions().find((s) => s.id === mine.id)?.state).toBe('closed');
    expect(orphans.map((id) => env.service.sessions().find((s) => s.id === id)?.state)).toEqual(['closed', 'closed']);
    expect(env.service.stats().open).toBe(0);
  });

  test(
    'recoverOnStart: a recovery close still retrying when shutdown({ timeoutMs }) reports ' +
      "stops then, like the manager's own closes",
    async () => {
      const dir = await tempDir();
      const orphan = await createdElsewhere(env.emulator, BOOK_A);
      await fs.writeFile(path.join(dir, 'sessions.journal'), `${openLine({ id: orphan, workbook: BOOK_A })}\n`, {
        mode: 0o600,
      });
      env.service.injectFault({
        workbook: BOOK_A,
        route: 'closeSession',
        count: 10_000,
        status: 503,
        retryAfterSeconds: null,
      });
      const sessions = env.manager({
        journal: { path: dir },
        recoverOnStart: true,
        retryBaseDelayMs: 10,
        retryMaxDelayMs: 20,
      });
      await vi.waitFor(() => expect(env.service.stats().requestsByRoute.closeSession).toBeGreaterThan(1));
      await sessions.shutdown({ timeoutMs: 100 });
      // At most the close on the wire then is still answered; nothing is sent after it.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const sent = env.service.stats().requestsByRoute.closeSession;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(env.service.stats().requestsByRoute.closeSession).toBe(sent);
      // The orphan stays listed for the next start to close.
      expect((await new SessionJournal({ path: dir }).scan()).orphans.map((e) => e.id)).toEqual([orphan]);
    },
  );
});
