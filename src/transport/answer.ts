import { GraphRequestError, readErrorChain, safeMessage } from '../errors.js';
import { headerValueProblem, shortId } from '../util/ids.js';
import type { CreatedSession, GraphAnswer, GraphCall } from './graph-call.js';
import { parseRetryAfter } from './retry.js';

/** An answer's body as the server sent it, read as JSON where it is JSON. */
interface ReadBody {
  readonly body: unknown;
  /** The body was JSON and parsed. */
  readonly parsed: boolean;
}

/**
 * An answer read: a 2xx as a {@link GraphAnswer}, anything else thrown as a GraphRequestError carrying
 * Graph's error chain, request id and `Retry-After`. `text` is the body as received, `now` the time
 * `Retry-After` dates are read against, `sessionIds` the ids the request carried (shortened in the error).
 */
export function readAnswer(
  call: Pick<GraphCall, 'method' | 'path'>,
  response: Response,
  text: string,
  now: number,
  sessionIds: readonly string[],
): GraphAnswer {
  const { body, parsed } = readBody(call, response, text, sessionIds);
  if (response.ok) return { status: response.status, headers: response.headers, body };
  throw errorAnswer(call, response, parsed ? asRecord(asRecord(body)?.['error']) : undefined, now, sessionIds);
}

function readBody(
  call: Pick<GraphCall, 'method' | 'path'>,
  response: Response,
  text: string,
  sessionIds: readonly string[],
): ReadBody {
  if (text === '') return { body: undefined, parsed: false };
  const labelledJson = contentType(response).includes('json');
  // JSON under another label (`text/plain`, none) is still read: a created session's id must not be
  // lost to a wrong header.
  if (!labelledJson && !/^\s*[{[]/.test(text)) return { body: text, parsed: false };
  try {
    return { body: JSON.parse(text) as unknown, parsed: true };
  } catch {
    if (response.ok && labelledJson) {
      throw new GraphRequestError({
        kind: 'malformed',
        method: call.method,
        path: call.path,
        status: response.status,
        detail: 'the answer is not valid JSON',
        sessionIds,
      });
    }
    return { body: text, parsed: false };
  }
}

/** An error answer as a GraphRequestError; `error` is its body's `error` object, if it has Graph's shape. */
function errorAnswer(
  call: Pick<GraphCall, 'method' | 'path'>,
  response: Response,
  error: Record<string, unknown> | undefined,
  now: number,
  sessionIds: readonly string[],
): GraphRequestError {
  const chain = readErrorChain(error);
  const { headers } = response;
  return new GraphRequestError({
    kind: 'http',
    method: call.method,
    path: call.path,
    status: response.status,
    codes: chain.codes,
    graphCode: chain.graphCode,
    innerCode: chain.innerCode,
    requestId: headers.get('request-id') ?? chain.requestId ?? headers.get('client-request-id') ?? undefined,
    retryAfterMs: parseRetryAfter(headers.get('retry-after'), now),
    detail:
      error === undefined
        ? `the error answer is not Graph's JSON (${contentType(response).split(';')[0] || 'no content type'})`
        : (chain.message ?? undefined),
    sessionIds,
  });
}

function contentType(response: Response): string {
  return response.headers.get('content-type') ?? '';
}

/**
 * The session a createSession answer (or a long-running one's session info) carries. Fails as
 * `malformed` without an id, and as `unsendable-id` with an id no header can carry: Graph then holds
 * a session nobody can use or close.
 */
export function readSession(method: string, path: string, body: unknown): CreatedSession {
  const record = asRecord(body);
  const id = record?.['id'];
  if (typeof id !== 'string' || id === '') {
    throw new GraphRequestError({ kind: 'malformed', method, path, detail: 'the answer carries no session id' });
  }
  const problem = headerValueProblem(id);
  if (problem !== undefined) {
    throw new GraphRequestError({
      kind: 'unsendable-id',
      method,
      path,
      sessionIds: [id],
      detail:
        `Graph created session "${shortId(id)}", but its id cannot be sent in a header (${problem}): ` +
        'it cannot be used or closed, and stays open on the server until Graph expires it',
    });
  }
  return { id, persistChanges: record?.['persistChanges'] !== false };
}

/** How a long-running operation goes, from one poll's answer. */
export type OperationState =
  | { readonly done: false }
  /** Succeeded: `resourceLocation` points at the session's details (`null` when the answer has none). */
  | { readonly done: true; readonly resourceLocation: string | null };

/**
 * Reads a poll of a long-running operation (at `path`): running, or done with where its result is.
 * An operation that `failed` is thrown as `operation-failed` with its error chain; a status Graph
 * does not document as `malformed`.
 */
export function readOperation(path: string, poll: GraphAnswer): OperationState {
  const record = asRecord(poll.body);
  const status = typeof record?.['status'] === 'string' ? record['status'].toLowerCase() : undefined;
  switch (status) {
    case 'notstarted':
    case 'running':
      return { done: false };
    case 'succeeded':
    case 'completed': {
      const location = record?.['resourceLocation'];
      return { done: true, resourceLocation: typeof location === 'string' ? location : null };
    }
    case 'failed': {
      const chain = readErrorChain(record?.['error']);
      throw new GraphRequestError({
        kind: 'operation-failed',
        method: 'GET',
        path,
        status: poll.status,
        codes: chain.codes,
        graphCode: chain.graphCode,
        innerCode: chain.innerCode,
        requestId: poll.headers.get('request-id') ?? chain.requestId,
        detail: chain.message ?? 'the createSession operation failed',
      });
    }
    default:
      throw new GraphRequestError({
        kind: 'malformed',
        method: 'GET',
        path,
        status: poll.status,
        detail: `unknown operation status ${JSON.stringify(safeMessage(record?.['status']) ?? null)}`,
      });
  }
}

export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
