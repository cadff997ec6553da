import { printable, redactSecrets, redactServerText, safeRequestId } from './util/redact.js';
import type { CloseReason } from './types.js';

/** Why a Graph request failed, beyond its status. */
export type GraphFailureKind =
  /** The server answered with an error status. */
  | 'http'
  /** No answer: the connection failed or was dropped. */
  | 'network'
  /**
   * Nothing was sent: the Graph client failed first (most often its auth provider could not get a
   * token). Never retried.
   */
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
  /**
   * Graph's codes from the top level down (`error.code`, `error.innerError.code`, ...), levels
   * without one left out.
   */
  readonly codes?: readonly string[] | undefined;
  /**
   * The top-level code. With `codes`, given only when a level has no code (then `codes[0]` is not
   * the top level's): an answer's levels are read by place, never shifted up.
   */
  readonly graphCode?: string | undefined;
  /** The second-level code; see `graphCode`. */
  readonly innerCode?: string | undefined;
  readonly requestId?: string | undefined;
  readonly retryAfterMs?: number | undefined;
  readonly detail?: string | undefined;
  /** The request may have been applied although it failed (a write whose session faulted). @default false */
  readonly outcomeUnknown?: boolean | undefined;
  /** Session ids the request carried: wherever server text echoes one, it is shown shortened. */
  readonly sessionIds?: readonly string[] | undefined;
  readonly cause?: unknown;
}

/**
 * A request to Graph that failed. `code` is always `GRAPH_REQUEST_FAILED`; `kind`, `status` and the
 * Graph codes say why. Every string in it that came from a server has passed {@link redactServerText}:
 * no token and no full session id shows in its message, fields, `toJSON()`, inspection or `cause`.
 */
export class GraphRequestError extends Error {
  override readonly name = 'GraphRequestError';
  readonly code = 'GRAPH_REQUEST_FAILED';
  readonly kind: GraphFailureKind;
  readonly method: string;
  readonly path: string;
  /** The HTTP status, or `undefined` when no answer arrived. */
  readonly status: number | undefined;
  /**
   * Graph's whole chain of codes, top level first, e.g.
   * `['gatewayTimeout', 'gatewayTimeoutUncategorized', 'MaxRequestDurationExceeded']`.
   */
  readonly codes: readonly string[];
  /** Graph's top-level `error.code`. */
  readonly graphCode: string | undefined;
  /** Graph's second-level `error.innerError.code`, the one to act on first. */
  readonly innerCode: string | undefined;
  /** Graph's request id (a GUID); anything else a server put there shows as `[redacted]`. */
  readonly requestId: string | undefined;
  /** The server's `Retry-After`, in milliseconds. */
  readonly retryAfterMs: number | undefined;
  /** The request may have been applied although it failed: do not assume it was not. */
  readonly outcomeUnknown: boolean;
  /** Which attempt failed last (1 = the first). Set by the retry loop. */
  attempt = 1;

