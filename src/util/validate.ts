import { parseWorkbookRef } from '../transport/workbook-ref.js';

/** Describes a value for an error message without dumping it: `-5 (number)`, `"abc" (string)`. */
export function describe(value: unknown): string {
  if (typeof value === 'string')
    return `${JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)} (string)`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return `\`${String(value)}\` (${typeof value})`;
  if (value === null) return '`null`';
  if (value === undefined) return '`undefined`';
  if (Array.isArray(value)) return 'an array';
  return `a value of type ${typeof value}`;
}

/** A finite number within bounds, or a RangeError/TypeError naming the option and the value. */
export function checkNumber(
  name: string,
  value: unknown,
  min: number,
  options: { integer?: boolean; allowInfinity?: boolean; max?: number } = {},
): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`Expected \`${name}\` to be a number, got ${describe(value)}`);
  }
  if (value === Infinity && options.allowInfinity === true) return value;
  const { max } = options;
  if (
    !Number.isFinite(value) ||
    value < min ||
    (max !== undefined && value > max) ||
    (options.integer === true && !Number.isInteger(value))
  ) {
    const kind = options.integer === true ? 'an integer' : 'a finite number';
    const range = max === undefined ? `>= ${min}` : `from ${min} to ${max}`;
    const tail = options.allowInfinity === true ? ' (or Infinity)' : '';
    throw new RangeError(`Expected \`${name}\` to be ${kind} ${range}${tail}, got ${describe(value)}`);
  }
  return value;
}

/**
 * A number within bounds where a value of another type is as out of range as a number past a bound:
 * one RangeError naming the range, such as "Expected `seed` to be an integer, got \"x\" (string)". A
 * bound left out is open; with both bounds the range reads "a number from 0 to 1" (finite by its bounds).
 * The emulator's options are checked this way; the library's own use `checkNumber`, which tells a value
 * of the wrong type apart with a TypeError.
 */
export function checkInRange(
  name: string,
  value: unknown,
  range: { readonly min?: number; readonly max?: number; readonly integer?: boolean },
): number {
  const { min = -Infinity, max = Infinity, integer = false } = range;
  const ok =
    typeof value === 'number' &&
    (integer ? Number.isInteger(value) : Number.isFinite(value)) &&
    value >= min &&
    value <= max;
  if (ok) return value;
  const bounded = min !== -Infinity && max !== Infinity;
  const kind = integer ? 'an integer' : bounded ? 'a number' : 'a finite number';
  const bounds = bounded
    ? ` from ${min} to ${max}`
    : min !== -Infinity
      ? ` >= ${min}`
      : max !== Infinity
        ? ` <= ${max}`
        : '';
  throw new RangeError(`Expected \`${name}\` to be ${kind}${bounds}, got ${describe(value)}`);
}

/**
 * An options object, with no key outside `allowedKeys` when they are given. An unknown key is named by
 * its path below the top-level options ("Unknown option `latency.fixedMS`"), so a typo is never ignored.
 */
export function checkObject(name: string, value: unknown, allowedKeys?: readonly string[]): object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Expected \`${name}\` to be an object, got ${describe(value)}`);
  }
  if (allowedKeys !== undefined) {
    for (const key of Object.keys(value)) {
      if (!allowedKeys.includes(key))
        throw new TypeError(`Unknown option \`${name === 'options' ? key : `${name}.${key}`}\``);
    }
  }
  return value;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`Expected \`${name}\` to be a boolean, got ${describe(value)}`);
  return value;
}

/** Refuses keys that are not options, as a typo would otherwise be silently ignored. */
export function checkKeys(what: string, value: object, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new TypeError(`Unknown ${what} \`${key}\`; expected one of: ${allowed.join(', ')}`);
    }
  }
}

export function checkSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal))
    throw new TypeError(`Expected \`${name}\` to be an AbortSignal, got ${describe(value)}`);
  return value;
}

// Control characters are matched on purpose: that is what this pattern refuses.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * Checks a workbook reference: a drive-item path such as `/me/drive/items/{id}` or
 * `/me/drive/root:/{path}:`, and returns it in its canonical spelling (see `parseWorkbookRef`).
 * Refuses URLs, queries, `..` and empty segments, before any request.
 */
export function checkWorkbook(value: unknown): string {
  return parseWorkbookRef(value).path;
}

/**
 * Checks a path given to `book.api()`: relative to the workbook (`/worksheets('Sheet1')/usedRange`).
 * Absolute URLs are refused so the token cannot be sent elsewhere; so are `..`, queries (use the
 * `query` option) and control characters.
 */
export function checkApiPath(value: unknown): string {
  if (typeof value !== 'string')
    throw new TypeError(`Expected the \`api()\` path to be a string, got ${describe(value)}`);
  const path = value.startsWith('/') ? value : `/${value}`;
  const problem =
    /^[a-z][a-z0-9+.-]*:/i.test(value) || value.includes('://') || value.startsWith('//')
      ? 'an absolute URL; give a path relative to the workbook, such as "/worksheets"'
      : CONTROL.test(value)
        ? 'a control character'
        : /[?#]/.test(value)
          ? 'a query or fragment; pass query parameters with the `query` option'
          : path.split(/[/\\]/).some((s) => /^(\.|%2e){1,2}$/i.test(s))
            ? 'a "." or ".." segment'
            : path === '/'
              ? 'nothing after the workbook'
              : undefined;
  if (problem !== undefined) throw new TypeError(`Refused \`api()\` path ${describe(value)}: it contains ${problem}`);
  return path;
}
