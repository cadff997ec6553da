import { describe, expect, test } from 'vitest';
import { GraphRequestError, type GraphRequestErrorInit } from '../../src/errors.js';
import { KNOWN_SECOND_LEVEL_CODES, secondLevelRule } from '../../src/transport/graph-codes.js';
import { decideRetry, parseRetryAfter, type RetryPolicy } from '../../src/transport/retry.js';

// The pure retry decision and Retry-After parsing: no timers, no network.

const policy: RetryPolicy = { retries: 5, baseDelayMs: 100, maxDelayMs: 1000, deadlineMs: 10_000 };
const context = { attempt: 1, idempotent: false, policy, elapsedMs: 0, random: 0.5 };
const failure = (init: Partial<GraphRequestErrorInit>): GraphRequestError =>
  new GraphRequestError({ kind: 'http', method: 'POST', path: '/me/drive/items/A/workbook/x', ...init });

describe('decideRetry: the order second-level code, top-level code, status', () => {
  test('a retryable second-level code wins over a status that is never retried', () => {
    const d = decideRetry(failure({ status: 400, innerCode: 'transientFailure' }), context);
    expect(d).toMatchObject({ retry: true, cooldown: false, why: 'backoff' });
  });

  test('second-level codes compare case-insensitively', () => {
    expect(decideRetry(failure({ status: 500, innerCode: 'TOOMANYREQUESTSUNCATEGORIZED' }), context).retry).toBe(true);
    expect(decideRetry(failure({ status: 500, innerCode: 'ServiceUnavailableUncategorized' }), context).retry).toBe(
      true,
    );
  });

  test('an invalidSession* second-level code stops retrying, even on a 429 or 503', () => {
    for (const innerCode of ['invalidSessionReCreatable', 'invalidSessionNotFound', 'invalidSessionAccessConflict']) {
      expect(decideRetry(failure({ status: 503, graphCode: 'serviceNotAvailable', innerCode }), context)).toEqual({
        retry: false,
        why: 'session fault',
      });
    }
  });

  test('gatewayTimeoutUncategorized is retried only for idempotent calls, whatever the status', () => {
    const error = failure({ status: 400, innerCode: 'gatewayTimeoutUncategorized' });
    expect(decideRetry(error, context)).toEqual({ retry: false, why: 'not idempotent' });
    expect(decideRetry(error, { ...context, idempotent: true }).retry).toBe(true);
  });

  test('an unknown second-level code falls through to the top-level code', () => {
    const d = decideRetry(
      failure({ status: 400, graphCode: 'activityLimitReached', innerCode: 'somethingNew' }),
      context,
    );
    expect(d.retry).toBe(true);
    expect(decideRetry(failure({ status: 400, graphCode: 'TooManyRequests' }), context).retry).toBe(true);
    expect(decideRetry(failure({ status: 400, graphCode: 'serviceNotAvailable' }), context).retry).toBe(true);
  });

  test('unknown codes fall through to the status', () => {
    expect(decideRetry(failure({ status: 429, graphCode: 'whatever', innerCode: 'other' }), context).retry).toBe(true);
    expect(decideRetry(failure({ status: 400, graphCode: 'invalidArgument', innerCode: 'other' }), context)).toEqual({
      retry: false,
      why: 'not retryable',
    });
  });
});

describe('decideRetry: statuses and idempotency', () => {
  test.each([429, 503])('%i is retried for any method', (status) => {
    expect(decideRetry(failure({ status }), context).retry).toBe(true);
    expect(decideRetry(failure({ status }), { ...context, idempotent: true }).retry).toBe(true);
  });

  test.each([502, 504])('%i is retried only for idempotent calls', (status) => {
    expect(decideRetry(failure({ status }), context)).toEqual({ retry: false, why: 'not idempotent' });
    expect(decideRetry(failure({ status }), { ...context, idempotent: true }).retry).toBe(true);
  });

  test('a network failure is retried only for idempotent calls', () => {
    const error = failure({ kind: 'network' });
    expect(decideRetry(error, context)).toEqual({ retry: false, why: 'not idempotent' });
    expect(decideRetry(error, { ...context, idempotent: true }).retry).toBe(true);
  });

  test.each([400, 401, 403, 404, 409, 500, 501])('%i is not retried, even for idempotent calls', (status) => {
    expect(decideRetry(failure({ status }), { ...context, idempotent: true })).toEqual({
      retry: false,
      why: 'not retryable',
    });
  });

  test.each(['malformed', 'unsafe-location', 'operation-failed'] as const)('a %s failure is never retried', (kind) => {
    expect(decideRetry(failure({ kind, status: 200 }), { ...context, idempotent: true })).toEqual({
      retry: false,
      why: `not retryable (${kind})`,
    });
  });

  test('anything that is not a GraphRequestError is not retried', () => {
    expect(decideRetry(new Error('boom'), { ...context, idempotent: true })).toEqual({
      retry: false,
      why: 'not a Graph request failure',
    });
    expect(decideRetry({ name: 'GraphRequestError', status: 429 }, context).retry).toBe(false);
  });
});

