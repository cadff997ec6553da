// A replica of a fleet SIGKILLed while it holds sessions: its journal lives in Redis, so a survivor's
// orphan reaper closes them, through the shared lanes, once the dead owner's heartbeat has expired.
// Real processes: the emulator here, one redis-server, two workers. The time from SIGKILL to every
// orphan closed is measured and printed; only the outcome and the order are asserted.
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { spawnScript } from '../helpers/child-process.js';
import { useFleetLab } from '../helpers/fleet-lab.js';
import { redisTestsRun } from '../helpers/redis-server.js';

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/fleet/reaper-worker.ts');
const BOOKS = ['/me/drive/items/A', '/me/drive/items/B', '/me/drive/items/C'];
const PER_BOOK = 2;
// Short, so the test is quick; long enough that a live worker slowed by a busy machine is not taken for dead.
const HEARTBEAT_MS = 200;
const REAP_MS = 100;

describe.runIf(redisTestsRun())('a fleet worker killed with its sessions open', () => {
  const lab = useFleetLab({
    workbooks: Object.fromEntries(BOOKS.map((book) => [book, {}])),
    latency: { fixedMs: 2, jitterMs: 3 },
    seed: 16,
  });

  const worker = (books: readonly string[], perBook: number) =>
    spawnScript(WORKER, [], {
      EMU_URL: lab.emulator.url,
      EMU_TOKEN: lab.emulator.token,
      REDIS_PORT: String(lab.redis.port),
      WORKBOOKS: books.join(','),
      SESSIONS: String(perBook),
      HEARTBEAT_MS: String(HEARTBEAT_MS),
      REAP_MS: String(REAP_MS),
    });

  test('a survivor closes every session of the killed worker, and none of a live one', async () => {
    const survivor = worker([BOOKS[0] ?? ''], 1);
    await survivor.waitForLine('open 1');
    const victim = worker(BOOKS, PER_BOOK);
    const orphans = BOOKS.length * PER_BOOK;
    await victim.waitForLine(`open ${orphans}`);

    // Both alive, past several heartbeat timeouts and reaper passes: nothing of a live owner is reaped.
    await delay(10 * HEARTBEAT_MS);
    expect(lab.emulator.service.stats()).toMatchObject({ created: orphans + 1, closed: 0, open: orphans + 1 });

    const killedAt = performance.now();
    await victim.kill();
    let stats = lab.emulator.service.stats();
    while (stats.closed < orphans && performance.now() - killedAt < 30_000) {
      await delay(5);
      stats = lab.emulator.service.stats();
    }
    const killToClosedMs = performance.now() - killedAt;
    console.log(
      JSON.stringify({
        killToClosedMs: Math.round(killToClosedMs),
        heartbeatTtlMs: 3 * HEARTBEAT_MS,
        reapIntervalMs: REAP_MS,
        orphans,
        closed: stats.closed,
        maxInFlightPerWorkbook: stats.maxInFlightPerWorkbook,
      }),
    );
    // Every orphan closed once, by the survivor, while its own session stays open.
    expect(stats).toMatchObject({ created: orphans + 1, closed: orphans, open: 1, expired: 0 });
    await delay(5 * REAP_MS);
    expect(lab.emulator.service.stats()).toMatchObject({ closed: orphans, open: 1 });
    const reaped = survivor.lines
      .filter((line) => line.startsWith('reaped '))
      .map((line) => JSON.parse(line.slice('reaped '.length)) as { closed: number; expired: number; failed: number });
    expect(reaped.reduce((sum, r) => sum + r.closed, 0)).toBe(orphans);
    expect(reaped.every((r) => r.expired === 0 && r.failed === 0)).toBe(true);

    // Then the survivor shuts down and closes its own: nothing is left open.
    survivor.process.kill('SIGTERM');
    const exit = await survivor.waitForExit(20_000);
    expect({ exit, stderr: survivor.stderr() }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });
    const done = survivor.lines.find((line) => line.startsWith('done '));
    expect(JSON.parse(done?.slice('done '.length) ?? '{}')).toMatchObject({ leftOpen: 0 });
    expect(lab.emulator.service.stats()).toMatchObject({ created: orphans + 1, closed: orphans + 1, open: 0 });
  }, 60_000);
});
