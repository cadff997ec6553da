import { describe, expect, test } from 'vitest';
import { nextPoll } from '../../src/transport/long-running.js';

// When a long-running createSession's operation is polled next: the pure decision, no timers.

const NOW = Date.UTC(2025, 0, 1);
const FAR = NOW + 3_600_000;

describe('nextPoll()', () => {
  test('without Retry-After, waits the interval, which then doubles', () => {
    expect(nextPoll(null, 1000, 500, NOW, FAR)).toEqual({ delayMs: 1000, interval: 2000 });
    expect(nextPoll(null, 2000, 500, NOW, FAR)).toEqual({ delayMs: 2000, interval: 4000 });
  });

  test('the interval stops doubling at 30 s', () => {
    expect(nextPoll(null, 20_000, 500, NOW, FAR)).toEqual({ delayMs: 20_000, interval: 30_000 });
    expect(nextPoll(null, 30_000, 500, NOW, FAR)).toEqual({ delayMs: 30_000, interval: 30_000 });
  });

  test("the last answer's Retry-After says when, and the interval does not double", () => {
    expect(nextPoll('5', 1000, 500, NOW, FAR)).toEqual({ delayMs: 5000, interval: 1000 });
    expect(nextPoll(new Date(NOW + 8000).toUTCString(), 1000, 500, NOW, FAR)).toEqual({
      delayMs: 8000,
      interval: 1000,
    });
  });

  test('never sooner than the configured interval: a Retry-After of 0 on every poll must not spin', () => {
    expect(nextPoll('0', 1000, 500, NOW, FAR)).toEqual({ delayMs: 500, interval: 1000 });
  });

  test('a Retry-After that is not valid is ignored: the interval applies, and doubles', () => {
    expect(nextPoll('soon', 1000, 500, NOW, FAR)).toEqual({ delayMs: 1000, interval: 2000 });
  });

  test('never past the end of the phase: the last look is taken then, and at once when it has passed', () => {
    expect(nextPoll('60', 1000, 500, NOW, NOW + 2500)).toEqual({ delayMs: 2500, interval: 1000 });
    expect(nextPoll(null, 1000, 500, NOW, NOW - 10)).toEqual({ delayMs: 0, interval: 2000 });
  });
});