describe('decideRetry: bounds', () => {
  test('stops when the attempt that failed is past the retry count', () => {
    const error = failure({ status: 429 });
    expect(decideRetry(error, { ...context, attempt: 5 }).retry).toBe(true);
    expect(decideRetry(error, { ...context, attempt: 6 })).toEqual({ retry: false, why: 'retries exhausted' });
    expect(decideRetry(error, { ...context, policy: { ...policy, retries: 0 } })).toEqual({
      retry: false,
      why: 'retries exhausted',
    });
  });

  test('a Retry-After is waited for as a cooldown, within the deadline', () => {
    const d = decideRetry(failure({ status: 429, retryAfterMs: 3000 }), { ...context, elapsedMs: 7000 });
    expect(d).toEqual({ retry: true, delayMs: 3000, cooldown: true, why: 'Retry-After' });
  });

  test('a Retry-After that ends past the deadline is not waited for', () => {
    const d = decideRetry(failure({ status: 429, retryAfterMs: 3001 }), { ...context, elapsedMs: 7000 });
    expect(d).toEqual({ retry: false, why: 'Retry-After passes the retry deadline' });
  });

  test('decideRetry treats a Retry-After of 0 (or a past date) as no wait, but still backs off', () => {
    expect(decideRetry(failure({ status: 503, retryAfterMs: 0 }), context)).toEqual({
      retry: true,
      delayMs: 75,
      cooldown: false,
      why: 'backoff',
    });
    expect(decideRetry(failure({ status: 429, retryAfterMs: 0 }), { ...context, attempt: 3 })).toEqual({
      retry: true,
      delayMs: 300,
      cooldown: false,
      why: 'backoff',
    });
  });

  test('decideRetry waits a Retry-After of any length when the deadline allows it', () => {
    const long = { ...policy, deadlineMs: Infinity };
    expect(decideRetry(failure({ status: 429, retryAfterMs: 3_600_000 }), { ...context, policy: long })).toEqual({
      retry: true,
      delayMs: 3_600_000,
      cooldown: true,
      why: 'Retry-After',
    });
  });

  test('a backoff that ends past the deadline is not waited for', () => {
    // attempt 3: ceiling 400, random 1 -> 400.
    const at = { ...context, attempt: 3, random: 0.999_999 };
    expect(decideRetry(failure({ status: 503 }), { ...at, elapsedMs: 9600 })).toMatchObject({
      retry: true,
      delayMs: 400,
    });
    expect(decideRetry(failure({ status: 503 }), { ...at, elapsedMs: 9601 })).toEqual({
      retry: false,
      why: 'backoff passes the retry deadline',
    });
  });
});

