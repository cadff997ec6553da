import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SessionJournal } from '../../src/journal/journal.js';
import { PROCESS_OWNER, probeProcess } from '../../src/journal/liveness.js';
import { dropDeadOwnerMarkers } from '../../src/journal/maintenance.js';
import {
  DEAD_PID,
  closeLine,
  fileLines,
  killAllChildren,
  openLine,
  spawnChild,
  removeTempDirs,
  sessionRecord,
  tempDir,
} from '../fixtures/journal-spawn.js';

const record = sessionRecord;

afterEach(async () => {
  await killAllChildren();
});

afterAll(removeTempDirs);

describe('SessionJournal', () => {
  it(
    'record() and remove() append one line each; scan() ' + 'lists what is still open, as live for this process',
    async () => {
      const dir = await tempDir();
      const file = path.join(dir, 'j.journal');
      const journal = new SessionJournal({ path: file });
      await journal.record(record('session-one-0123456789'));
      await journal.record(record('session-two-0123456789', false));
      await journal.record(record('session-three-0123456789'));
      await journal.remove('session-two-0123456789');

      const lines = (await fileLines(file)).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => [l.op, l.id])).toEqual([
        ['open', 'session-one-0123456789'],
        ['open', 'session-two-0123456789'],
        ['open', 'session-three-0123456789'],
        ['close', 'session-two-0123456789'],
      ]);
      expect(lines[0]).toMatchObject({
        workbook: '/me/drive/items/A',
        persistChanges: true,
        pid: process.pid,
        owner: PROCESS_OWNER,
        host: os.hostname(),
      });

      const other = new SessionJournal({ path: file });
      const scan = await other.scan();
      expect(scan.live.map((e) => e.id)).toEqual(['session-one-0123456789', 'session-three-0123456789']);
      expect(scan.orphans).toEqual([]);
      expect(await other.read()).toEqual({ entries: [], corrupt: [] });
      await journal.close();
    },
  );

  it('remove() of an id it never recorded is a no-op and writes nothing', async () => {
    const dir = await tempDir();
    const journal = new SessionJournal({ path: dir });
    await journal.record(record('known-session-0123456789'));
    await journal.remove('never-recorded-0123456789');
    expect(await fileLines(path.join(dir, 'sessions.journal'))).toHaveLength(1);
    await journal.close();
  });

  it('read() returns the sessions of a process that is gone, with their owner fields', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'j.journal');
    await fs.writeFile(
      file,
      `${openLine({ id: 'orphan-a-0123456789', createdAt: 5 })}\n${openLine({ id: 'orphan-b-0123456789' })}\n` +
        `${closeLine('orphan-b-0123456789')}\n`,
    );
    const { entries, corrupt } = await new SessionJournal({ path: file }).read();
    expect(corrupt).toEqual([]);
    expect(entries).toEqual([
      {
        workbook: '/me/drive/items/A',
        id: 'orphan-a-0123456789',
        persistChanges: true,
        createdAt: 5,
        pid: DEAD_PID,
        owner: 'deadowner',
      },
    ]);
  });

  it('creates the journal and its owner marker with mode 0o600, and missing directories with 0o700', async () => {
    const dir = path.join(await tempDir(), 'nested', 'deeper');
    const journal = new SessionJournal({ path: `${dir}/` });
    await journal.record(record('mode-session-0123456789'));
    expect(await journal.file()).toBe(path.join(dir, 'sessions.journal'));
    expect((await fs.stat(dir)).mode & 0o777).toBe(0o700);
    expect((await fs.stat(path.join(dir, 'sessions.journal'))).mode & 0o777).toBe(0o600);
    const marker = path.join(dir, `sessions.journal.owner-${PROCESS_OWNER}.lock`);
    expect((await fs.stat(marker)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await fs.readFile(marker, 'utf8'))).toMatchObject({
      pid: process.pid,
      owner: PROCESS_OWNER,
    });
    await journal.close();
  });

  it('an existing directory as `path` holds a file named sessions.journal', async () => {
    const dir = await tempDir();
    const journal = new SessionJournal({ path: dir });
    expect(await journal.file()).toBe(path.join(dir, 'sessions.journal'));
  });

  it(
    'close() removes the owner marker once the last journal ' + 'instance of this process on that file closes',
    async () => {
      const dir = await tempDir();
      const a = new SessionJournal({ path: dir });
      const b = new SessionJournal({ path: dir });
      await a.record(record('marker-a-0123456789'));
      await b.record(record('marker-b-0123456789'));
      const marker = path.join(dir, `sessions.journal.owner-${PROCESS_OWNER}.lock`);
      await a.remove('marker-a-0123456789');
      await a.close();
      await expect(fs.stat(marker)).resolves.toBeTruthy();
      // b still has a session recorded: its process is alive for other processes' eyes.
      await b.close();
      await expect(fs.stat(marker)).resolves.toBeTruthy();
      await b.remove('marker-b-0123456789');
      await b.close();
      await expect(fs.stat(marker)).rejects.toMatchObject({ code: 'ENOENT' });
    },
  );

  it('reports corrupt and truncated lines with their line numbers and keeps every good record', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'j.journal');
    await fs.copyFile(fileURLToPath(new URL('../fixtures/journal/corrupt.jsonl', import.meta.url)), file);
    const journal = new SessionJournal({ path: file });
    const { entries, corrupt } = await journal.read();
    expect(entries.map((e) => e.id)).toEqual(['good-session-one-0123456789', 'good-session-two-0123456789']);
    expect(corrupt).toEqual([
      { line: 2, reason: 'not valid JSON' },
      { line: 3, reason: 'not valid JSON' },
      { line: 4, reason: 'unknown `op` "rename" (string)' },
      { line: 5, reason: 'open record without a positive integer `pid`' },
      { line: 6, reason: 'not a JSON object' },
      { line: 11, reason: 'truncated line (no newline at end of file)' },
    ]);

    // The file ends in a torn line: the next record starts on a line of its own and is read back.
    await journal.record(record('after-tear-0123456789'));
    const scan = await journal.scan();
    expect(scan.live.map((e) => e.id)).toEqual(['after-tear-0123456789']);
    expect(scan.corrupt.at(-1)).toEqual({ line: 11, reason: 'not valid JSON' });
    await journal.close();
  });

  it('never returns the sessions of a live process, and returns them once that process is killed', async () => {
    const dir = await tempDir();
    const child = spawnChild('./journal/writer.ts', [dir, '4', 'live']);
    await child.waitForLine(/^recorded 4/);
    const journal = new SessionJournal({ path: dir });
    const scan = await journal.scan();
    expect(scan.orphans).toEqual([]);
    expect(scan.live).toHaveLength(4);
    expect(scan.live.every((e) => e.pid === child.process.pid && e.owner !== PROCESS_OWNER)).toBe(true);

    await child.kill();
    const after = await journal.read();
    expect(after.entries.map((e) => e.id).sort()).toEqual([0, 1, 2, 3].map((i) => `live-session-${i}-abcdefghijkl`));
  });

  it('a process that removed its sessions and closed its journal leaves nothing behind', async () => {
    const dir = await tempDir();
    const child = spawnChild('./journal/writer.ts', [dir, '2', 'tidy']);
    await child.waitForLine(/^recorded 2/);
    child.process.stdin?.write('tidy-session-0-abcdefghijkl\ntidy-session-1-abcdefghijkl\nexit\n');
    await child.waitForLine(/^closed/);
    await child.waitForExit();
    const journal = new SessionJournal({ path: dir });
    expect(await journal.scan()).toEqual({ orphans: [], live: [], corrupt: [] });
    expect((await fs.readdir(dir)).sort()).toEqual(['sessions.journal']);
  });

  it(
    'treats a live pid whose owner token has no marker, or whose ' +
      'marker belongs to another process start, as reused',
    async () => {
      const dir = await tempDir();
      const file = path.join(dir, 'j.journal');
      const journal = new SessionJournal({ path: file });
      await journal.record(record('mine-0123456789'));
      const own = await probeProcess(process.pid);
      expect(own.alive).toBe(true);
      await fs.writeFile(
        file,
        [
          openLine({ id: 'no-marker-0123456789', pid: process.pid, owner: 'nomarker' }),
          openLine({ id: 'other-start-0123456789', pid: process.pid, owner: 'otherstart' }),
          openLine({ id: 'other-pid-0123456789', pid: process.pid, owner: 'otherpid' }),
          openLine({ id: 'older-rival-0123456789', pid: process.pid, owner: 'olderrival' }),
          openLine({ id: 'same-start-0123456789', pid: process.pid, owner: 'samestart' }),
          '',
        ].join('\n'),
        { flag: 'a' },
      );
      const marker = (owner: string, content: object) =>
        fs.writeFile(`${file}.owner-${owner}.lock`, JSON.stringify(content));
      await marker('otherstart', { pid: process.pid, startId: 'boot:1', at: Date.now() });
      await marker('otherpid', { pid: DEAD_PID, at: Date.now() });
      // No start id (as on platforms without /proc): this process's own marker is newer, so this one is stale.
      await marker('olderrival', { pid: process.pid, at: 1 });
      // A marker naming this very process start is indistinguishable from a live owner.
      await marker('samestart', {
        pid: process.pid,
        ...(own.startId === undefined ? {} : { startId: own.startId }),
        at: Date.now() + 60_000,
      });

      const scan = await journal.scan();
      expect(scan.orphans.map((e) => e.id)).toEqual([
        'no-marker-0123456789',
        'other-start-0123456789',
        'other-pid-0123456789',
        'older-rival-0123456789',
      ]);
      expect(scan.live.map((e) => e.id)).toEqual(['mine-0123456789', 'same-start-0123456789']);
      await journal.close();
    },
  );

  it('never judges sessions recorded on another host orphans: pids there cannot be probed from here', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'sessions.journal');
    await fs.writeFile(
      file,
      `${openLine({ id: 'elsewhere-0123456789', host: 'some-other-host', owner: 'remote' })}\n` +
        `${openLine({ id: 'here-0123456789', host: os.hostname() })}\n`,
    );
    await fs.writeFile(`${file}.owner-remote.lock`, JSON.stringify({ pid: DEAD_PID, host: 'some-other-host', at: 1 }));
    const journal = new SessionJournal({ path: dir });
    const scan = await journal.scan();
    expect(scan.live).toEqual([expect.objectContaining({ id: 'elsewhere-0123456789', host: 'some-other-host' })]);
    expect(scan.orphans.map((e) => e.id)).toEqual(['here-0123456789']);
    expect(await dropDeadOwnerMarkers(journal)).toBe(0);
    expect(await fs.readdir(dir)).toContain('sessions.journal.owner-remote.lock');
  });

  it('compacts by itself after `compactAfterRemoves` removes', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'j.journal');
    const journal = new SessionJournal({ path: file, compactAfterRemoves: 10 });
    for (let i = 0; i < 12; i++) await journal.record(record(`auto-${i}-0123456789`));
    for (let i = 0; i < 10; i++) await journal.remove(`auto-${i}-0123456789`);
    expect(await fileLines(file)).toHaveLength(2);
    await journal.close();
  });

  it('names bad input', async () => {
    expect(() => new SessionJournal({ path: 5 } as never)).toThrow(
      new TypeError('Expected `path` to be a non-empty string, got `5` (number)'),
    );
    expect(() => new SessionJournal({ path: '' })).toThrow('Expected `path` to be a non-empty string, got "" (string)');
    expect(() => new SessionJournal({ path: '/tmp/x', colour: 'red' } as never)).toThrow(
      'Unknown SessionJournal option `colour`',
    );
    expect(() => new SessionJournal({ path: '/tmp/x', compactAfterRemoves: 0 })).toThrow(
      'Expected `compactAfterRemoves` to be an integer >= 1, got `0` (number)',
    );
    expect(() => new SessionJournal(undefined as never)).toThrow(
      'Expected `options` to be an object with a `path`, got `undefined`',
    );
    const journal = new SessionJournal({ path: await tempDir() });
    await expect(journal.record({ ...record('x-0123456789'), id: 42 } as never)).rejects.toThrow(
      'Expected `id` to be a non-empty string, got `42` (number)',
    );
    await expect(journal.record({ ...record('x-0123456789'), createdAt: Number.NaN })).rejects.toThrow(
      'Expected `createdAt` to be a finite number (epoch ms), got `NaN` (number)',
    );
    await expect(journal.record({ ...record('x-0123456789'), persistChanges: 'yes' } as never)).rejects.toThrow(
      'Expected `persistChanges` to be a boolean, got "yes" (string)',
    );
    await expect(journal.remove(undefined as never)).rejects.toThrow(
      'Expected `id` to be a non-empty string, got `undefined`',
    );
  });
});
