import { inspect } from 'node:util';
import { describe, expect, test } from 'vitest';
import { withOutcomeUnknown } from '../../src/errors.js';
import {
  GraphRequestError,
  ManagerShutDownError,
  SessionClosedError,
  SessionExpiredError,
  isGraphRequestError,
  isManagerShutDownError,
  isSessionClosedError,
  isSessionExpiredError,
  shortId,
} from '../../src/index.js';

describe('typed errors', () => {
  test('each has a stable code and a name', () => {
    const graph = new GraphRequestError({
      kind: 'http',
      method: 'POST',
      path: '/me/drive/items/A/workbook/closeSession',
      status: 429,
      graphCode: 'tooManyRequests',
      innerCode: 'tooManyRequestsUncategorized',
      retryAfterMs: 1000,
      requestId: '5b2c4f0e-1a2b-4c3d-9e8f-0123456789ab',
    });
    expect(graph).toMatchObject({
      code: 'GRAPH_REQUEST_FAILED',
      name: 'GraphRequestError',
      status: 429,
      retryAfterMs: 1000,
      requestId: '5b2c4f0e-1a2b-4c3d-9e8f-0123456789ab',
    });
    expect(graph.message).toBe(
      'POST /me/drive/items/A/workbook/closeSession failed: 429 tooManyRequests/tooManyRequestsUncategorized',
    );
    expect(JSON.parse(JSON.stringify(graph))).toMatchObject({
      code: 'GRAPH_REQUEST_FAILED',
      innerCode: 'tooManyRequestsUncategorized',
      attempt: 1,
    });
    expect(new SessionClosedError({ reason: 'idle', workbook: '/me/drive/items/A', sessionId: 'abc' })).toMatchObject({
      code: 'SESSION_CLOSED',
      reason: 'idle',
    });
    expect(new SessionExpiredError({ workbook: '/me/drive/items/A', sessionId: 'abc' })).toMatchObject({
      code: 'SESSION_EXPIRED',
    });
    expect(new ManagerShutDownError()).toMatchObject({ code: 'MANAGER_SHUT_DOWN' });
  });

  test('guards match instances and, for copies from another build, the name', () => {
    const copy = Object.assign(new Error('x'), { name: 'SessionClosedError' });
    expect(isSessionClosedError(copy)).toBe(true);
    expect(isSessionClosedError(new Error('x'))).toBe(false);
    expect(isGraphRequestError(new GraphRequestError({ kind: 'network', method: 'GET', path: '/p' }))).toBe(true);
    expect(isGraphRequestError({ name: 'SessionClosedError' })).toBe(false);
    expect(isSessionExpiredError(new SessionExpiredError({ workbook: 'w', sessionId: 's' }))).toBe(true);
    expect(isManagerShutDownError(new ManagerShutDownError())).toBe(true);
    expect(isManagerShutDownError(null)).toBe(false);
  });
});

describe('GraphRequestError', () => {
  const SESSION = 'cluster=EMU1&session=1.EMU.A.1.V24.ZfhoqlLoBMUm55p1rk+ZhdYa==';
  const TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

  test('codes keeps the whole chain; graphCode and innerCode are its first two', () => {
    const error = new GraphRequestError({
      kind: 'http',
      method: 'GET',
      path: '/p',
      status: 504,
      codes: ['gatewayTimeout', 'gatewayTimeoutUncategorized', 'MaxRequestDurationExceeded'],
    });
    expect(error).toMatchObject({
      graphCode: 'gatewayTimeout',
      innerCode: 'gatewayTimeoutUncategorized',
      codes: ['gatewayTimeout', 'gatewayTimeoutUncategorized', 'MaxRequestDurationExceeded'],
    });
    expect(error.message).toBe(
      'GET /p failed: 504 gatewayTimeout/gatewayTimeoutUncategorized/MaxRequestDurationExceeded',
    );
    expect(
      new GraphRequestError({ kind: 'http', method: 'GET', path: '/p', graphCode: 'a', innerCode: 'b' }).codes,
    ).toEqual(['a', 'b']);
  });

  test('outcomeUnknown defaults to false; when set, the message says the request may have been applied', () => {
    expect(new GraphRequestError({ kind: 'http', method: 'POST', path: '/p', status: 503 }).outcomeUnknown).toBe(false);
    const error = new GraphRequestError({
      kind: 'http',
      method: 'POST',
      path: '/p',
      status: 503,
      outcomeUnknown: true,
    });
    expect(error.outcomeUnknown).toBe(true);
    expect(error.message).toBe('POST /p failed: 503; outcome unknown: it may have been applied');
    expect(error.toJSON()).toMatchObject({ outcomeUnknown: true });
  });

  test('withOutcomeUnknown() marks a copy and keeps the original as cause', () => {
    const original = new GraphRequestError({
      kind: 'http',
      method: 'POST',
      path: '/p',
      status: 502,
      codes: ['badGateway'],
    });
    original.attempt = 2;
    const marked = withOutcomeUnknown(original);
    expect(marked).toMatchObject({
      outcomeUnknown: true,
      status: 502,
      codes: ['badGateway'],
      attempt: 2,
      cause: original,
    });
  });

  test('a requestId that is not a GUID is redacted; a GUID is kept', () => {
    expect(
      new GraphRequestError({ kind: 'http', method: 'GET', path: '/p', requestId: `Bearer ${TOKEN}` }).requestId,
    ).toBe('[redacted]');
    expect(new GraphRequestError({ kind: 'http', method: 'GET', path: '/p', requestId: SESSION }).requestId).toBe(
      '[redacted]',
    );
    expect(
      new GraphRequestError({
        kind: 'http',
        method: 'GET',
        path: '/p',
        requestId: '5B2C4F0E-1A2B-4C3D-9E8F-0123456789AB',
      }).requestId,
    ).toBe('5B2C4F0E-1A2B-4C3D-9E8F-0123456789AB');
  });

  test(
    'the session ids sent, session-info keys and id-looking ' + 'query values are shortened everywhere; tokens removed',
    () => {
      const error = new GraphRequestError({
        kind: 'http',
        method: 'GET',
        path:
          `/me/drive/items/A/workbook/sessionInfoResource(key='${SESSION}')` +
          `?sessionId=${encodeURIComponent(SESSION)}`,
        status: 400,
        codes: [`x${SESSION}`, 'invalidArgument'],
        detail: `session ${SESSION} by Bearer ${TOKEN}; raw ${TOKEN}`,
        sessionIds: [SESSION],
        cause: Object.assign(new Error(`socket for ${SESSION} with ${TOKEN}`), { cause: new Error(`inner ${TOKEN}`) }),
      });
      const texts = [
        error.message,
        error.stack ?? '',
        JSON.stringify(error),
        inspect(error, { depth: 10 }),
        String(error.cause),
        error.codes.join(),
      ];
      for (const text of texts) {
        expect(text).not.toContain(SESSION);
        expect(text).not.toContain(encodeURIComponent(SESSION));
        expect(text).not.toContain(TOKEN.slice(0, 20));
      }
      expect(error.message).toContain(shortId(SESSION));
      expect(JSON.stringify(error)).toContain('"cause":{"name":"Error"');
    },
  );
});
