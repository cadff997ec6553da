import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, test } from 'vitest';
import { SessionJournal } from '../src/index.js';
import { openLine, removeTempDirs, tempDir } from './fixtures/journal-spawn.js';
import { BOOK_A, BOOK_B, overHttp } from './helpers/graph.js';

// The manager and its journal together, in one process, against the emulator over HTTP.
let env: Awaited<ReturnType<typeof overHttp>>;
beforeEach(async () => {
  env = await overHttp();
});
afterEach(async () => {
  await env.close();
});
afterAll(removeTempDirs);

/** Creates a session on the emulator the way a process that later crashed would have. */
async function createdElsewhere(workbook: string): Promise<string> {
  const response = await env.service.handle(
    new Request(`${env.emulator.url}/v1.0${workbook}/workbook/createSession`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.emulator.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ persistChanges: true }),
    }),
  );
  return ((await response.json()) as { id: string }).id;
}

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
    const orphans = [await createdElsewhere(BOOK_A), await createdElsewhere(BOOK_B)];
    await fs.writeFile(path.join(dir, 'sessions.journal'), orphans.map((id, i) => `${openLine({ id, workbook: i === 0 ? BOOK_A : BOOK_B })}\n`).join(''), { mode: 0o600 });
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
});