describe('decideRetry: backoff with jitter', () => {
  const delay = (attempt: number, random: number): number => {
    const d = decideRetry(failure({ status: 503 }), { ...context, attempt, random });
    if (!d.retry) throw new Error(`expected a retry, got ${d.why}`);
    return d.delayMs;
  };

  test('the delay is half fixed, half random: [ceiling/2, ceiling]', () => {
    expect(delay(1, 0)).toBe(50);
    expect(delay(1, 0.5)).toBe(75);
    expect(delay(1, 0.999_999)).toBe(100);
  });

  test('the ceiling doubles each attempt up to maxDelayMs', () => {
    expect([1, 2, 3, 4, 5].map((a) => delay(a, 0))).toEqual([50, 100, 200, 400, 500]);
    expect([1, 2, 3, 4, 5].map((a) => delay(a, 0.999_999))).toEqual([100, 200, 400, 800, 1000]);
  });

  test('every delay stays within its bounds for any random number in [0, 1)', () => {
    for (let attempt = 1; attempt <= 5; attempt++) {
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      for (let i = 0; i < 100; i++) {
        const d = delay(attempt, i / 100);
        expect(d).toBeGreaterThanOrEqual(ceiling / 2);
        expect(d).toBeLessThanOrEqual(ceiling);
      }
    }
  });

  test('the decision is pure: the same inputs give the same answer', () => {
    const error = failure({ status: 429, innerCode: 'x', graphCode: 'y' });
    expect(decideRetry(error, { ...context, random: 0.3 })).toEqual(decideRetry(error, { ...context, random: 0.3 }));
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  test('reads delay-seconds as milliseconds', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('1', now)).toBe(1000);
    expect(parseRetryAfter(' 30 ', now)).toBe(30_000);
  });

  test('reads an HTTP-date as the time until it', () => {
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:05 GMT', now)).toBe(5000);
  });

  test('a date in the past means no wait', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now)).toBe(0);
  });

  test("parseRetryAfter puts no upper bound on the server's value", () => {
    expect(parseRetryAfter('3600', now)).toBe(3_600_000);
    expect(parseRetryAfter('99999999999', now)).toBe(99_999_999_999_000);
    expect(parseRetryAfter('Fri, 01 Jan 2100 00:00:00 GMT', now)).toBe(Date.parse('2100-01-01T00:00:00Z') - now);
  });

  test('parseRetryAfter reads the obsolete HTTP-date forms too', () => {
    expect(parseRetryAfter('Wednesday, 01-Jan-25 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed Jan  1 00:00:05 2025', now)).toBe(5000);
  });

  test.each([
    null,
    undefined,
    '',
    '-5',
    '-0',
    '1.5',
    '1e3',
    '+3',
    '0x10',
    'soon',
    'Someday, 99 Foo 2025',
    'Mon 1',
    'in 10',
    '2025-01-01T00:00:05Z',
    'Wed, 01 Jan 2025',
  ])('parseRetryAfter treats %j as absent', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });

  test.each([NaN, Infinity, '1' as unknown as number])(
    'parseRetryAfter refuses a clock reading %j with a TypeError',
    (bad) => {
      expect(() => parseRetryAfter('5', bad)).toThrow(
        new TypeError(`Expected \`now\` to be a finite number (epoch ms), got ${String(bad)} (${typeof bad})`),
      );
    },
  );
});

describe('decideRetry: every second-level code by its graph-codes.ts rule', () => {
  test.each(
    KNOWN_SECOND_LEVEL_CODES.filter(
      (code) => secondLevelRule(code)?.resend === 'never' && secondLevelRule(code)?.session === 'keep',
    ),
  )('the do-not-resend code %s is not retried, even on a 429, 503 or 504 of an idempotent call', (innerCode) => {
    for (const status of [429, 503, 504]) {
      expect(decideRetry(failure({ status, innerCode }), { ...context, idempotent: true })).toEqual({
        retry: false,
        why: 'Graph says do not resend',
      });
    }
  });

  test('rangeExceedsLimit is not resent as is', () => {
    expect(
      decideRetry(failure({ status: 413, innerCode: 'rangeExceedsLimit' }), { ...context, idempotent: true }),
    ).toEqual({ retry: false, why: 'Graph says resend with a smaller range' });
  });

  test('internalServerErrorUncategorized ends the session: not resent', () => {
    expect(
      decideRetry(failure({ status: 500, innerCode: 'internalServerErrorUncategorized' }), {
        ...context,
        idempotent: true,
      }),
    ).toEqual({ retry: false, why: 'session fault' });
  });

  test('an unknown invalidSession* code is still a session fault', () => {
    expect(
      decideRetry(failure({ status: 503, innerCode: 'invalidSessionSomethingNew' }), { ...context, idempotent: true }),
    ).toEqual({ retry: false, why: 'session fault' });
  });
});

describe('decideRetry: sessionful requests', () => {
  test.each([502, 503])('a sessionful %i with no known second-level code is a session fault, not a retry', (status) => {
    expect(decideRetry(failure({ status }), { ...context, idempotent: true, sessionful: true })).toEqual({
      retry: false,
      why: 'session fault',
    });
    expect(
      decideRetry(failure({ status, graphCode: 'serviceNotAvailable', innerCode: 'unknownThing' }), {
        ...context,
        sessionful: true,
      }),
    ).toEqual({ retry: false, why: 'session fault' });
  });

  test('a sessionful 503 with a known second-level code follows that code', () => {
    expect(
      decideRetry(failure({ status: 503, innerCode: 'serviceUnavailableUncategorized' }), {
        ...context,
        sessionful: true,
      }).retry,
    ).toBe(true);
  });

  test('sessionless (and closeSession, which the transport marks sessionless) 502/503 keep the status rules', () => {
    expect(decideRetry(failure({ status: 503 }), { ...context, sessionful: false }).retry).toBe(true);
    expect(decideRetry(failure({ status: 502 }), { ...context, idempotent: true }).retry).toBe(true);
  });

  test('a sessionful 429 or 504 is not a session fault', () => {
    expect(decideRetry(failure({ status: 429 }), { ...context, sessionful: true }).retry).toBe(true);
    expect(decideRetry(failure({ status: 504 }), { ...context, idempotent: true, sessionful: true }).retry).toBe(true);
  });
});

