import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SessionJournal } from '../../src/journal/journal.js';
import { lock } from '../../src/journal/maintenance.js';
import { recoverOrphans, type SessionCloser } from '../../src/journal/recovery.js';
import { DEAD_PID, deadOwnerMarker, openLine, removeTempDirs, tempDir } from '../fixtures/journal-spawn.js';

const NOW = 1_800_000_000_000;
const now = () => NOW;

async function journalWith(lines: string[]): Promise<{ dir: string; file: string; journal: SessionJournal }> {
  const dir = await tempDir();
  const file = path.join(dir, 'sessions.journal');
  await fs.writeFile(file, lines.map((l) => `${l}\n`).join(''), { mode: 0o600 });
  return { dir, file, journal: new SessionJournal({ path: dir }) };
}

function countingCloser(answer: (id: string) => 'closed' | 'expired' | Error = () => 'closed', delayMs = 0) {
  const calls: Array<[string, string]> = [];
  const closer: SessionCloser = async (workbook, id) => {
    calls.push([workbook, id]);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    const result = answer(id);
    if (result instanceof Error) throw result;
    return result;
  };
  return { calls, closer };
}

const orphanIds = (n: number) => Array.from({ length: n }, (_, i) => `orphan-session-${i}-0123456789abcdef`);

afterAll(removeTempDirs);

