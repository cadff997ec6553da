import { isGraphRequestError, type GraphRequestError } from './errors.js';
import { secondLevelRule } from './graph-codes.js';

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
 * Classifies a failure of a request sent with a `workbook-session-id`. Pure. A known second-level
 * code decides first; without one, the status does.
 */
export function sessionFaultOf(error: unknown): SessionFault {
  if (!isGraphRequestError(error) || error.kind !== 'http') return 'none';
  const rule = secondLevelRule(innerCodeOf(error));
  if (rule !== undefined) {
    if (rule.session === 'recreate') return 'gone';
    if (rule.session === 'end') return 'ended';
    return 'none';
  }
  if (error.status === 502 || error.status === 503) return 'faulted';
  if (error.status === 404 && innerCodeOf(error) === undefined) return 'unconfirmed';
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
  if (!isGraphRequestError(error) || error.kind !== 'http') return false;
  const inner = error.innerCode?.toLowerCase();
  return inner === 'invalidsessionrecreatable' || inner === 'invalidsessionnotfound';
}

function innerCodeOf(error: GraphRequestError): string | undefined {
  return error.innerCode;
}
