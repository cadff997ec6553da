import { isGraphRequestError, readErrorChain } from '../errors.js';
import { secondLevelRule } from '../transport/graph-codes.js';

/**
 * What a failed sessionful request says about its session, by Graph's error-handling page:
 * - `gone`: the session no longer exists (`invalidSessionReCreatable`); create a new one and resume.
 *   The request was not applied in it.
 * - `faulted`: a `502` or `503` with no known second-level code ("Special case handling"): do not
 *   use the session again; create a new one. The request may have been applied.
 * - `ended`: Graph says never to use the session again, and a new one is not expected to help
 *   (the other `invalidSession*` codes, `internalServerErrorUncategorized`).
 * - `unconfirmed`: a bare `404` with no second-level code: it may name a missing worksheet rather
 *   than a missing session, so it has to be checked (a refreshSession) before acting on it.
 * - `none`: nothing about the session.
 */
export type SessionFault = 'gone' | 'faulted' | 'ended' | 'unconfirmed' | 'none';

/**
 * Classifies a failure of a request sent with a `workbook-session-id`: a {@link GraphRequestError},
 * or a `GraphError` thrown by the Graph client for a call of your own. Pure. A known second-level
 * code decides first; without one, the status does.
 */
export function sessionFaultOf(error: unknown): SessionFault {
  const failure = answerOf(error);
  if (failure === undefined) return 'none';
  const rule = secondLevelRule(failure.innerCode);
  if (rule !== undefined) {
    if (rule.session === 'recreate') return 'gone';
    if (rule.session === 'end') return 'ended';
    return 'none';
  }
  if (failure.status === 502 || failure.status === 503) return 'faulted';
  if (failure.status === 404 && failure.innerCode === undefined) return 'unconfirmed';
  return 'none';
}

/**
 * True when Graph says the session a request was sent in must not be used again: it is gone, it
 * faulted, or it ended for good. Use it on errors of your own Graph calls made with a session id;
 * errors thrown by this library's handles are already acted on.
 */
export function isSessionFault(error: unknown): boolean {
  const fault = sessionFaultOf(error);
  return fault === 'gone' || fault === 'faulted' || fault === 'ended';
}

/** True when the session is unusable but a new session may do the work (`gone` or `faulted`). */
export function isSessionRecreatable(error: unknown): boolean {
  const fault = sessionFaultOf(error);
  return fault === 'gone' || fault === 'faulted';
}

/**
 * True when a failed closeSession says the session is no longer there, so nothing is left open:
 * `invalidSessionReCreatable` (gone) or `invalidSessionNotFound` (its workbook is gone). The other
 * `invalidSession*` codes say the session cannot be acted on, not that it ended: such a close failed.
 * A bare 404 is not enough on its own (see `closeConfirmed`).
 */
export function isGoneOnClose(error: unknown): boolean {
  const inner = answerOf(error)?.innerCode?.toLowerCase();
  return inner === 'invalidsessionrecreatable' || inner === 'invalidsessionnotfound';
}

/**
 * The status and second-level code of an error answer: from a {@link GraphRequestError} (of any
 * copy of this package), or from the Graph client's own `GraphError` (what a caller's own calls
 * throw), whose second-level code is only in `body`, the error object as a JSON string. Undefined
 * when no answer arrived.
 */
function answerOf(error: unknown): { status: number | undefined; innerCode: string | undefined } | undefined {
  if (isGraphRequestError(error))
    return error.kind === 'http' ? { status: error.status, innerCode: error.innerCode } : undefined;
  if (typeof error !== 'object' || error === null) return undefined;
  // Known by its shape (its `name` is plain `Error`, and another copy of the client has another class).
  const { statusCode, body } = error as { statusCode?: unknown; body?: unknown };
  // A GraphError with no status (-1) is a failure before any answer.
  if (!('body' in error) || typeof statusCode !== 'number' || statusCode < 100) return undefined;
  let parsed: unknown;
  try {
    parsed = typeof body === 'string' ? JSON.parse(body) : body;
  } catch {
    parsed = undefined;
  }
  // The client stores the error object itself; a whole answer (`{"error": {...}}`) is read too.
  const record = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  const object =
    record !== undefined && !('code' in record) && typeof record['error'] === 'object' ? record['error'] : record;
  return { status: statusCode, innerCode: readErrorChain(object).innerCode };
}
