import { describe, expect, test } from 'vitest';
import { GraphRequestError } from '../../src/errors.js';
import { readAnswer, readOperation, readSession } from '../../src/transport/answer.js';
import type { GraphAnswer } from '../../src/transport/graph-call.js';

// Reading what Graph answered: pure, from a Response and its text.

const call = { method: 'POST', path: '/me/drive/items/A/workbook/createSession' } as const;
const NOW = Date.UTC(2025, 0, 1);
const REQUEST_ID = '0f0e0d0c-0b0a-4908-8706-050403020100';

const response = (status: number, text: string, headers: Record<string, string> = {}): Response =>
  new Response(text === '' ? null : text, { status, headers });
const read = (status: number, text: string, headers: Record<string, string> = {}): GraphAnswer =>
  readAnswer(call, response(status, text, headers), text, NOW, []);
const failure = (status: number, text: string, headers: Record<string, string> = {}): GraphRequestError => {
  try {
    read(status, text, headers);
  } catch (error) {
    if (error instanceof GraphRequestError) return error;
    throw error;
  }
  throw new Error(`expected a ${status} answer to fail`);
};
const graphError = (error: unknown): string => JSON.stringify({ error });
const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' };

describe('readAnswer(): a 2xx answer', () => {
  test('JSON is parsed; status and headers are kept', () => {
    const answer = read(201, '{"id":"S1","persistChanges":true}', JSON_TYPE);
    expect(answer.status).toBe(201);
    expect(answer.body).toEqual({ id: 'S1', persistChanges: true });
    expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
  });

  test('JSON under another label, or none, is still read: a session id must not be lost to a wrong header', () => {
    expect(read(201, '{"id":"S1"}', { 'content-type': 'text/plain' }).body).toEqual({ id: 'S1' });
    expect(read(201, '  [1, 2]').body).toEqual([1, 2]);
  });

  test('an empty body is undefined; text that is not JSON stays text', () => {
    expect(read(204, '').body).toBeUndefined();
    expect(read(200, 'hello', { 'content-type': 'text/plain' }).body).toBe('hello');
    expect(read(200, '{not json', { 'content-type': 'text/plain' }).body).toBe('{not json');
  });

  test('a body labelled JSON that is not JSON is a malformed answer', () => {
    const error = failure(200, '{"id":', JSON_TYPE);
    expect(error).toMatchObject({ kind: 'malformed', status: 200, method: 'POST', path: call.path });
    expect(error.message).toBe(`POST ${call.path} failed: 200: the answer is not valid JSON`);
  });
});

describe('readAnswer(): an error answer', () => {
  test("Graph's error chain, request id and Retry-After are read into the error", () => {
    const body = graphError({
      code: 'serviceNotAvailable',
      message: 'Try later',
      innerError: { code: 'serviceUnavailableUncategorized', 'request-id': REQUEST_ID },
    });
    const error = failure(503, body, { ...JSON_TYPE, 'retry-after': '7' });
    expect(error).toMatchObject({
      kind: 'http',
      status: 503,
      codes: ['serviceNotAvailable', 'serviceUnavailableUncategorized'],
      graphCode: 'serviceNotAvailable',
      innerCode: 'serviceUnavailableUncategorized',
      requestId: REQUEST_ID,
      retryAfterMs: 7000,
    });
    expect(error.message).toBe(
      `POST ${call.path} failed: 503 serviceNotAvailable/serviceUnavailableUncategorized: Try later`,
    );
  });

  test('the request id comes from the request-id header first, then the body, then client-request-id', () => {
    const other = '11111111-2222-4333-8444-555555555555';
    const body = graphError({ code: 'x', innerError: { 'request-id': REQUEST_ID } });
    expect(failure(500, body, { ...JSON_TYPE, 'request-id': other }).requestId).toBe(other);
    expect(failure(500, body, { ...JSON_TYPE, 'client-request-id': other }).requestId).toBe(REQUEST_ID);
    expect(failure(500, graphError({ code: 'x' }), { ...JSON_TYPE, 'client-request-id': other }).requestId).toBe(other);
  });

  test('an HTTP-date Retry-After is read against `now`', () => {
    const at = new Date(NOW + 30_000).toUTCString();
    expect(
      failure(429, graphError({ code: 'tooManyRequests' }), { ...JSON_TYPE, 'retry-after': at }).retryAfterMs,
    ).toBe(30_000);
  });

  test("an error answer that is not Graph's JSON says what it was instead", () => {
    const html = failure(502, '<html>Bad gateway</html>', { 'content-type': 'text/html; charset=utf-8' });
    expect(html).toMatchObject({ kind: 'http', status: 502, codes: [] });
    expect(html.message).toBe(`POST ${call.path} failed: 502: the error answer is not Graph's JSON (text/html)`);
    expect(failure(500, '').message).toContain("the error answer is not Graph's JSON (no content type)");
    // JSON, but no `error` object in it.
    expect(failure(400, '{"message":"no"}', JSON_TYPE).message).toContain("not Graph's JSON (application/json)");
  });

  test('session ids the request carried are shortened in the error', () => {
    const id = 'cluster=PUS7&session=0123456789abcdef0123456789abcdef';
    const text = graphError({ code: 'invalidRequest', message: `session ${id} is bad` });
    const error = (() => {
      try {
        readAnswer(call, response(400, text, JSON_TYPE), text, NOW, [id]);
      } catch (thrown) {
        return thrown as GraphRequestError;
      }
      throw new Error('expected a failure');
    })();
    expect(error.message).not.toContain(id);
  });
});

