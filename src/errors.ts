import type { CloseReason } from './types.js';

/** Why a Graph request failed, beyond its status. */
export type GraphFailureKind =
  /** The server answered with an error status. */
  | 'http'
  /** No answer: the connection failed or was dropped. */
  | 'network'
  /** Nothing was sent: the Graph client failed first (most often its auth provider could not get a token). Never retried. */
  | 'client'
  /** An answer we could not use: not JSON, no session id, an unknown operation status. */
  | 'malformed'
  /** A `Location` or `resourceLocation` pointing at a host other than the Graph host; not followed. */
  | 'unsafe-location'
  /** A long-running createSession operation ended `failed`. */
  | 'operation-failed'
  /**
   * Graph created a session whose id cannot travel in a header (a control character, non-ASCII, a
   * space at either end): it cannot be used or closed, and stays open until Graph expires it.
   */
  | 'unsendable-id';

export interface GraphRequestErrorInit {
  readonly kind: GraphFailureKind;
  readonly method: string;
  /** The request path relative to the Graph version root, without query. */
  readonly path: string;
  readonly status?: number | undefined;
  readonly graphCode?: string | undefined;
  readonly innerCode?: string | undefined;
  readonly requestId?: string | undefined;
  readonly retryAfterMs?: number | undefined;
  readonly detail?: string | undefined;
  /** The request may or may not have been applied (its session faulted), and it was not sent again. */
  readonly outcomeUnknown?: boolean | undefined;
  readonly cause?: unknown;
}

/** A request to Graph that failed. `code` is always `GRAPH_REQUEST_FAILED`; `kind`, `status` and the Graph codes say why. */
export class GraphRequestError extends Error {
  override readonly name = 'GraphRequestError';
  readonly code = 'GRAPH_REQUEST_FAILED';
  readonly kind: GraphFailureKind;
  readonly method: string;
  readonly path: string;
  /** The HTTP status, or `undefined` when no answer arrived. */
  readonly status: number | undefined;
  /** Graph's top-level `error.code`. */
  readonly graphCode: string | undefined;
  /** Graph's second-level `error.innerError.code`, the one to act on first. */
  readonly innerCode: string | undefined;
  readonly requestId: string | undefined;
  /** The server's `Retry-After`, in milliseconds. */
  readonly retryAfterMs: number | undefined;
  /**
   * True when the request may or may not have been applied: its session faulted (a 502/503 with no
   * known second-level code) and a non-idempotent call is not sent twice. Check the workbook.
   */
  readonly outcomeUnknown: boolean;
  /** Which attempt failed last (1 = the first). Set by the retry loop. */
  attempt = 1;

  constructor(init: GraphRequestErrorInit) {
    const codes = [init.graphCode, init.innerCode].filter((c) => c !== undefined).join('/');
    const what = init.status === undefined ? init.kind : `${init.status}${codes === '' ? '' : ` ${codes}`}`;
    super(`${init.method} ${init.path} failed: ${what}${init.detail === undefined ? '' : `: ${init.detail}`}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.method = init.method;
    this.path = init.path;
    this.status = init.status;
    this.graphCode = init.graphCode;
    this.innerCode = init.innerCode;
    this.requestId = init.requestId;
    this.retryAfterMs = init.retryAfterMs;
    this.outcomeUnknown = init.outcomeUnknown === true;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      kind: this.kind,
      method: this.method,
      path: this.path,
      status: this.status,
      graphCode: this.graphCode,
      innerCode: this.innerCode,
      requestId: this.requestId,
      retryAfterMs: this.retryAfterMs,
      outcomeUnknown: this.outcomeUnknown,
      attempt: this.attempt,
    };
  }
}

/** A call on a session that has ended. `reason` says how it ended. */
export class SessionClosedError extends Error {
  override readonly name = 'SessionClosedError';
  readonly code = 'SESSION_CLOSED';
  readonly reason: CloseReason;
  readonly workbook: string;
  /** The session id, shortened. */
  readonly sessionId: string;

  constructor(init: { reason: CloseReason; workbook: string; sessionId: string }) {
    super(`The workbook session ${init.sessionId} on ${init.workbook} is closed (reason: ${init.reason})`);
    this.reason = init.reason;
    this.workbook = init.workbook;
    this.sessionId = init.sessionId;
  }
}

/**
 * Graph no longer knows a non-persistent session (it expired or was dropped): its changes are gone,
 * and the work has to start again in a new session.
 */
export class SessionExpiredError extends Error {
  override readonly name = 'SessionExpiredError';
  readonly code = 'SESSION_EXPIRED';
  readonly workbook: string;
  readonly sessionId: string;

  constructor(init: { workbook: string; sessionId: string; cause?: unknown }) {
    super(
      `The non-persistent workbook session ${init.sessionId} on ${init.workbook} expired on the server; its changes are lost`,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.workbook = init.workbook;
    this.sessionId = init.sessionId;
  }
}

/** `open()` or a call after the manager was shut down. */
export class ManagerShutDownError extends Error {
  override readonly name = 'ManagerShutDownError';
  readonly code = 'MANAGER_SHUT_DOWN';

  constructor() {
    super('The SessionManager has been shut down; it opens no more sessions');
  }
}

/**
 * The standard `SuppressedError` where the runtime has one (Node 24), and a same-shaped stand-in
 * elsewhere: `error` is the later failure (the close), `suppressed` the earlier one (the body's).
 */
export function suppressedError(error: unknown, suppressed: unknown, message: string): Error {
  const Native = (globalThis as { SuppressedError?: new (e: unknown, s: unknown, m: string) => Error }).SuppressedError;
  if (Native !== undefined) return new Native(error, suppressed, message);
  const stand = new Error(message) as Error & { error: unknown; suppressed: unknown };
  stand.name = 'SuppressedError';
  stand.error = error;
  stand.suppressed = suppressed;
  return stand;
}

function hasName(value: unknown, name: string): boolean {
  return typeof value === 'object' && value !== null && (value as { name?: unknown }).name === name;
}

// The guards also match by name, so errors from another copy of this package still match.
export const isGraphRequestError = (value: unknown): value is GraphRequestError =>
  value instanceof GraphRequestError || hasName(value, 'GraphRequestError');
export const isSessionClosedError = (value: unknown): value is SessionClosedError =>
  value instanceof SessionClosedError || hasName(value, 'SessionClosedError');
export const isSessionExpiredError = (value: unknown): value is SessionExpiredError =>
  value instanceof SessionExpiredError || hasName(value, 'SessionExpiredError');
export const isManagerShutDownError = (value: unknown): value is ManagerShutDownError =>
  value instanceof ManagerShutDownError || hasName(value, 'ManagerShutDownError');
