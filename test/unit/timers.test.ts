import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { abortableDelay } from '../../src/util/abort.js';
import { MAX_TIMER_MS, deadlineSignal, setLongTimeout } from '../../src/util/timers.js';
import { FAKED_TIMERS } from '../helpers/graph.js';

// The one home for long timers and deadline signals, on vitest's fake clock.

beforeEach(() => {
  vi.useFakeTimers({ toFake: [...FAKED_TIMERS] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('setLongTimeout', () => {
  test('setLongTimeout fires after a delay past 2^31-1 ms, not at once and not early', async () => {
    let fired = 0;
    setLongTimeout(() => fired++, MAX_TIMER_MS * 2 + 5_000);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS * 2 + 4_999);
    expect(fired).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('setLongTimeout: clear() stops it in any link of the chain; unref() holds across links', async () => {
    let fired = 0;
    const timer = setLongTimeout(() => fired++, MAX_TIMER_MS + 10);
    timer.unref();
    expect(timer.hasRef()).toBe(false);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS);
    expect(timer.hasRef()).toBe(false);
    timer.clear();
    await vi.advanceTimersByTimeAsync(100);
    expect(fired).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('abortableDelay waits the whole of a delay past 2^31-1 ms', async () => {
    let done = false;
    void abortableDelay(MAX_TIMER_MS + 1_000).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(done).toBe(true);
  });
});

describe('deadlineSignal', () => {
  test('deadlineSignal aborts with a TimeoutError after ms', async () => {
    const deadline = deadlineSignal(5_000);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(deadline.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(deadline.signal.reason).toMatchObject({ name: 'TimeoutError' });
  });

  test('deadlineSignal follows the first of its signals to abort, and clear() drops its timer', () => {
    const outer = new AbortController();
    const deadline = deadlineSignal(60_000, undefined, outer.signal);
    outer.abort(new Error('shutdown'));
    expect((deadline.signal.reason as Error).message).toBe('shutdown');
    deadline.clear();
    expect(vi.getTimerCount()).toBe(0);
  });

  test('deadlineSignal(Infinity) never times out and sets no timer', () => {
    const deadline = deadlineSignal(Infinity);
    expect(vi.getTimerCount()).toBe(0);
    expect(deadline.signal.aborted).toBe(false);
  });
});