  constructor(init: GraphRequestErrorInit) {
    checkInit(init);
    const clean = (text: string): string => redactServerText(text, init.sessionIds ?? []);
    // A code is a short word; a server's could be megabytes, or carry line breaks into a log.
    const cleanCode = (code: string): string => printable(clean(code), MAX_CODE_LENGTH);
    const codes = (init.codes ?? [init.graphCode, init.innerCode].filter((c): c is string => c !== undefined)).map(
      cleanCode,
    );
    const shown = codes.join('/');
    const what = init.status === undefined ? init.kind : `${init.status}${shown === '' ? '' : ` ${shown}`}`;
    const detail = init.detail === undefined ? '' : `: ${printable(clean(init.detail), 1000)}`;
    const unknown = init.outcomeUnknown === true ? '; outcome unknown: it may have been applied' : '';
    const path = clean(init.path);
    const cause = safeCause(init.cause, clean, 0);
    super(`${init.method} ${path} failed: ${what}${detail}${unknown}`, cause === undefined ? undefined : { cause });
    this.kind = init.kind;
    this.method = init.method;
    this.path = path;
    this.status = init.status;
    this.codes = Object.freeze(codes);
    const level = (key: 'graphCode' | 'innerCode', index: number): string | undefined => {
      if (init.codes !== undefined && !(key in init)) return codes[index];
      const code = init[key];
      return code === undefined ? undefined : cleanCode(code);
    };
    this.graphCode = level('graphCode', 0);
    this.innerCode = level('innerCode', 1);
    this.requestId = safeRequestId(init.requestId);
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
      codes: this.codes,
      graphCode: this.graphCode,
      innerCode: this.innerCode,
      requestId: this.requestId,
      retryAfterMs: this.retryAfterMs,
      outcomeUnknown: this.outcomeUnknown,
      attempt: this.attempt,
      ...(this.cause === undefined ? {} : { cause: causeJSON(this.cause) }),
    };
  }

  /** What `util.inspect` and `console.log` show: the stack (its message is redacted) and the safe fields. */
  [Symbol.for('nodejs.util.inspect.custom')](
    _depth: number,
    options: object,
    inspect: (value: unknown, options: object) => string,
  ): string {
    const { name: _name, message: _message, ...fields } = this.toJSON();
    return `${this.stack ?? `${this.name}: ${this.message}`} ${inspect(fields, options)}`;
  }
}

const KINDS: readonly unknown[] = [
  'http',
  'network',
  'client',
  'malformed',
  'unsafe-location',
  'operation-failed',
  'unsendable-id',
] satisfies readonly GraphFailureKind[];

function checkInit(init: unknown): void {
  if (typeof init !== 'object' || init === null)
    throw new TypeError(
      `Expected the GraphRequestError init to be an object, got ${init === null ? 'null' : typeof init}`,
    );
  const { kind, method, path } = init as Record<string, unknown>;
  if (!KINDS.includes(kind))
    throw new TypeError(
      `Expected \`kind\` to be one of ${KINDS.join(', ')}, ` +
        `got ${typeof kind === 'string' ? JSON.stringify(kind.slice(0, 40)) : typeof kind}`,
    );
  if (typeof method !== 'string') throw new TypeError(`Expected \`method\` to be a string, got ${typeof method}`);
  if (typeof path !== 'string') throw new TypeError(`Expected \`path\` to be a string, got ${typeof path}`);
}

/**
 * The same failure, marked as possibly applied: for a write whose session faulted after it was
 * sent. The original is kept as `cause`.
 */
export function withOutcomeUnknown(error: GraphRequestError): GraphRequestError {
  const marked = new GraphRequestError({
    kind: error.kind,
    method: error.method,
    path: error.path,
    status: error.status,
    codes: error.codes,
    graphCode: error.graphCode,
    innerCode: error.innerCode,
    requestId: error.requestId,
    retryAfterMs: error.retryAfterMs,
    outcomeUnknown: true,
    cause: error,
  });
  marked.attempt = error.attempt;
  return marked;
}

const MAX_CODE_LENGTH = 100;
const MAX_DETAIL_LENGTH = 300;
/** How deep an error body's `innerError` chain is read; real answers nest three levels. */
const MAX_ERROR_DEPTH = 16;

/** A server's message, safe to show: no token, no control character, at most 300 characters. */
export function safeMessage(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  return printable(redactSecrets(value), MAX_DETAIL_LENGTH);
}

/** Graph's error object read by level: the codes found, the top-level and second-level codes by place. */
export interface ErrorChain {
  /** The codes of the levels that have one, top level first. */
  readonly codes: readonly string[];
  /** `error.code`, or undefined when the top level has none. */
  readonly graphCode: string | undefined;
  /** `error.innerError.code`, or undefined when the second level has none (a deeper code never stands in for it). */
  readonly innerCode: string | undefined;
  /** The first message. */
  readonly message: string | undefined;
  readonly requestId: string | undefined;
}

/**
 * Graph's error object as Graph writes it: `code` at each level, nested under `innerError` or
 * `innererror` (any spelling of the key's case), to any depth; the first `message` and request id.
 */
