import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { IdleReaper, type Reapable } from '../../src/lifecycle/idle-reaper.js';

interface Item extends Reapable {
  name: string;
}
const item = (name: string): Item => ({ name, heapIndex: -1, dueAt: 0 });

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('IdleReaper', () => {
  test('hands items over in due order, each at its own time', async () => {
    const seen: string[] = [];
    const reaper = new IdleReaper<Item>((it, now) => seen.push(`${it.name}@${now - start}`));
    const start = Date.now();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(item) as [Item, Item, Item, Item];
    reaper.track(c, start + 300);
    reaper.track(a, start + 100);
    reaper.track(d, start + 400);
    reaper.track(b, start + 200);
    await vi.advanceTimersByTimeAsync(250);
    expect(seen).toEqual(['a@100', 'b@200']);
    await vi.advanceTimersByTimeAsync(200);
    expect(seen).toEqual(['a@100', 'b@200', 'c@300', 'd@400']);
    expect(reaper.size).toBe(0);
    expect(reaper.armed).toBe(false);
  });

  test('reschedule moves an item both ways; untrack removes it from the middle', async () => {
    const seen: string[] = [];
    const reaper = new IdleReaper<Item>((it) => seen.push(it.name));
    const start = Date.now();
    const items = Array.from({ length: 50 }, (_, i) => item(`i${i}`));
    items.forEach((it, i) => reaper.track(it, start + 1000 + i * 10));
    reaper.reschedule(items[40]!, start + 5); // earlier
    reaper.reschedule(items[0]!, start + 10_000); // later
    reaper.untrack(items[25]!);
    reaper.untrack(items[25]!); // twice is harmless
    expect(items[25]!.heapIndex).toBe(-1);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(seen[0]).toBe('i40');
    expect(seen.at(-1)).toBe('i0');
    expect(seen).not.toContain('i25');
    expect(seen).toHaveLength(49);
  });

  test('one timer at a time, armed only while something is tracked', () => {
    const reaper = new IdleReaper<Item>(() => undefined);
    expect(vi.getTimerCount()).toBe(0);
    const items = Array.from({ length: 100 }, (_, i) => item(String(i)));
    for (const [i, it] of items.entries()) reaper.track(it, Date.now() + 1000 + i);
    expect(vi.getTimerCount()).toBe(1);
    for (const it of items) reaper.untrack(it);
    expect(vi.getTimerCount()).toBe(0);
  });

  test('the timer does not hold the process open', () => {
    const reaper = new IdleReaper<Item>(() => undefined);
    const spy = vi.spyOn(globalThis, 'setTimeout');
    reaper.track(item('x'), Date.now() + 1000);
    const timer = spy.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    reaper.dispose();
    spy.mockRestore();
  });

  test('an item onDue leaves alone is dropped, so a firing cannot loop', async () => {
    let calls = 0;
    const reaper = new IdleReaper<Item>(() => calls++);
    reaper.track(item('x'), Date.now() + 10);
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toBe(1);
    expect(reaper.size).toBe(0);
  });
});