describe('readSession()', () => {
  test('the id and persistChanges of a created session; persistChanges defaults to true', () => {
    expect(readSession('POST', call.path, { id: 'S1', persistChanges: false })).toEqual({
      id: 'S1',
      persistChanges: false,
    });
    expect(readSession('POST', call.path, { id: 'S1' })).toEqual({ id: 'S1', persistChanges: true });
  });

  test('an answer without an id is malformed', () => {
    for (const body of [undefined, 'S1', [], {}, { id: '' }, { id: 7 }]) {
      expect(() => readSession('POST', call.path, body)).toThrow(
        `POST ${call.path} failed: malformed: the answer carries no session id`,
      );
    }
  });

  test('an id no header can carry is an unsendable id: Graph holds a session nobody can close', () => {
    let error: unknown;
    try {
      readSession('GET', '/me/drive/items/A/workbook/sessionInfo', { id: 'bad\nid-0123456789abcdef' });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(GraphRequestError);
    expect(error).toMatchObject({ kind: 'unsendable-id', method: 'GET' });
    expect((error as Error).message).toContain('but its id cannot be sent in a header');
    expect((error as Error).message).toContain('stays open on the server until Graph expires it');
  });
});

describe('readOperation()', () => {
  const OPERATION = '/me/drive/items/A/workbook/operations/1';
  const poll = (body: unknown, headers: Record<string, string> = {}): GraphAnswer => ({
    status: 200,
    headers: new Headers(headers),
    body,
  });

  test('notStarted and running (in any case) are not done', () => {
    for (const status of ['notStarted', 'running', 'RUNNING']) {
      expect(readOperation(OPERATION, poll({ status }))).toEqual({ done: false });
    }
  });

  test('succeeded or completed is done, with its resourceLocation (null when it has none)', () => {
    expect(readOperation(OPERATION, poll({ status: 'succeeded', resourceLocation: 'sessionInfo/1' }))).toEqual({
      done: true,
      resourceLocation: 'sessionInfo/1',
    });
    expect(readOperation(OPERATION, poll({ status: 'Completed', resourceLocation: 5 }))).toEqual({
      done: true,
      resourceLocation: null,
    });
  });

  test("failed is an operation-failed error carrying the operation's error chain", () => {
    const body = {
      status: 'failed',
      error: { code: 'serviceNotAvailable', message: 'busy', innerError: { code: 'serviceUnavailableUncategorized' } },
    };
    let error: unknown;
    try {
      readOperation(OPERATION, poll(body, { 'request-id': REQUEST_ID }));
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toMatchObject({
      kind: 'operation-failed',
      method: 'GET',
      path: OPERATION,
      status: 200,
      graphCode: 'serviceNotAvailable',
      innerCode: 'serviceUnavailableUncategorized',
      requestId: REQUEST_ID,
    });
    expect((error as Error).message).toContain(': busy');
    expect(() => readOperation(OPERATION, poll({ status: 'failed' }))).toThrow('the createSession operation failed');
  });

  test('any other status, or none, is malformed and named', () => {
    expect(() => readOperation(OPERATION, poll({ status: 'paused' }))).toThrow(
      `GET ${OPERATION} failed: 200: unknown operation status "paused"`,
    );
    expect(() => readOperation(OPERATION, poll({}))).toThrow('unknown operation status null');
    expect(() => readOperation(OPERATION, poll('running'))).toThrow('unknown operation status null');
  });
});
