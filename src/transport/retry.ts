import pRetry from 'p-retry';
import { GraphRequestError } from '../errors.js';
import { abortReason, abortableDelay } from '../util/abort.js';
import { secondLevelRule } from './graph-codes.js';
import { checkBoolean, checkNumber, describe } from '../util/validate.js';

/** The bounds on retrying one request. */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  readonly retries: number;
  /** The first backoff delay; it doubles each retry. */
  readonly baseDelayMs: number;
  /** The largest backoff delay. */
  readonly maxDelayMs: number;
  /** No retry starts, and no cooldown is waited for, past this long after the first attempt. */
  readonly deadlineMs: number;
}

/**
 * The smallest backoff between close attempts. A close has no retry count, only the deadline, so a
 * backoff of 0 (`retryBaseDelayMs: 0`, or `Retry-After: 0`) must not turn it into a loop of requests.
 */
const MIN_CLOSE_BACKOFF_MS = 100;

/** A close's retry bounds: no count limit, only the deadline, and a backoff that never drops to 0. */
export function closePolicy(policy: RetryPolicy): RetryPolicy {
  const baseDelayMs = Math.max(policy.baseDelayMs, MIN_CLOSE_BACKOFF_MS);
  return { ...policy, retries: Infinity, baseDelayMs, maxDelayMs: Math.max(policy.maxDelayMs, baseDelayMs) };
}

export type RetryDecision =
  | { readonly retry: false; readonly why: string }
  /** `cooldown`: the wait comes from the server's `Retry-After` (the lane is already paused for it). */
  | { readonly retry: true; readonly delayMs: number; readonly cooldown: boolean; readonly why: string };

// Top-level codes that mean throttling or a passing outage.
const THROTTLE_CODES = new Set(['activitylimitreached', 'toomanyrequests', 'servicenotavailable']);

/**
 * Whether and when to retry a failed request. Pure: the same inputs give the same answer.
 * Order, as Graph's error-handling page asks: the second-level code (its rule in `graph-codes.ts`),
 * then the top-level code, then the status.
 */
export function decideRetry(
  error: unknown,
  context: {
    /** The attempt that failed, 1 for the first. */
    readonly attempt: number;
    readonly idempotent: boolean;
    /**
     * The request carried a `workbook-session-id` and was not closeSession: a 502 or 503 with no known
     * second-level code then means the session faulted, and the call is not resent in it.
     * @default false
     */
    readonly sessionful?: boolean;
    /**
     * The request is a closeSession: see {@link classifyClose}.
     * @default false
     */
    readonly closing?: boolean;
    readonly policy: RetryPolicy;
    /** Time since the first attempt started. */
    readonly elapsedMs: number;
    /** A number in [0, 1) for jitter. */
    readonly random: number;
  },
): RetryDecision {
  checkContext(context);
  if (!(error instanceof GraphRequestError)) return { retry: false, why: 'not a Graph request failure' };
  const { policy, attempt, idempotent } = context;
  if (attempt > policy.retries) return { retry: false, why: 'retries exhausted' };

  const verdict =
    context.closing === true ? classifyClose(error) : classify(error, idempotent, context.sessionful === true);
  if (verdict !== 'retry') return { retry: false, why: verdict };

  const remaining = policy.deadlineMs - context.elapsedMs;
  // A zero (or past) Retry-After asks for no wait, not for a resend at once: the backoff still applies.
  if (error.retryAfterMs !== undefined && error.retryAfterMs > 0) {
    if (error.retryAfterMs > remaining) return { retry: false, why: 'Retry-After passes the retry deadline' };
    return { retry: true, delayMs: error.retryAfterMs, cooldown: true, why: 'Retry-After' };
  }
  // Exponential backoff with equal jitter: half fixed, half random, so retries spread out but never bunch at 0.
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const delayMs = Math.round(ceiling / 2 + (ceiling / 2) * context.random);
  if (delayMs > remaining) return { retry: false, why: 'backoff passes the retry deadline' };
  return { retry: true, delayMs, cooldown: false, why: 'backoff' };
}

/**
 * decideRetry's context, or a TypeError/RangeError naming the bad value: a bad one would give a delay
 * of NaN or below 0.
 */