describe('recoverOrphans', () => {
  it(
    'closes the sessions of processes that are gone, drops ' + 'them from the journal, and reports shortened ids',
    async () => {
      const ids = orphanIds(3);
      const { journal } = await journalWith(
        ids.map((id, i) => openLine({ id, createdAt: NOW - 1000, workbook: `/me/drive/items/W${i}` })),
      );
      const { calls, closer } = countingCloser();
      const report = await recoverOrphans(journal, closer, { now });
      expect(calls).toEqual(ids.map((id, i) => [`/me/drive/items/W${i}`, id]));
      expect(report.closed.map((s) => s.id)).toEqual(['orphan…cdef', 'orphan…cdef', 'orphan…cdef']);
      expect(report.closed[0]).toEqual({
        id: 'orphan…cdef',
        workbook: '/me/drive/items/W0',
        persistChanges: true,
        createdAt: NOW - 1000,
        pid: DEAD_PID,
      });
      expect(report).toMatchObject({
        dryRun: false,
        expired: [],
        failed: [],
        skippedLive: [],
        wouldClose: [],
        corrupt: [],
      });
      expect(JSON.stringify(report)).not.toContain(ids[0]);

      expect(await journal.read()).toEqual({ entries: [], corrupt: [] });
      const again = await recoverOrphans(journal, closer, { now });
      expect(again.closed).toEqual([]);
      expect(calls).toHaveLength(3);
    },
  );

  it('two recoverers at once, on two journal instances of one path, close each orphan once', async () => {
    const ids = orphanIds(12);
    const { dir } = await journalWith(ids.map((id) => openLine({ id, createdAt: NOW - 1000 })));
    const { calls, closer } = countingCloser(() => 'closed', 5);
    const [a, b] = await Promise.all([
      recoverOrphans(new SessionJournal({ path: dir }), closer, { now }),
      recoverOrphans(new SessionJournal({ path: dir }), closer, { now }),
    ]);
    expect(calls.map(([, id]) => id).sort()).toEqual([...ids].sort());
    expect(a.closed.length + b.closed.length).toBe(12);
    expect(a.failed.length + b.failed.length).toBe(0);
  });

  it('with dryRun lists what would be closed and closes, writes and locks nothing', async () => {
    const ids = orphanIds(2);
    const { file, journal } = await journalWith([
      openLine({ id: ids[0] ?? '', createdAt: NOW - 1000 }),
      openLine({ id: ids[1] ?? '', createdAt: NOW - 400_000, persistChanges: true }),
    ]);
    // The owner's last heartbeat came before both sessions were created.
    await deadOwnerMarker(file, NOW - 500_000);
    const before = await fs.readFile(file, 'utf8');
    // Another recoverer holding the lock does not delay a dry run.
    const release = await lock(new SessionJournal({ path: file }));
    const { calls, closer } = countingCloser();
    const report = await recoverOrphans(journal, closer, { dryRun: true, now });
    await release?.();
    expect(calls).toEqual([]);
    expect(report.dryRun).toBe(true);
    expect(report.wouldClose.map((s) => s.createdAt)).toEqual([NOW - 1000]);
    expect(report.expired).toEqual([expect.objectContaining({ createdAt: NOW - 400_000, expiredBy: 'age' })]);
    expect(report.closed).toEqual([]);
    expect(await fs.readFile(file, 'utf8')).toBe(before);
  });

  it(
    'skips orphans past Graph expiry (5 min persistent, 7 min non-persistent, ' +
      'from their last possible use) and drops them',
    async () => {
      const { file, journal } = await journalWith([
        openLine({ id: 'persist-old-0123456789', persistChanges: true, createdAt: NOW - 300_000 }),
        openLine({ id: 'persist-new-0123456789', persistChanges: true, createdAt: NOW - 299_999 }),
        openLine({ id: 'scratch-mid-0123456789', persistChanges: false, createdAt: NOW - 400_000 }),
        openLine({ id: 'scratch-old-0123456789', persistChanges: false, createdAt: NOW - 420_000 }),
      ]);
      // The owner's heartbeat stopped before these were created: createdAt is their last possible use.
      await deadOwnerMarker(file, NOW - 600_000);
      const { calls, closer } = countingCloser();
      const report = await recoverOrphans(journal, closer, { now });
      expect(calls.map(([, id]) => id)).toEqual(['persist-new-0123456789', 'scratch-mid-0123456789']);
      expect(report.expired.map((s) => [s.id, s.expiredBy])).toEqual([
        ['persis…6789', 'age'],
        ['scratc…6789', 'age'],
      ]);
      expect((await journal.scan()).orphans).toEqual([]);
    },
  );

  it('bounds the last use by the owner’s heartbeat, and closes what has no bound', async () => {
    const { file, journal } = await journalWith([
      openLine({ id: 'kept-alive-0123456789', createdAt: NOW - 3_600_000 }),
    ]);
    // Created an hour ago, but its owner was alive 2 minutes ago: Graph may still hold it.
    await deadOwnerMarker(file, NOW - 120_000);
    const { calls, closer } = countingCloser();
    await recoverOrphans(journal, closer, { now });
    expect(calls.map(([, id]) => id)).toEqual(['kept-alive-0123456789']);
    // With no marker at all nothing bounds its last use: it is closed too.
    const bare = await journalWith([openLine({ id: 'no-marker-0123456789', createdAt: NOW - 3_600_000 })]);
    const counted = countingCloser();
    await recoverOrphans(bare.journal, counted.closer, { now });
    expect(counted.calls).toHaveLength(1);
  });

  it('closes every orphan regardless of age with an expiry of Infinity', async () => {
    const { journal } = await journalWith([openLine({ id: 'ancient-0123456789', createdAt: 0 })]);
    const { calls, closer } = countingCloser();
    await recoverOrphans(journal, closer, { now, persistentExpiryMs: Infinity });
    expect(calls).toHaveLength(1);
  });

  it('counts a session Graph no longer knows as expired, and keeps a failed one for the next recovery', async () => {
    const gone = 'graph-forgot-0123456789';
    const failing = 'will-fail-0123456789abcd';
    const { journal } = await journalWith([
      openLine({ id: gone, createdAt: NOW }),
      openLine({ id: failing, createdAt: NOW }),
    ]);
    const { closer } = countingCloser((id) =>
      id === gone ? 'expired' : new Error(`close of ${failing} failed: Bearer abc.def`),
    );
    const report = await recoverOrphans(journal, closer, { now });
    expect(report.expired).toEqual([expect.objectContaining({ id: 'graph-…6789', expiredBy: 'graph' })]);
    expect(report.failed).toEqual([
      expect.objectContaining({ id: 'will-f…abcd', error: 'Error: close of will-f…abcd failed: Bearer [redacted]' }),
    ]);
    expect((await journal.read()).entries.map((e) => e.id)).toEqual([failing]);

    const retry = countingCloser();
    const second = await recoverOrphans(journal, retry.closer, { now });
    expect(second.closed.map((s) => s.id)).toEqual(['will-f…abcd']);
    expect((await journal.read()).entries).toEqual([]);
  });

  it('never touches the sessions of a live process, reporting them as skippedLive', async () => {
    const dir = await tempDir();
    const mine = new SessionJournal({ path: dir });
    await mine.record({
      workbook: '/me/drive/items/A',
      id: 'my-live-session-0123456789',
      persistChanges: true,
      createdAt: NOW,
    });
    await fs.appendFile(
      path.join(dir, 'sessions.journal'),
      `${openLine({ id: 'dead-one-0123456789', createdAt: NOW })}\n`,
    );
    const { calls, closer } = countingCloser();
    const report = await recoverOrphans(new SessionJournal({ path: dir }), closer, { now });
    expect(calls.map(([, id]) => id)).toEqual(['dead-one-0123456789']);
    expect(report.skippedLive).toEqual([expect.objectContaining({ id: 'my-liv…6789', pid: process.pid })]);
    expect((await mine.scan()).live.map((e) => e.id)).toEqual(['my-live-session-0123456789']);
    await mine.close();
  });

  it('reports corrupt lines and recovers the good ones around them', async () => {
    const { journal } = await journalWith([
      openLine({ id: 'good-a-0123456789', createdAt: NOW }),
      '{"op":"open","id":"tor',
      openLine({ id: 'good-b-0123456789', createdAt: NOW }),
    ]);
    const { calls, closer } = countingCloser();
    const report = await recoverOrphans(journal, closer, { now });
    expect(calls.map(([, id]) => id)).toEqual(['good-a-0123456789', 'good-b-0123456789']);
    expect(report.corrupt).toEqual([{ line: 2, reason: 'not valid JSON' }]);
  });

  it('removes owner markers of processes that are gone and compacts the journal under its lock', async () => {
    const ids = orphanIds(10);
    const { dir, file, journal } = await journalWith(ids.map((id) => openLine({ id, createdAt: NOW, owner: 'gone' })));
    await fs.writeFile(`${file}.owner-gone.lock`, JSON.stringify({ pid: DEAD_PID, at: 1 }));
    await recoverOrphans(journal, countingCloser().closer, { now });
    expect(await fs.readdir(dir)).toEqual(['sessions.journal']);
    expect(await fs.readFile(file, 'utf8')).toBe('');
  });

  it('waits for a recoverer that holds the lock, then finds its orphans already closed', async () => {
    const { dir } = await journalWith(orphanIds(4).map((id) => openLine({ id, createdAt: NOW })));
    const first = countingCloser(() => 'closed', 30);
    const second = countingCloser();
    const running = recoverOrphans(new SessionJournal({ path: dir }), first.closer, { now });
    await new Promise((r) => setTimeout(r, 10));
    const late = await recoverOrphans(new SessionJournal({ path: dir }), second.closer, { now });
    expect((await running).closed).toHaveLength(4);
    expect(second.calls).toEqual([]);
    expect(late.closed).toEqual([]);
  });

  it('closes at most `concurrency` orphans at once, and every one of them', async () => {
    const { journal } = await journalWith(orphanIds(10).map((id) => openLine({ id, createdAt: NOW })));
    let inFlight = 0;
    let most = 0;
    const closer: SessionCloser = async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return 'closed';
    };
    const report = await recoverOrphans(journal, closer, { now, concurrency: 3 });
    expect(report.closed).toHaveLength(10);
    expect(most).toBe(3);
  });

  it('rejects with the signal reason when aborted, leaving unclosed orphans in the journal', async () => {
    const { journal } = await journalWith(orphanIds(5).map((id) => openLine({ id, createdAt: NOW })));
    const controller = new AbortController();
    const closer: SessionCloser = async () => {
      controller.abort(new Error('operator stopped'));
      return 'closed';
    };
    await expect(recoverOrphans(journal, closer, { now, concurrency: 1, signal: controller.signal })).rejects.toThrow(
      'operator stopped',
    );
    expect((await journal.read()).entries).toHaveLength(4);
    await expect(fs.readdir(path.dirname(await journal.file()))).resolves.not.toContain('sessions.journal.lock');
    await expect(recoverOrphans(journal, closer, { signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow(
      'already',
    );
  });

  it('names bad input', async () => {
    const journal = new SessionJournal({ path: await tempDir() });
    const { closer } = countingCloser();
    await expect(recoverOrphans({} as never, closer)).rejects.toThrow(
      'Expected `journal` to be a SessionJournal, got a value of type object',
    );
    await expect(recoverOrphans(journal, 'close' as never)).rejects.toThrow(
      'Expected `closer` to be a function, got "close" (string)',
    );
    await expect(recoverOrphans(journal, closer, { dryrun: true } as never)).rejects.toThrow(
      'Unknown recover option `dryrun`',
    );
    await expect(recoverOrphans(journal, closer, { persistentExpiryMs: -1 })).rejects.toThrow(
      'Expected `persistentExpiryMs` to be a number >= 0 (or Infinity), got `-1` (number)',
    );
    await expect(recoverOrphans(journal, closer, { concurrency: 0 })).rejects.toThrow(
      'Expected `concurrency` to be an integer >= 1, got `0` (number)',
    );
  });
});
