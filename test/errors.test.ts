import { describe, expect, test } from 'vitest';
import {
  GraphRequestError,
  ManagerShutDownError,
  SessionClosedError,
  SessionExpiredError,
  isGraphRequestError,
  isManagerShutDownError,
  isSessionClosedError,
  isSessionExpiredError,
} from '../src/index.js';

describe('typed errors', () => {
  test('each has a stable code and a name', () => {
    const graph = new GraphRequestError({ kind: 'http', method: 'POST', path: '/me/drive/items/A/workbook/closeSession', status: 429, graphCode: 'tooManyRequests', innerCode: 'tooManyRequestsUncategorized', retryAfterMs: 1000, requestId: '5b2c4f0e-1a2b-4c3d-9e8f-0123456789ab' });
    expect(graph).toMatchObject({ code: 'GRAPH_REQUEST_FAILED', name: 'GraphRequestError', status: 429, retryAfterMs: 1000, requestId: '5b2c4f0e-1a2b-4c3d-9e8f-0123456789ab' });
    expect(graph.message).toBe('POST /me/drive/items/A/workbook/closeSession failed: 429 tooManyRequests/tooManyRequestsUncategorized');
    expect(JSON.parse(JSON.stringify(graph))).toMatchObject({ code: 'GRAPH_REQUEST_FAILED', innerCode: 'tooManyRequestsUncategorized', attempt: 1 });
    expect(new SessionClosedError({ reason: 'idle', workbook: '/me/drive/items/A', sessionId: 'abc' })).toMatchObject({ code: 'SESSION_CLOSED', reason: 'idle' });
    expect(new SessionExpiredError({ workbook: '/me/drive/items/A', sessionId: 'abc' })).toMatchObject({ code: 'SESSION_EXPIRED' });
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
