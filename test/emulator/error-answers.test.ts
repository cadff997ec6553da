import { describe, expect, it } from 'vitest';
import {
  cooldownRefused,
  itemMethodNotImplemented,
  methodNotAllowed,
  sessionCapReached,
  sessionGone,
  unknownParameter,
} from '../../src/testing/error-answers.js';
import { topLevelCodeOf } from '../../src/testing/responses.js';

const CTX = { requestId: 'req-1', clientRequestId: 'client-1', now: Date.UTC(2025, 0, 2, 3, 4, 5) };

async function body(
  res: Response,
): Promise<{ error: Record<string, unknown> & { innerError: Record<string, unknown> } }> {
  return (await res.json()) as { error: Record<string, unknown> & { innerError: Record<string, unknown> } };
}

describe('error answers', () => {
  it('carry Graph error shape: codes, message, date and both request ids', async () => {
    const res = sessionGone(CTX);
    expect(res.status).toBe(404);
    expect(res.headers.get('request-id')).toBe('req-1');
    expect((await body(res)).error).toEqual({
      code: 'itemNotFound',
      message: 'The session specified in the request does not exist or is invalid due to a transient error.',
      innerError: {
        code: 'invalidSessionReCreatable',
        message: 'The session specified in the request does not exist or is invalid due to a transient error.',
        date: '2025-01-02T03:04:05',
        'request-id': 'req-1',
        'client-request-id': 'client-1',
      },
    });
  });

  it('the session cap is a 429 with three levels of codes and no Retry-After', async () => {
    const res = sessionCapReached(CTX);
    expect([res.status, res.headers.get('retry-after')]).toEqual([429, null]);
    const { error } = await body(res);
    expect(error['code']).toBe('tooManyRequests');
    expect(error.innerError['code']).toBe('tooManyRequestsUncategorized');
    expect((error.innerError['innerError'] as { code: string }).code).toBe('MaxSessionsPerWorkbookExceeded');
  });

  it('405 lists the allowed methods; a strict cooldown tells the seconds left, rounded up', () => {
    const res = methodNotAllowed(CTX, 'PUT', ['GET', 'PATCH']);
    expect([res.status, res.headers.get('allow')]).toEqual([405, 'GET, PATCH']);
    expect(cooldownRefused(CTX, 1_200).headers.get('retry-after')).toBe('2');
    expect(itemMethodNotImplemented(CTX, 'DELETE').status).toBe(501);
  });

  it('unknownParameter() answers only for a body key outside the allowed ones (annotations aside)', async () => {
    expect(unknownParameter(CTX, { persistChanges: true, '@odata.type': 'x' }, ['persistChanges'], 'a')).toBe(
      undefined,
    );
    expect(unknownParameter(CTX, 'not an object', [], 'a')).toBe(undefined);
    const res = unknownParameter(CTX, { persist: true }, ['persistChanges'], 'createSession');
    expect(res?.status).toBe(400);
    expect((await body(res as Response)).error['message']).toBe(
      "The parameter 'persist' in the request payload is not a valid parameter for the operation 'createSession'.",
    );
  });
});

describe('topLevelCodeOf()', () => {
  it('maps a failed operation second-level code to its top-level code, case-insensitively', () => {
    expect(topLevelCodeOf('transientFailure')).toBe('serviceUnavailable');
    expect(topLevelCodeOf('TOOMANYREQUESTSUNCATEGORIZED')).toBe('tooManyRequests');
    expect(topLevelCodeOf('accessDenied')).toBe('forbidden');
    expect(topLevelCodeOf('gatewayTimeoutUncategorized')).toBe('gatewayTimeout');
    expect(topLevelCodeOf('invalidSessionAccessConflict')).toBe('conflict');
    expect(topLevelCodeOf('somethingElse')).toBe('internalServerError');
  });
});
