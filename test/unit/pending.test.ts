import { describe, expect, test } from 'vitest';
import { Pending } from '../../src/util/pending.js';

describe('Pending', () => {
  test('keeps work with its label until it settles, either way', async () => {
    const pending = new Pending<string>();
    let fail!: (error: Error) => void;
    const failing = pending.add(new Promise<void>((_, reject) => (fail = reject)), 'b');
    const ok = pending.add(Promise.resolve(1), 'a');
    expect(pending.labels()).toEqual(['b', 'a']);
    await ok;
    expect(pending.labels()).toEqual(['b']);
    fail(new Error('x'));
    await expect(failing).rejects.toThrow('x');
    expect(pending.size).toBe(0);
  });

  test('drained waits for work added while it waits, across sets, and never rejects', async () => {
    const a = new Pending();
    const b = new Pending();
    const order: string[] = [];
    a.add(
      Promise.resolve().then(() => {
        order.push('first');
        b.add(new Promise((resolve) => setTimeout(resolve, 5)).then(() => order.push('added later')));
        throw new Error('ignored');
      }),
    ).catch(() => undefined);
    await Pending.drained(a, b);
    expect(order).toEqual(['first', 'added later']);
    expect(a.size + b.size).toBe(0);
  });
});
