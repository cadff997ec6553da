// The one heartbeat helper, and the two files kept fresh with it: an owner marker and the lock.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { startHeartbeat } from '../../src/journal/heartbeat.js';
import { PROCESS_OWNER } from '../../src/journal/liveness.js';
import { acquireLockFile } from '../../src/journal/lock-file.js';
import { HEARTBEAT_MS, holdOwnMarker, markerPath, releaseOwnMarker } from '../../src/journal/owner-markers.js';
import { removeTempDirs, tempDir } from '../fixtures/journal-spawn.js';

const NOW = Date.UTC(2030, 0, 1);
const LONG_AGO = new Date(Date.UTC(2020, 0, 1));

/** Fakes the interval timers and the clock only: file I/O and setTimeout stay real. */
function fakeIntervals(): void {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(NOW);
}

/** Waits (on real timers) until the file's modification time is within a second of `time`. */
async function touchedAt(file: string, time: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (Math.abs((await fs.stat(file)).mtimeMs - time) < 1000) return true;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return false;
}

async function mtime(file: string): Promise<number> {
  return (await fs.stat(file)).mtimeMs;
}

/** Timers that keep the process alive. */
const refTimers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

afterEach(() => {
  vi.useRealTimers();
});

afterAll(removeTempDirs);

describe('startHeartbeat()', () => {
  it('touches the file every intervalMs with the time then, and stops when told', async () => {
    fakeIntervals();
    const file = path.join(await tempDir(), 'held');
    await fs.writeFile(file, '');
    await fs.utimes(file, LONG_AGO, LONG_AGO);
    const stop = startHeartbeat(file, 60_000);
    expect(vi.getTimerCount()).toBe(1);

    await vi.advanceTimersByTimeAsync(59_999);
    expect(await mtime(file)).toBe(LONG_AGO.getTime());
    await vi.advanceTimersByTimeAsync(1);
    expect(await touchedAt(file, NOW + 60_000)).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await touchedAt(file, NOW + 120_000)).toBe(true);

    stop();
    expect(vi.getTimerCount()).toBe(0);
    await fs.utimes(file, LONG_AGO, LONG_AGO);
    await vi.advanceTimersByTimeAsync(600_000);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await mtime(file)).toBe(LONG_AGO.getTime());
  });

  it('never holds the process, and a touch of a file that is gone is ignored', async () => {
    const file = path.join(await tempDir(), 'gone');
    const before = refTimers();
    const stop = startHeartbeat(file, 5);
    expect(refTimers()).toBe(before);
    // Several touches fail with ENOENT: none may surface as an unhandled rejection.
    await new Promise((resolve) => setTimeout(resolve, 40));
    stop();
    await expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('the files kept fresh by a heartbeat', () => {
  it(
    'this process’s owner marker is touched every HEARTBEAT_MS ' + 'while held, and its heartbeat ends on release',
    async () => {
      fakeIntervals();
      const file = path.join(await tempDir(), 'sessions.journal');
      const marker = markerPath(file, PROCESS_OWNER);
      await holdOwnMarker(file);
      expect(vi.getTimerCount()).toBe(1);
      await fs.utimes(marker, LONG_AGO, LONG_AGO);
      await vi.advanceTimersByTimeAsync(HEARTBEAT_MS);
      expect(await touchedAt(marker, NOW + HEARTBEAT_MS)).toBe(true);

      await releaseOwnMarker(file);
      expect(vi.getTimerCount()).toBe(0);
      await expect(fs.stat(marker)).rejects.toMatchObject({ code: 'ENOENT' });
    },
  );

  it('the lock file is touched every minute while held, and its heartbeat ends on release', async () => {
    fakeIntervals();
    const lockPath = path.join(await tempDir(), 'sessions.journal.lock');
    const release = await acquireLockFile(lockPath);
    expect(release).toBeTypeOf('function');
    expect(vi.getTimerCount()).toBe(1);
    await fs.utimes(lockPath, LONG_AGO, LONG_AGO);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await touchedAt(lockPath, NOW + 60_000)).toBe(true);

    await release?.();
    expect(vi.getTimerCount()).toBe(0);
    await expect(fs.stat(lockPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
