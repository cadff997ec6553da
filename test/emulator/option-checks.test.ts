import { describe, expect, it } from 'vitest';
import {
  checkCodes,
  checkHeaderValues,
  checkRate,
  checkRoute,
  checkRoutes,
  resolveOptions,
} from '../../src/testing/resolve-options.js';
import { checkInRange, checkObject } from '../../src/util/validate.js';

describe('checkInRange()', () => {
  it('returns a number within the range', () => {
    expect(checkInRange('x', 5, { min: 0 })).toBe(5);
    expect(checkInRange('x', 0, { min: 0, max: 1 })).toBe(0);
    expect(checkInRange('x', -3, { integer: true })).toBe(-3);
  });

  it('refuses anything else with one RangeError naming the range, whatever the type', () => {
    expect(() => checkInRange('x', -1, { min: 0 })).toThrow(
      new RangeError('Expected `x` to be a finite number >= 0, got `-1` (number)'),
    );
    expect(() => checkInRange('x', '5', { min: 0 })).toThrow(
      new RangeError('Expected `x` to be a finite number >= 0, got "5" (string)'),
    );
    expect(() => checkInRange('x', Infinity, { min: 0 })).toThrow(RangeError);
    expect(() => checkInRange('x', 1.5, { integer: true })).toThrow(
      new RangeError('Expected `x` to be an integer, got `1.5` (number)'),
    );
    expect(() => checkInRange('x', 0, { min: 1, integer: true })).toThrow(
      new RangeError('Expected `x` to be an integer >= 1, got `0` (number)'),
    );
    expect(() => checkInRange('x', 2, { min: 0, max: 1 })).toThrow(
      new RangeError('Expected `x` to be a number from 0 to 1, got `2` (number)'),
    );
    expect(() => checkInRange('x', 70_000, { min: 0, max: 65_535, integer: true })).toThrow(
      new RangeError('Expected `x` to be an integer from 0 to 65535, got `70000` (number)'),
    );
    expect(() => checkInRange('x', 5, { max: 3 })).toThrow(
      new RangeError('Expected `x` to be a finite number <= 3, got `5` (number)'),
    );
  });
});

describe('checkObject()', () => {
  it('returns an object whose keys are all allowed', () => {
    const value = { a: 1 };
    expect(checkObject('options', value, ['a', 'b'])).toBe(value);
    expect(checkObject('seed', { anything: 1 })).toEqual({ anything: 1 });
  });

  it('refuses a non-object, and names an unknown key by its path', () => {
    expect(() => checkObject('options', null)).toThrow(new TypeError('Expected `options` to be an object, got `null`'));
    expect(() => checkObject('latency', [], [])).toThrow(
      new TypeError('Expected `latency` to be an object, got an array'),
    );
    expect(() => checkObject('options', { tokn: 1 }, ['token'])).toThrow(new TypeError('Unknown option `tokn`'));
    expect(() => checkObject('latency', { fixedMS: 1 }, ['fixedMs'])).toThrow(
      new TypeError('Unknown option `latency.fixedMS`'),
    );
  });
});

describe("the emulator's own checkers", () => {
  it('checkRate, checkCodes, checkHeaderValues, checkRoutes and checkRoute take the name first', () => {
    expect(checkRate('r', 0.5)).toBe(0.5);
    expect(() => checkRate('r', -0.1)).toThrow(RangeError);
    expect(checkCodes('c', ['a_b'])).toEqual(['a_b']);
    expect(() => checkCodes('c', ['a b'])).toThrow(
      new TypeError('Expected `c` to be a non-empty array of error codes, got ["a b"]'),
    );
    expect(checkHeaderValues('h', ['1', 'Mon 1'])).toEqual(['1', 'Mon 1']);
    expect(() => checkHeaderValues('h', ['a\nb'])).toThrow(TypeError);
    expect(checkRoutes('routes', ['createSession', 'batch'])).toEqual(['createSession', 'batch']);
    expect(() => checkRoutes('routes', ['close'])).toThrow(TypeError);
    expect(checkRoute('route', 'item')).toBe('item');
    expect(() => checkRoute('route', 'close')).toThrow(/^Expected `route` to be a route name \(item, /);
  });

  it('resolveOptions() merges the defaults in one place', () => {
    const resolved = resolveOptions({ token: 't' });
    expect(resolved).toMatchObject({
      token: 't',
      persistentSessionTimeoutMs: 300_000,
      nonPersistentSessionTimeoutMs: 420_000,
      asyncRate: 0,
      asyncDurationMs: 0,
      asyncFailRate: 0,
      asyncFailCodes: ['transientFailure'],
      strictCooldowns: false,
      maxSessionsPerWorkbook: Infinity,
      createSession: { fixedMs: 0, jitterMs: 0 },
      latency: undefined,
      faults: undefined,
      seed: 1,
    });
    expect(resolveOptions({ createSessionDelayMs: 800, createSessionJitterMs: 200 }).createSession).toEqual({
      fixedMs: 800,
      jitterMs: 200,
    });
  });
});