describe('decideRetry: a failed long-running createSession', () => {
  test.each(['transientFailure', 'SERVICEUNAVAILABLEUNCATEGORIZED', 'tooManyRequestsUncategorized'])(
    'an operation failed with %s is sent again, with backoff',
    (innerCode) => {
      expect(
        decideRetry(failure({ kind: 'operation-failed', status: 200, graphCode: 'serviceUnavailable', innerCode }), {
          ...context,
          idempotent: true,
        }),
      ).toMatchObject({ retry: true, cooldown: false });
    },
  );

  test('a resend-after-cooldown code at the top level counts when there is no second level', () => {
    expect(
      decideRetry(failure({ kind: 'operation-failed', status: 200, graphCode: 'transientFailure' }), {
        ...context,
        idempotent: true,
      }).retry,
    ).toBe(true);
  });

  test('an operation failed with any other code is not retried', () => {
    expect(
      decideRetry(
        failure({
          kind: 'operation-failed',
          status: 200,
          graphCode: 'internalServerError',
          innerCode: 'generalException',
        }),
        { ...context, idempotent: true },
      ),
    ).toEqual({
      retry: false,
      why: 'not retryable (operation-failed)',
    });
  });

  test('the resend stays within the retry count and deadline', () => {
    const error = failure({ kind: 'operation-failed', status: 200, innerCode: 'transientFailure' });
    expect(decideRetry(error, { ...context, idempotent: true, attempt: 6 })).toEqual({
      retry: false,
      why: 'retries exhausted',
    });
    expect(decideRetry(error, { ...context, idempotent: true, elapsedMs: 9_990 })).toEqual({
      retry: false,
      why: 'backoff passes the retry deadline',
    });
  });
});

describe('decideRetry: a closeSession', () => {
  const closing = { ...context, idempotent: true, closing: true };

  test.each([
    [
      'a 500 internalServerErrorUncategorized',
      { status: 500, graphCode: 'internalServerError', innerCode: 'internalServerErrorUncategorized' },
    ],
    [
      'a 409 accessConflict (another client holds the lock)',
      { status: 409, graphCode: 'conflict', innerCode: 'accessConflict' },
    ],
    [
      'a 409 invalidSessionAccessConflict',
      { status: 409, graphCode: 'conflict', innerCode: 'invalidSessionAccessConflict' },
    ],
    ['a 503 with no second-level code', { status: 503, graphCode: 'serviceNotAvailable' }],
    ['a bare 429', { status: 429, graphCode: 'TooManyRequests' }],
    ['a 504 requestAborted', { status: 504, innerCode: 'requestAborted' }],
  ] as const)(
    'is resent after %s: giving up would leave the session open, and closing twice is harmless',
    (_label, init) => {
      expect(decideRetry(failure(init), closing)).toMatchObject({ retry: true, why: 'backoff' });
    },
  );

  test('is resent after a lost answer', () => {
    expect(decideRetry(failure({ kind: 'network' }), closing)).toMatchObject({ retry: true });
  });

  test.each([
    ['invalidSessionReCreatable', { status: 404, innerCode: 'invalidSessionReCreatable' }, 'session gone'],
    ['invalidSessionNotFound', { status: 404, innerCode: 'invalidSessionNotFound' }, 'session gone'],
    ['a bare 404', { status: 404, graphCode: 'itemNotFound' }, 'session gone'],
    ['a 403 accessDenied', { status: 403, graphCode: 'accessDenied', innerCode: 'accessDenied' }, 'not retryable'],
    ['a 400 invalidRequest', { status: 400, graphCode: 'invalidRequest' }, 'not retryable'],
  ] as const)('is not resent after %s', (_label, init, why) => {
    expect(decideRetry(failure(init), closing)).toEqual({ retry: false, why });
  });

  test('is not resent when nothing could be sent (a client error)', () => {
    expect(decideRetry(failure({ kind: 'client' }), closing)).toEqual({ retry: false, why: 'not retryable (client)' });
  });
});
