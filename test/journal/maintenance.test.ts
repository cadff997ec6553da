// The journal's upkeep, which recovery and the journal itself run: compaction and the lock.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SessionJournal } from '../../src/journal/journal.js';
import { compact, lock } from '../../src/journal/maintenance.js';
import { DEAD_PID, fileLines, removeTempDirs, sessionRecord, tempDir } from '../fixtures/journal-spawn.js';

const record = sessionRecord;

afterAll(removeTempDirs);

describe('journal upkeep', () => {
  it('compact() rewrites the journal with the open records only, atomically, keeping mode 0o600', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'j.journal');
    const journal = new SessionJournal({ path: file });
    for (let i = 0; i < 20; i++) await journal.record(record(`compact-${i}-0123456789`));
    for (let i = 0; i < 15; i++) await journal.remove(`compact-${i}-0123456789`);
    await fs.appendFile(file, 'garbage line\n');
    expect(await fileLines(file)).toHaveLength(36);

    const result = await compact(journal);
    expect(result).toEqual({ compacted: true, kept: 5, dropped: 31 });
    expect(await fileLines(file)).toHaveLength(5);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect((await journal.scan()).live.map((e) => e.id)).toEqual(
      [15, 16, 17, 18, 19].map((i) => `compact-${i}-0123456789`),
    );
    // The corrupt line was moved aside for an operator, not silently dropped.
    expect(await fs.readFile(`${file}.corrupt`, 'utf8')).toBe('garbage line\n');
    expect((await fs.readdir(dir)).filter((n) => n.includes('.tmp-') || n === 'j.journal.lock')).toEqual([]);

    // Not worth it when most lines are still open.
    expect((await compact(journal)).compacted).toBe(false);
    await journal.close();
  });

  it('loses no record appended while a compaction runs', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'j.journal');
    const writer = new SessionJournal({ path: file });
    const compactor = new SessionJournal({ path: file });
    for (let i = 0; i < 40; i++) await writer.record(record(`old-${i}-0123456789`));
    for (let i = 0; i < 40; i++) await writer.remove(`old-${i}-0123456789`);
    const writes = Array.from({ length: 60 }, (_, i) => writer.record(record(`new-${i}-0123456789`)));
    const compactions = [compact(compactor, { force: true }), compact(compactor, { force: true })];
    await Promise.all([...writes, ...compactions]);
    const ids = new Set((await compactor.scan()).live.map((e) => e.id));
    expect(ids.size).toBe(60);
    for (let i = 0; i < 60; i++) expect(ids.has(`new-${i}-0123456789`)).toBe(true);
    await writer.close();
  });

  it('lock() is exclusive, waits for the holder, and takes over a lock whose holder process is gone', async () => {
    const dir = await tempDir();
    const a = new SessionJournal({ path: dir });
    const b = new SessionJournal({ path: dir });
    const release = await lock(a);
    expect(release).toBeTypeOf('function');
    expect(await lock(b, { wait: false })).toBeUndefined();
    const waiting = lock(b);
    let got = false;
    void waiting.then(() => {
      got = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toBe(false);
    await release?.();
    const releaseB = await waiting;
    await releaseB?.();

    await fs.writeFile(path.join(dir, 'sessions.journal.lock'), JSON.stringify({ pid: DEAD_PID, token: 'x', at: 1 }));
    const taken = await lock(a, { wait: false });
    expect(taken).toBeTypeOf('function');
    await taken?.();
    await expect(fs.stat(path.join(dir, 'sessions.journal.lock'))).rejects.toMatchObject({ code: 'ENOENT' });

    // Held from another host: only taken over once untouched for 5 minutes.
    const lockPath = path.join(dir, 'sessions.journal.lock');
    await fs.writeFile(lockPath, JSON.stringify({ pid: DEAD_PID, host: 'some-other-host', token: 'y', at: 1 }));
    expect(await lock(a, { wait: false })).toBeUndefined();
    const old = new Date(Date.now() - 301_000);
    await fs.utimes(lockPath, old, old);
    const foreign = await lock(a, { wait: false });
    expect(foreign).toBeTypeOf('function');
    await foreign?.();
  });

  it('lock() rejects with the signal reason when aborted while waiting', async () => {
    const dir = await tempDir();
    const release = await lock(new SessionJournal({ path: dir }));
    const controller = new AbortController();
    const waiting = lock(new SessionJournal({ path: dir }), { signal: controller.signal });
    controller.abort(new Error('stop waiting'));
    await expect(waiting).rejects.toThrow('stop waiting');
    await release?.();
  });
});
