import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { Priority, Scheduler } from '../../src/coordination/scheduler.js';
import { FAKED_TIMERS, settle } from '../helpers/graph.js';

const BOOK = '/me/drive/items/A';
const OTHER = '/me/drive/items/B';
const THIRD = '/me/drive/items/C';

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

describe('Scheduler priorities and lanes', () => {
  test('closes go first, then refreshes, then calls, whatever order they were queued in', async () => {
    const scheduler = new Scheduler({ concurrency: 4, perWorkbookConcurrency: 1 });
    const first = deferred();
    const order: string[] = [];
    const busy = scheduler.run(BOOK, () => first.promise, { priority: Priority.call });
    const queued = [
      scheduler.run(BOOK, async () => void order.push('call'), { priority: Priority.call }),
      scheduler.run(BOOK, async () => void order.push('refresh'), { priority: Priority.refresh }),
      scheduler.run(BOOK, async () => void order.push('close'), { priority: Priority.close }),
    ];
    first.resolve('done');
    await Promise.all([busy, ...queued]);
    expect(order).toEqual(['close', 'refresh', 'call']);
  });

  test('a lane runs one task at a time; other lanes run beside it, up to the global limit', async () => {
    const scheduler = new Scheduler({ concurrency: 2, perWorkbookConcurrency: 1 });
    let inFlight = 0;
    let most = 0;
    const perLane = new Map<string, number>();
    let mostInLane = 0;
    const task = (book: string) => async (): Promise<void> => {
      inFlight++;
      perLane.set(book, (perLane.get(book) ?? 0) + 1);
      most = Math.max(most, inFlight);
      mostInLane = Math.max(mostInLane, perLane.get(book) ?? 0);
      await new Promise((resolve) => setImmediate(resolve));
      perLane.set(book, (perLane.get(book) ?? 0) - 1);
      inFlight--;
    };
    const books = [BOOK, OTHER, THIRD];
    await Promise.all(
      books.flatMap((book) => Array.from({ length: 4 }, () => scheduler.run(book, task(book), { priority: 0 }))),
    );
    expect(mostInLane).toBe(1);
    expect(most).toBe(2);
    expect(scheduler.lanes).toBe(0);
  });

  test('two names given one lane by laneOf run one at a time', async () => {
    const scheduler = new Scheduler({ concurrency: 4, perWorkbookConcurrency: 1, laneOf: () => 'one file' });
    const first = deferred();
    const started: string[] = [];
    const a = scheduler.run(BOOK, () => (started.push('a'), first.promise), { priority: 0 });
    const b = scheduler.run(OTHER, async () => void started.push('b'), { priority: 0 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['a']);
    expect(scheduler.lanes).toBe(1);
    first.resolve('done');
    await Promise.all([a, b]);
    expect(started).toEqual(['a', 'b']);
  });

  test('a task aborted before it was queued never runs and rejects with the reason', async () => {
    const scheduler = new Scheduler({ concurrency: 4, perWorkbookConcurrency: 1 });
    const reason = new Error('already gone');
    let ran = false;
    const result = await settle(
      scheduler.run(BOOK, async () => void (ran = true), { priority: 0, signal: AbortSignal.abort(reason) }),
    );
    expect(result).toEqual({ ok: false, error: reason });
    expect(ran).toBe(false);
    expect(scheduler.queued).toBe(0);
    expect(scheduler.lanes).toBe(0);
  });
});

describe('Scheduler.cooldown', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: [...FAKED_TIMERS] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test('pauses only its own lane: another workbook runs meanwhile', async () => {
    const scheduler = new Scheduler({ concurrency: 4, perWorkbookConcurrency: 1 });
    const started: string[] = [];
    scheduler.cooldown(BOOK, 1000);
    const paused = scheduler.run(BOOK, async () => void started.push('paused'), { priority: 0 });
    const other = scheduler.run(OTHER, async () => void started.push('other'), { priority: 0 });
    await other;
    expect(started).toEqual(['other']);
    await vi.advanceTimersByTimeAsync(999);
    expect(started).toEqual(['other']);
    await vi.advanceTimersByTimeAsync(1);
    await paused;
    expect(started).toEqual(['other', 'paused']);
  });

  test('only grows: a shorter cooldown inside a longer one changes nothing; a longer one extends it', async () => {
    const scheduler = new Scheduler({ concurrency: 4, perWorkbookConcurrency: 1 });
    let ran = false;
    scheduler.cooldown(BOOK, 5000, Date.now());
    scheduler.cooldown(BOOK, 1000, Date.now());
    const task = scheduler.run(BOOK, async () => void (ran = true), { priority: 0 });
    await vi.advanceTimersByTimeAsync(4999);
    expect(ran).toBe(false);
    scheduler.cooldown(BOOK, 3000, Date.now());
    await vi.advanceTimersByTimeAsync(1);
    expect(ran).toBe(false);
    await vi.advanceTimersByTimeAsync(2999);
    await task;
    expect(ran).toBe(true);
  });

  test('a task aborted while it waits behind a cooldown is removed and never runs', async () => {
    const scheduler = new Scheduler({ concurrency: 4, perWorkbookConcurrency: 1 });
    const controller = new AbortController();
    let ran = false;
    scheduler.cooldown(BOOK, 1000);
    const waiting = settle(
      scheduler.run(BOOK, async () => void (ran = true), { priority: 0, signal: controller.signal }),
    );
    controller.abort(new Error('caller gave up'));
    const result = await waiting;
    expect(result.ok === false && (result.error as Error).message).toBe('caller gave up');
    expect(scheduler.queued).toBe(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(ran).toBe(false);
    expect(scheduler.lanes).toBe(0);
  });

  test('a cooldown keeps its lane, with one timer, until it ends; then the lane is dropped', async () => {
    const scheduler = new Scheduler({ concurrency: 4, perWorkbookConcurrency: 1 });
    scheduler.cooldown(BOOK, 1000);
    // With nothing waiting, the lane stays: a task queued later must still honour the cooldown.
    expect(scheduler.lanes).toBe(1);
    expect(vi.getTimerCount()).toBe(1);
    const task = scheduler.run(BOOK, async () => 'ran', { priority: 0 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(await task).toBe('ran');
    expect(scheduler.lanes).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('dispose() ends every cooldown at once: paused lanes run and no timer is left', async () => {
    const scheduler = new Scheduler({ concurrency: 4, perWorkbookConcurrency: 1 });
    scheduler.cooldown(BOOK, 60_000);
    scheduler.cooldown(OTHER, 60_000);
    const task = scheduler.run(BOOK, async () => 'ran', { priority: 0 });
    expect(vi.getTimerCount()).toBe(2);
    scheduler.dispose();
    expect(await task).toBe('ran');
    expect(vi.getTimerCount()).toBe(0);
    expect(scheduler.lanes).toBe(0);
  });

  test('release() leaves cooldowns pausing their lanes until they end', async () => {
    const scheduler = new Scheduler({ concurrency: 4, perWorkbookConcurrency: 1 });
    let ran = false;
    scheduler.cooldown(BOOK, 1000);
    const task = scheduler.run(BOOK, async () => void (ran = true), { priority: 0 });
    scheduler.release();
    await vi.advanceTimersByTimeAsync(999);
    expect(ran).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await task;
    expect(ran).toBe(true);
  });
});
