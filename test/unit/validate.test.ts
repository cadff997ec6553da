// The one home for option checks: each refusal names the option and the value, with the right error class.
import { describe as group, expect, test } from 'vitest';
import {
  checkApiPath,
  checkBoolean,
  checkKeys,
  checkNumber,
  checkSignal,
  checkWorkbook,
  describe,
} from '../../src/util/validate.js';

group('describe()', () => {
  test.each([
    [-5, '`-5` (number)'],
    [true, '`true` (boolean)'],
    [10n, '`10` (bigint)'],
    ['abc', '"abc" (string)'],
    [null, '`null`'],
    [undefined, '`undefined`'],
    [[1, 2], 'an array'],
    [{ a: 1 }, 'a value of type object'],
    [() => 1, 'a value of type function'],
  ])('describes %s as %s', (value, expected) => {
    expect(describe(value)).toBe(expected);
  });

  test('shortens a string past 80 characters to 77 and an ellipsis', () => {
    expect(describe('x'.repeat(81))).toBe(`"${'x'.repeat(77)}..." (string)`);
    expect(describe('x'.repeat(80))).toBe(`"${'x'.repeat(80)}" (string)`);
  });
});

group('checkNumber()', () => {
  test('returns a number within bounds', () => {
    expect(checkNumber('n', 5, 0)).toBe(5);
    expect(checkNumber('n', 0, 0, { integer: true, max: 10 })).toBe(0);
    expect(checkNumber('n', 10, 0, { max: 10 })).toBe(10);
  });

  test('refuses what is not a number, NaN included, with a TypeError', () => {
    expect(() => checkNumber('n', '5', 0)).toThrow(new TypeError('Expected `n` to be a number, got "5" (string)'));
    expect(() => checkNumber('n', NaN, 0)).toThrow(new TypeError('Expected `n` to be a number, got `NaN` (number)'));
  });

  test('refuses a number out of bounds with a RangeError naming the range', () => {
    expect(() => checkNumber('n', -1, 0)).toThrow(
      new RangeError('Expected `n` to be a finite number >= 0, got `-1` (number)'),
    );
    expect(() => checkNumber('n', 11, 0, { max: 10 })).toThrow(
      new RangeError('Expected `n` to be a finite number from 0 to 10, got `11` (number)'),
    );
    expect(() => checkNumber('n', 1.5, 0, { integer: true })).toThrow(
      new RangeError('Expected `n` to be an integer >= 0, got `1.5` (number)'),
    );
  });

  test('Infinity only when allowed, and then whatever the max', () => {
    expect(() => checkNumber('n', Infinity, 0)).toThrow(
      new RangeError('Expected `n` to be a finite number >= 0, got `Infinity` (number)'),
    );
    expect(checkNumber('n', Infinity, 0, { allowInfinity: true, max: 10 })).toBe(Infinity);
    expect(() => checkNumber('n', -Infinity, 0, { allowInfinity: true })).toThrow(
      new RangeError('Expected `n` to be a finite number >= 0 (or Infinity), got `-Infinity` (number)'),
    );
  });
});

group('checkBoolean(), checkSignal(), checkKeys()', () => {
  test('checkBoolean() returns a boolean and refuses anything else', () => {
    expect(checkBoolean('b', false)).toBe(false);
    expect(() => checkBoolean('b', 'yes')).toThrow(new TypeError('Expected `b` to be a boolean, got "yes" (string)'));
  });

  test('checkSignal() lets undefined through and refuses what is not an AbortSignal', () => {
    const signal = new AbortController().signal;
    expect(checkSignal('signal', signal)).toBe(signal);
    expect(checkSignal('signal', undefined)).toBeUndefined();
    expect(() => checkSignal('signal', {})).toThrow(
      new TypeError('Expected `signal` to be an AbortSignal, got a value of type object'),
    );
  });

  test('checkKeys() refuses an unknown key, naming it and the known ones', () => {
    expect(() => checkKeys('option', { a: 1, b: 2 }, ['a', 'b'])).not.toThrow();
    expect(() => checkKeys('option', { a: 1, typo: 2 }, ['a', 'b'])).toThrow(
      new TypeError('Unknown option `typo`; expected one of: a, b'),
    );
  });
});

group('checkWorkbook() and checkApiPath()', () => {
  test('checkWorkbook() gives the canonical spelling of a reference, and refuses a URL', () => {
    expect(checkWorkbook('/me/drive/items/A')).toBe('/me/drive/items/A');
    expect(() => checkWorkbook('https://graph.microsoft.com/v1.0/me/drive/items/A')).toThrow(TypeError);
  });

  test('checkApiPath() adds the leading slash', () => {
    expect(checkApiPath("worksheets('Sheet1')/usedRange")).toBe("/worksheets('Sheet1')/usedRange");
    expect(checkApiPath('/worksheets')).toBe('/worksheets');
  });

  test.each([
    ['https://evil.example/x', 'an absolute URL; give a path relative to the workbook, such as "/worksheets"'],
    ['//evil.example/x', 'an absolute URL; give a path relative to the workbook, such as "/worksheets"'],
    ['/worksheets\n', 'a control character'],
    ['/worksheets?$top=1', 'a query or fragment; pass query parameters with the `query` option'],
    ['/worksheets/../x', 'a "." or ".." segment'],
    ['/worksheets/%2E%2e/x', 'a "." or ".." segment'],
    ['/', 'nothing after the workbook'],
  ])('checkApiPath() refuses %j: it contains %s', (value, problem) => {
    expect(() => checkApiPath(value)).toThrow(
      new TypeError(`Refused \`api()\` path ${describe(value)}: it contains ${problem}`),
    );
  });

  test('checkApiPath() refuses what is not a string', () => {
    expect(() => checkApiPath(42)).toThrow(
      new TypeError('Expected the `api()` path to be a string, got `42` (number)'),
    );
  });
});
