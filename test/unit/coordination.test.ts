import { describe, expect, test } from 'vitest';
import type { LaneGate } from '../../src/coordination/coordination.js';
import { Priority, Scheduler } from '../../src/coordination/scheduler.js';

describe('the lane gate seam', () => {
  test('each request takes a place from the gate before it runs and gives it back when it settles', async () => {
    const log: string[] = [];
    let release!: () => void;
    const gate: LaneGate = {
      acquire: (lane) => {
        log.push(`acquire ${lane}`);
        return new Promise((resolve) => {
          release = () => resolve({ release: () => void log.push(`release ${lane}`) });
        });
      },
      cooledDown: (lane, until) => void log.push(`cooldown ${lane} ${until}`),
    };
    const scheduler = new Scheduler({ concurrency: 4, perWorkbookConcurrency: 1, gate });
    const run = scheduler.run('/me/drive/items/A', async () => log.push('task') && 'done', {
      priority: Priority.call,
    });
    await new Promise((resolve) => setImmediate(resolve));
    // Waiting for the gate: the task has not run, but holds the local place.
    expect(log).toEqual(['acquire /me/drive/items/A']);
    expect(scheduler.running).toBe(1);
    release();
    await expect(run).resolves.toBe('done');
    expect(log).toEqual(['acquire /me/drive/items/A', 'task', 'release /me/drive/items/A']);
    scheduler.cooldown('/me/drive/items/A', 1000, 5000);
    expect(log.at(-1)).toBe('cooldown /me/drive/items/A 6000');
    scheduler.dispose();
  });

  test('a task that throws still gives its place back', async () => {
    let released = 0;
    const gate: LaneGate = { acquire: () => ({ release: () => void released++ }), cooledDown: () => undefined };
    const scheduler = new Scheduler({ concurrency: 1, perWorkbookConcurrency: 1, gate });
    const failing = scheduler.run('w', () => Promise.reject(new Error('boom')), { priority: Priority.call });
    await expect(failing).rejects.toThrow('boom');
    expect(released).toBe(1);
  });
});
