import { describe, expect, it } from 'vitest';
import { Cooldowns } from '../../src/testing/cooldowns.js';

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5);

describe('Cooldowns', () => {
  it('starts a cooldown from Retry-After seconds and tells the time left', () => {
    const c = new Cooldowns();
    expect(c.leftMs('wb', T0)).toBeLessThanOrEqual(0);
    c.announce('wb', '10', T0);
    expect(c.leftMs('wb', T0)).toBe(10_000);
    expect(c.leftMs('wb', T0 + 4_000)).toBe(6_000);
    expect(c.leftMs('other', T0)).toBeLessThanOrEqual(0);
  });

  it('a shorter Retry-After does not shorten a cooldown; a longer one lengthens it', () => {
    const c = new Cooldowns();
    c.announce('wb', '10', T0);
    c.announce('wb', '1', T0);
    expect(c.leftMs('wb', T0)).toBe(10_000);
    c.announce('wb', '30', T0);
    expect(c.leftMs('wb', T0)).toBe(30_000);
  });

  it('nonsense, zero and a request with no workbook start none', () => {
    const c = new Cooldowns();
    c.announce('wb', 'Mon 1', T0);
    c.announce('wb', '0', T0);
    c.announce(undefined, '10', T0);
    expect(c.leftMs('wb', T0)).toBeLessThanOrEqual(0);
  });
});
