/**
 * The second-level error codes of Graph's workbook error-handling page
 * (concepts/workbook-error-handling.md), each with what Graph says to do about it. One table, read
 * by the retry decision and by the session-fault rules, so the two never disagree.
 */

/** What Graph says about resending a request that failed with a code. */
export type ResendRule =
  /** Resend only after the cooldown (`Retry-After`, else backoff). */
  | 'after-cooldown'
  /** Resend only when sending twice is harmless (the first may have been applied). */
  | 'if-idempotent'
  /** Do not resend. */
  | 'never'
  /** Resend with a smaller range (never the same request). */
  | 'smaller-range';

/** What a code says about the session the request was sent in. */
export type SessionRule =
  /** The session may be used again. */
  | 'keep'
  /** The session is gone (or faulted); create a new one and resume. */
  | 'recreate'
  /** Do not use the session again; creating a new one with the same request is not expected to work. */
  | 'end';

export interface CodeRule {
  readonly resend: ResendRule;
  readonly session: SessionRule;
}

const rule = (resend: ResendRule, session: SessionRule = 'keep'): CodeRule => ({ resend, session });

// Keys are lower case: Graph's codes are compared case-insensitively.
const SECOND_LEVEL: ReadonlyMap<string, CodeRule> = new Map([
  // Session codes.
  ['invalidsessionrecreatable', rule('never', 'recreate')],
  ['invalidsessionnotfound', rule('never', 'end')],
  ['invalidsessionauthentication', rule('never', 'end')],
  ['invalidsessionaccessconflict', rule('never', 'end')],
  ['invalidsessionrestricted', rule('never', 'end')],
  ['invalidsessionunexpected', rule('never', 'end')],
  ['invalidsessionunsupportedworkbook', rule('never', 'end')],
  // Do not resend, and do not use the session further.
  ['internalservererroruncategorized', rule('never', 'end')],
  // Resend after the cooldown.
  ['toomanyrequestsuncategorized', rule('after-cooldown')],
  ['serviceunavailableuncategorized', rule('after-cooldown')],
  ['transientfailure', rule('after-cooldown')],
  // The page says resend after the cooldown; but a gateway timeout does not say the request was not
  // applied, so only a call that may run twice is resent (a write must reach the file at most once).
  ['gatewaytimeoutuncategorized', rule('if-idempotent')],
  // Resend with a smaller range.
  ['rangeexceedslimit', rule('smaller-range')],
  // Do not resend.
  ...[
    'accessconflict',
    'accessdenied',
    'badrequestuncategorized',
    'conflictuncategorized',
    'filteredrangeconflict',
    'forbiddenuncategorized',
    'generalexception',
    'insertdeleteconflict',
    'invalidargument',
    'invalidreference',
    'itemalreadyexists',
    'itemnotfound',
    'methodnotallowed',
    'methodnotalloweduncategorized',
    'nonblankcelloffsheet',
    'notfounduncategorized',
    'notimplementeduncategorized',
    'payloadtoolargeuncategorized',
    'requestaborted',
    'unauthorizeduncategorized',
    'unsupportedoperation',
    'unsupportedworkbook',
  ].map((code): [string, CodeRule] => [code, rule('never')]),
]);

/**
 * Graph's rule for a second-level code, or `undefined` when the page does not list it (then the
 * top-level code and the status decide). Case-insensitive.
 */
export function secondLevelRule(code: string | undefined): CodeRule | undefined {
  if (code === undefined) return undefined;
  const lower = code.toLowerCase();
  // Every invalidSession* code the page lists but one says the session must not be used again; a
  // new one Graph adds is read the same way, never as a session still fit for use.
  return SECOND_LEVEL.get(lower) ?? (lower.startsWith('invalidsession') ? UNLISTED_INVALID_SESSION : undefined);
}

const UNLISTED_INVALID_SESSION = rule('never', 'end');

/** Every second-level code the error-handling page lists, lower case (for tests and docs). */
export const KNOWN_SECOND_LEVEL_CODES: readonly string[] = [...SECOND_LEVEL.keys()];