function checkContext(context: unknown): void {
  if (typeof context !== 'object' || context === null)
    throw new TypeError(`Expected the decideRetry() context to be an object, got ${describe(context)}`);
  const c = context as Record<string, unknown>;
  checkNumber('attempt', c['attempt'], 1, { integer: true });
  checkBoolean('idempotent', c['idempotent']);
  if (c['sessionful'] !== undefined) checkBoolean('sessionful', c['sessionful']);
  if (c['closing'] !== undefined) checkBoolean('closing', c['closing']);
  // Negative when the wall clock stepped back: still a time, so only a non-number is refused.
  checkNumber('elapsedMs', c['elapsedMs'], -Infinity);
  checkNumber('random', c['random'], 0, { max: 1 });
  const policy = c['policy'];
  if (typeof policy !== 'object' || policy === null)
    throw new TypeError(`Expected \`policy\` to be a RetryPolicy object, got ${describe(policy)}`);
  const p = policy as Record<string, unknown>;
  checkNumber('policy.retries', p['retries'], 0, { integer: true, allowInfinity: true });
  checkNumber('policy.baseDelayMs', p['baseDelayMs'], 0);
  checkNumber('policy.maxDelayMs', p['maxDelayMs'], 0);
  checkNumber('policy.deadlineMs', p['deadlineMs'], 0, { allowInfinity: true });
}

function classify(error: GraphRequestError, idempotent: boolean, sessionful: boolean): 'retry' | string {
  const rule = secondLevelRule(error.innerCode);
  // A long-running createSession that failed: only a resend-after-cooldown code means "send it again".
  if (error.kind === 'operation-failed') {
    const operationRule = rule ?? secondLevelRule(error.graphCode);
    return operationRule?.resend === 'after-cooldown' ? 'retry' : 'not retryable (operation-failed)';
  }
  if (rule !== undefined) {
    if (rule.session !== 'keep') return 'session fault';
    switch (rule.resend) {
      case 'after-cooldown':
        return 'retry';
      case 'if-idempotent':
        return idempotent ? 'retry' : 'not idempotent';
      case 'smaller-range':
        return 'Graph says resend with a smaller range';
      case 'never':
        return 'Graph says do not resend';
    }
  }
  const inner = error.innerCode?.toLowerCase();
  if (inner?.startsWith('invalidsession') === true) return 'session fault';
  // "Special case handling": on a sessionful request, 502/503 without a known second-level code means
  // the session is unusable.
  if (sessionful && error.kind === 'http' && (error.status === 502 || error.status === 503)) return 'session fault';
  const top = error.graphCode?.toLowerCase();
  if (top !== undefined && THROTTLE_CODES.has(top)) return 'retry';
  if (error.kind === 'network') return idempotent ? 'retry' : 'not idempotent';
  if (error.kind !== 'http') return `not retryable (${error.kind})`;
  switch (error.status) {
    case 429:
    case 503:
      return 'retry';
    case 502:
    case 504:
      return idempotent ? 'retry' : 'not idempotent';
    default:
      return 'not retryable';
  }
}

/**
 * A closeSession is the one request whose failure leaves a session open, and sending it again is
 * harmless: it is retried until its deadline for whatever may pass (throttling, an outage, a lost
 * answer, an internal error, another client's edit lock), even where Graph says not to resend a
 * call. Not for answers that no resend can change: the session is gone (its caller counts that as
 * closed), or the request itself is refused (400, 401, 403, 405, ...), or nothing was sent.
 */
function classifyClose(error: GraphRequestError): 'retry' | string {
  if (error.kind === 'network') return 'retry';
  if (error.kind !== 'http' || error.status === undefined) return `not retryable (${error.kind})`;
  const inner = error.innerCode?.toLowerCase();
  if (inner === 'invalidsessionrecreatable' || inner === 'invalidsessionnotfound' || error.status === 404)
    return 'session gone';
  if (
    error.status >= 500 ||
    error.status === 429 ||
    error.status === 409 ||
    error.status === 423 ||
    error.status === 408
  )
    return 'retry';
  const top = error.graphCode?.toLowerCase();
  if (top !== undefined && THROTTLE_CODES.has(top)) return 'retry';
  return 'not retryable';
}