export function readErrorChain(value: unknown): ErrorChain {
  const codes: string[] = [];
  const byLevel: (string | undefined)[] = [];
  let message: string | undefined;
  let requestId: string | undefined;
  let level = asRecord(value);
  for (let depth = 0; level !== undefined && depth < MAX_ERROR_DEPTH; depth++) {
    const raw = level['code'];
    const code = typeof raw === 'string' && raw !== '' ? raw : undefined;
    byLevel.push(code);
    if (code !== undefined) codes.push(code);
    message ??= safeMessage(level['message']);
    const id = level['request-id'] ?? level['requestId'];
    if (requestId === undefined && typeof id === 'string' && id !== '') requestId = id;
    const key = Object.keys(level).find((k) => k.toLowerCase() === 'innererror');
    level = key === undefined ? undefined : asRecord(level[key]);
  }
  return { codes, graphCode: byLevel[0], innerCode: byLevel[1], message, requestId };
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

// A cause from below (a fetch error, an earlier failure) may carry server text: copied with its text
// redacted, a few levels deep; our own errors are already safe.
function safeCause(cause: unknown, clean: (text: string) => string, depth: number): unknown {
  if (cause === undefined || cause instanceof GraphRequestError) return cause;
  if (depth >= 4) return undefined;
  if (cause instanceof Error) {
    const inner = safeCause(cause.cause, clean, depth + 1);
    const copy = new Error(clean(cause.message), inner === undefined ? undefined : { cause: inner });
    copy.name = cause.name;
    copy.stack = `${cause.name}: ${copy.message}`;
    return copy;
  }
  return clean(String(cause));
}

function causeJSON(cause: unknown): unknown {
  if (cause instanceof GraphRequestError) return cause.toJSON();
  if (cause instanceof Error)
    return {
      name: cause.name,
      message: cause.message,
      ...(cause.cause === undefined ? {} : { cause: causeJSON(cause.cause) }),
    };
  return String(cause);
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
      `The non-persistent workbook session ${init.sessionId} on ${init.workbook} expired on the server; ` +
        'its changes are lost',
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

/**
 * An `open()` or `acquire()` waited longer than `sessionBudgetTimeoutMs` for one of its workbook's
 * sessions to end: the workbook already has `maxSessionsPerWorkbook` sessions open or being made.
 */
export class SessionBudgetTimeoutError extends Error {
  override readonly name = 'SessionBudgetTimeoutError';
  readonly code = 'SESSION_BUDGET_TIMEOUT';
  readonly workbook: string;
  /** The budget it waited under. */
  readonly limit: number;

  constructor(init: { workbook: string; limit: number; waitedMs: number }) {
    super(
      `No session of the budget of ${init.limit} on ${init.workbook} ended within ${init.waitedMs} ms ` +
        '(maxSessionsPerWorkbook, sessionBudgetTimeoutMs)',
    );
    this.workbook = init.workbook;
    this.limit = init.limit;
  }
}

export const isSessionBudgetTimeoutError = (value: unknown): value is SessionBudgetTimeoutError =>
  value instanceof SessionBudgetTimeoutError || hasName(value, 'SessionBudgetTimeoutError');

/**
 * Fleet mode could not reach Redis, and `onRedisDown` is `'fail'`: the call or open is refused at
 * once rather than sent without the fleet's lane, cooldown or budget. Closes never fail this way
 * (they go out under the process's own lane). `cause` is what the Redis client said.
 */
export class FleetUnavailableError extends Error {
  override readonly name = 'FleetUnavailableError';
  readonly code = 'FLEET_UNAVAILABLE';
  /** The workbook's lane the request or session was for. */
  readonly workbook: string;

  constructor(init: { workbook: string; cause?: unknown }) {
    const why = init.cause instanceof Error ? `: ${printable(redactSecrets(init.cause.message), 300)}` : '';
    super(
      `Redis is unreachable, so the fleet cannot coordinate ${init.workbook} (onRedisDown: 'fail')${why}`,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.workbook = init.workbook;
  }
}

export const isFleetUnavailableError = (value: unknown): value is FleetUnavailableError =>
  value instanceof FleetUnavailableError || hasName(value, 'FleetUnavailableError');
