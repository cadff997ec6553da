import { describe, expect, test } from 'vitest';
import { decide, nextDue, type IdlePolicy } from '../../src/lifecycle/idle-policy.js';

const policy: IdlePolicy = { idleTimeoutMs: 120_000, keepAlive: true, keepAliveIntervalMs: 240_000 };
const clocks = { open: true, inFlight: 0, leases: 0, lastActivity: 0, lastContact: 0 };

describe('the idle and keep-alive decision', () => {
  test('a session not open is let go of', () => {
    expect(decide({ ...clocks, open: false }, policy, 1e9)).toEqual({ action: 'forget' });
  });

  test('idle past its deadline closes; just before, waits until the deadline', () => {
    expect(decide(clocks, policy, 120_000)).toEqual({ action: 'close' });
    expect(decide(clocks, policy, 119_999)).toEqual({ action: 'wait', next: 120_000 });
  });

  test('a busy session is never idle, and is looked at again after the shorter clock', () => {
    expect(decide({ ...clocks, inFlight: 1 }, policy, 500_000)).toEqual({ action: 'wait', next: 620_000 });
    const noKeepAlive = { ...policy, keepAlive: false };
    expect(decide({ ...clocks, inFlight: 2 }, noKeepAlive, 10)).toEqual({ action: 'wait', next: 120_010 });
  });

  test('held longer than Graph keeps it: refreshed, and next looked at from the refresh', () => {
    const held = { ...policy, idleTimeoutMs: 600_000 };
    const busyLately = { ...clocks, lastActivity: 200_000 };
    expect(decide(busyLately, held, 240_000)).toEqual({ action: 'refresh', next: 480_000 });
    expect(decide(busyLately, { ...held, keepAlive: false }, 240_000)).toEqual({ action: 'wait', next: 800_000 });
  });

  test('a shared session with a lease held is never idle, but is still kept alive', () => {
    const held = { ...clocks, leases: 2 };
    expect(decide(held, policy, 200_000)).toEqual({ action: 'wait', next: 240_000 });
    expect(decide(held, policy, 240_000)).toEqual({ action: 'refresh', next: 360_000 });
    expect(decide(held, { ...policy, keepAlive: false }, 500_000)).toEqual({ action: 'wait', next: 620_000 });
    // The last lease given back: idle from its lastActivity again.
    expect(decide({ ...held, leases: 0 }, policy, 200_000)).toEqual({ action: 'close' });
  });

  test('idle closing off (Infinity) and keep-alive off: never due', () => {
    expect(nextDue(clocks, { ...policy, idleTimeoutMs: Infinity, keepAlive: false })).toBe(Infinity);
  });
});