// An HTTP-date in one of the three forms RFC 9110 allows: IMF-fixdate, RFC 850, asctime.
const DAY = '(Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const WEEKDAY = '(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = String.raw`\d{2}:\d{2}:\d{2}`;
const HTTP_DATE = [
  new RegExp(String.raw`^${DAY}, \d{2} ${MONTH} \d{4} ${TIME} GMT$`),
  new RegExp(String.raw`^${WEEKDAY}, \d{2}-${MONTH}-\d{2} ${TIME} GMT$`),
  new RegExp(String.raw`^${DAY} ${MONTH} [ \d]\d ${TIME} \d{4}$`),
];

/**
 * Reads a `Retry-After` header: delay-seconds or an HTTP-date. Returns milliseconds, or `undefined`
 * when absent or not valid (negative, fractional, `in 10`, a date in no HTTP form): then the backoff
 * applies. A date in the past gives 0 ("no wait"). No upper bound: Graph sets none, and its
 * cooldown is honoured however long it is.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (typeof now !== 'number' || !Number.isFinite(now))
    throw new TypeError(`Expected \`now\` to be a finite number (epoch ms), got ${String(now)} (${typeof now})`);
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'string')
    throw new TypeError(`Expected the Retry-After value to be a string, got ${typeof value}`);
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, Number.MAX_SAFE_INTEGER);
  if (!HTTP_DATE.some((form) => form.test(text))) return undefined;
  const at = Date.parse(
    text.replace(
      /^(\w+), (\d{2})-(\w{3})-(\d{2}) /,
      (_, day: string, d: string, m: string, y: string) => `${day}, ${d} ${m} ${Number(y) < 70 ? 20 : 19}${y} `,
    ),
  );
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

export interface RetryRun {
  readonly policy: RetryPolicy;
  readonly idempotent: boolean;
  /** See {@link decideRetry}'s `sessionful`. @default false */
  readonly sessionful?: boolean;
  /** See {@link decideRetry}'s `closing`. @default false */
  readonly closing?: boolean;
  readonly signal?: AbortSignal | undefined;
  /** Failures this says no to are never retried, whatever the decision (e.g. a poll's, inside a create). */
  readonly retryable?: (error: unknown) => boolean;
  readonly random?: () => number;
  readonly now?: () => number;
  /** Told of each retry before its wait. */
  readonly onRetry?: (info: { error: GraphRequestError; attempt: number; delayMs: number; cooldown: boolean }) => void;
}

/**
 * Runs `attempt` until it succeeds or {@link decideRetry} says stop. p-retry counts the attempts and
 * carries the signal; the wait comes from the decision. A `Retry-After` wait is not slept here: the
 * request's lane was paused for it when the answer arrived, and the next attempt queues behind that pause.
 */
export async function withRetries<T>(attempt: (attemptNumber: number) => Promise<T>, run: RetryRun): Promise<T> {
  const now = run.now ?? Date.now;
  const random = run.random ?? Math.random;
  const started = now();
  /** Carries out the decision on a failed attempt: throws to stop, waits (unless the lane does) to go on. */
  const afterFailure = async (error: unknown, attemptNumber: number): Promise<void> => {
    if (error instanceof GraphRequestError) error.attempt = attemptNumber;
    if (run.retryable?.(error) === false) throw error;
    const decision = decideRetry(error, {
      attempt: attemptNumber,
      idempotent: run.idempotent,
      sessionful: run.sessionful === true,
      closing: run.closing === true,
      policy: run.policy,
      elapsedMs: now() - started,
      random: random(),
    });
    if (!decision.retry) throw error;
    // Aborted while the attempt ran: its failure stands, and nothing more is sent.
    if (run.signal?.aborted === true) throw abortReason(run.signal);
    run.onRetry?.({
      error: error as GraphRequestError,
      attempt: attemptNumber,
      delayMs: decision.delayMs,
      cooldown: decision.cooldown,
    });
    if (!decision.cooldown) await abortableDelay(decision.delayMs, run.signal);
  };
  // Most requests succeed the first time: that attempt runs without setting up the retry loop.
  try {
    return await attempt(1);
  } catch (error) {
    await afterFailure(error, 1);
  }
  return pRetry((n) => attempt(n + 1), {
    retries: run.policy.retries - 1,
    minTimeout: 0,
    maxTimeout: 0,
    factor: 1,
    // The signal is not p-retry's: it would throw away an answer that arrives after an abort (a close
    // Graph carried out). Waits and new attempts check it instead (afterFailure, the lane's queue).
    // Throwing here ends p-retry with this error: the decision said stop.
    onFailedAttempt: ({ error, attemptNumber }) => afterFailure(error, attemptNumber + 1),
    shouldRetry: () => true,
  });
}
