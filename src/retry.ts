import pRetry from 'p-retry';
import { GraphRequestError } from './errors.js';
import { abortableDelay } from './abortable.js';

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

export type RetryDecision =
  | { readonly retry: false; readonly why: string }
  /** `cooldown`: the wait comes from the server's `Retry-After` (the lane is already paused for it). */
  | { readonly retry: true; readonly delayMs: number; readonly cooldown: boolean; readonly why: string };

// Second-level codes from Graph's workbook error-handling page: resend after the cooldown.
const RESEND_AFTER_COOLDOWN = new Set(['toomanyrequestsuncategorized', 'serviceunavailableuncategorized', 'transientfailure']);
// Resend only when repeating the request is harmless.
const RESEND_IF_IDEMPOTENT = new Set(['gatewaytimeoutuncategorized']);
// Top-level codes that mean throttling or a passing outage.
const THROTTLE_CODES = new Set(['activitylimitreached', 'toomanyrequests', 'servicenotavailable']);

/**
 * Whether and when to retry a failed request. Pure: the same inputs give the same answer.
 * Order, as Graph's error-handling page asks: the second-level code, then the top-level code,
 * then the status.
 */
export function decideRetry(
  error: unknown,
  context: {
    /** The attempt that failed, 1 for the first. */
    readonly attempt: number;
    readonly idempotent: boolean;
    readonly policy: RetryPolicy;
    /** Time since the first attempt started. */
    readonly elapsedMs: number;
    /** A number in [0, 1) for jitter. */
    readonly random: number;
  },
): RetryDecision {
  if (!(error instanceof GraphRequestError)) return { retry: false, why: 'not a Graph request failure' };
  const { policy, attempt, idempotent } = context;
  if (attempt > policy.retries) return { retry: false, why: 'retries exhausted' };

  const verdict = classify(error, idempotent);
  if (verdict !== 'retry') return { retry: false, why: verdict };

  const remaining = policy.deadlineMs - context.elapsedMs;
  if (error.retryAfterMs !== undefined) {
    if (error.retryAfterMs > remaining) return { retry: false, why: 'Retry-After passes the retry deadline' };
    return { retry: true, delayMs: error.retryAfterMs, cooldown: true, why: 'Retry-After' };
  }
  // Exponential backoff with equal jitter: half fixed, half random, so retries spread out but never bunch at 0.
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const delayMs = Math.round(ceiling / 2 + (ceiling / 2) * context.random);
  if (delayMs > remaining) return { retry: false, why: 'backoff passes the retry deadline' };
  return { retry: true, delayMs, cooldown: false, why: 'backoff' };
}

function classify(error: GraphRequestError, idempotent: boolean): 'retry' | string {
  const inner = error.innerCode?.toLowerCase();
  if (inner !== undefined) {
    if (RESEND_AFTER_COOLDOWN.has(inner)) return 'retry';
    if (RESEND_IF_IDEMPOTENT.has(inner)) return idempotent ? 'retry' : 'not idempotent';
    if (inner.startsWith('invalidsession')) return 'session fault';
  }
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

/** Largest `Retry-After` we honour as a lane pause; a server asking for more is not retried past the deadline anyway. */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

/**
 * Reads a `Retry-After` header: delay-seconds or an HTTP-date. Returns milliseconds, or `undefined`
 * when absent or not valid (negative, fractional nonsense, unparsable). A date in the past gives 0;
 * values above {@link MAX_RETRY_AFTER_MS} are cut to it.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (typeof now !== 'number' || !Number.isFinite(now)) throw new TypeError(`Expected \`now\` to be a finite number (epoch ms), got ${String(now)} (${typeof now})`);
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'string') throw new TypeError(`Expected the Retry-After value to be a string, got ${typeof value}`);
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1000, MAX_RETRY_AFTER_MS);
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS);
}

export interface RetryRun {
  readonly policy: RetryPolicy;
  readonly idempotent: boolean;
  readonly signal?: AbortSignal | undefined;
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
    const decision = decideRetry(error, {
      attempt: attemptNumber,
      idempotent: run.idempotent,
      policy: run.policy,
      elapsedMs: now() - started,
      random: random(),
    });
    if (!decision.retry) throw error;
    run.onRetry?.({ error: error as GraphRequestError, attempt: attemptNumber, delayMs: decision.delayMs, cooldown: decision.cooldown });
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
    ...(run.signal === undefined ? {} : { signal: run.signal }),
    // Throwing here ends p-retry with this error: the decision said stop.
    onFailedAttempt: ({ error, attemptNumber }) => afterFailure(error, attemptNumber + 1),
    shouldRetry: () => true,
  });
}
