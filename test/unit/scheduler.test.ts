import { describe, expect, test } from 'vitest';
import { Scheduler } from '../../src/coordination/scheduler.js';
import { settle } from '../helpers/graph.js';

const BOOK = '/me/drive/items/A';

function deferred(): { promise: Promise<string>; resolve: (value: string) => void } {
  let resolve: (value: string) => void = () => undefined;
  const promise = new Promise<string>((r) => (resolve = r));
  return { promise, resolve };
}

describe('Scheduler.run', () => {
  test('a task aborted while it runs keeps its lane until it settles; the next one starts only then', async () => {
    const scheduler = new Scheduler({ concurrency: 4, perWorkbookConcurrency: 1 });
    const first = deferred();
    const controller = new AbortController();
    const started: string[] = [];
    const running = settle(
      scheduler.run(BOOK, () => (started.push('first'), first.promise), { priority: 0, signal: controller.signal }),
    );
    const next = scheduler.run(BOOK, async () => void started.push('second'), { priority: 0 });
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('caller gave up'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['first']);
    expect(scheduler.running).toBe(1);
    first.resolve('answered');
    await next;
    expect(started).toEqual(['first', 'second']);
    // The running task decides how the signal ends it; here it answered.
    expect(await running).toEqual({ ok: true, value: 'answered' });
  });

  test('a task aborted while queued is removed and never runs', async () => {
    const scheduler = new Scheduler({ concurrency: 4, perWorkbookConcurrency: 1 });
    const first = deferred();
    const controller = new AbortController();
    const started: string[] = [];
    void scheduler.run(BOOK, () => (started.push('first'), first.promise), { priority: 0 });
    const queued = settle(
      scheduler.run(BOOK, async () => void started.push('second'), { priority: 0, signal: controller.signal }),
    );
    controller.abort(new Error('caller gave up'));
    const result = await queued;
    expect(result.ok === false && (result.error as Error).message).toBe('caller gave up');
    first.resolve('answered');
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['first']);
    expect(scheduler.queued).toBe(0);
  });
});
