import { Priority } from '../coordination/scheduler.js';
import { GraphRequestError } from '../errors.js';
import { abortableDelay } from '../util/abort.js';
import { readOperation, readSession } from './answer.js';
import type { CreatedSession, GraphAnswer, GraphCall, RequestOptions } from './graph-call.js';
import { resolveLocation, type GraphBase, type Target } from './location.js';
import { closePolicy, parseRetryAfter, type RetryPolicy } from './retry.js';

/**
 * After `operationTimeoutMs`, how long a long-running createSession is still polled in the
 * background. Graph expires a session nobody uses after about 5 minutes, so a session the operation
 * yields later than this would be gone (or about to go) by itself.
 */
export const LATE_POLL_MS = 5 * 60_000;

const MAX_POLL_INTERVAL_MS = 30_000;

/** The transport's settings that following an operation reads. */
export interface OperationSettings {
  readonly policy: RetryPolicy;
  /** First wait between polls; doubles up to 30 s. */
  readonly pollIntervalMs: number;
  /** How long the operation may take before the create fails (and polling goes on in the background). */
  readonly operationTimeoutMs: number;
  /** Told when a session was created that cannot be closed (see `TransportOptions.onUnsendableId`). */
  readonly onUnsendableId?: ((workbook: string, error: GraphRequestError) => void) | undefined;
  readonly now: () => number;
}

/** What following an operation needs of the transport. */
export interface OperationHost {
  readonly base: GraphBase;
  /** One request in the workbook's lane, under the retry rules. */
  request(workbook: string, call: GraphCall, options: RequestOptions): Promise<GraphAnswer>;
  /** A session nobody waits for any more: it must be closed. */
  late(workbook: string, created: CreatedSession): void;
}

/** A long-running createSession being polled: where, and when to ask next. */
interface Polling {
  readonly workbook: string;
  readonly operation: Target;
  readonly signal: AbortSignal | undefined;
  /** The wait before the next poll when the last answer named none. */
  interval: number;
  last: GraphAnswer;
}

/**
 * When to poll an operation next. The last answer's `Retry-After`, if any, says when to ask again;
 * else the interval, which then doubles (up to 30 s). Never sooner than `minIntervalMs` (a
 * `Retry-After: 0` on every poll must not spin), and never past `notAfter`: a last look is taken then.
 */
export function nextPoll(
  retryAfter: string | null,
  interval: number,
  minIntervalMs: number,
  now: number,
  notAfter: number,
): { readonly delayMs: number; readonly interval: number } {
  const hinted = parseRetryAfter(retryAfter, now);
  const wait = Math.max(hinted ?? interval, minIntervalMs);
  return {
    delayMs: Math.min(wait, Math.max(0, notAfter - now)),
    interval: hinted === undefined ? Math.min(interval * 2, MAX_POLL_INTERVAL_MS) : interval,
  };
}

/**
 * Follows the long-running form of createSession: the operation a 202's `Location` names is polled
 * until it succeeds (then the session's details are read from its `resourceLocation`) or fails. Past
 * `operationTimeoutMs` the create fails, and polling goes on unref'd for {@link LATE_POLL_MS}: a
 * session the operation still yields is handed to the transport to close.
 */
export class OperationPoller {
  readonly #settings: OperationSettings;
  readonly #host: OperationHost;

  constructor(settings: OperationSettings, host: OperationHost) {
    this.#settings = settings;
    this.#host = host;
  }

  /** The session the operation that `accepted` (createSession's 202) started yields. */
  async follow(workbook: string, accepted: GraphAnswer, signal: AbortSignal | undefined): Promise<CreatedSession> {
    const { now, operationTimeoutMs, pollIntervalMs } = this.#settings;
    const { base } = this.#host;
    const created: Target = { version: base.version, path: `${workbook}/workbook/createSession` };
    const operation = resolveLocation(base, 'POST', created, accepted.headers.get('location'), 'Location');
    const deadline = now() + operationTimeoutMs;
    const polling: Polling = { workbook, operation, signal, interval: pollIntervalMs, last: accepted };
    for (;;) {
      const session = await this.#poll(polling, true, deadline);
      if (session !== undefined) return session;
      if (now() < deadline) continue;
      // Graph may still complete it: whatever it yields must be closed, not left to expire unseen.
      this.#pollLate(polling);
      throw new GraphRequestError({
        kind: 'malformed',
        method: 'GET',
        path: operation.path,
        detail:
          `createSession did not finish within ${operationTimeoutMs} ms ` +
          '(still polled in the background; a session it yields is closed)',
      });
    }
  }

  /** Polls on after the timeout, unref'd (it must not hold the process), for at most {@link LATE_POLL_MS}. */
  #pollLate(polling: Polling): void {
    const { now } = this.#settings;
    const until = now() + LATE_POLL_MS;
    void (async () => {
      while (now() < until) {
        const created = await this.#poll(polling, false, until);
        if (created === undefined) continue;
        this.#host.late(polling.workbook, created);
        return;
      }
    })().catch(() => {
      /* aborted, failed, or unreadable: nothing was created that can be named */
    });
  }

  /**
   * Waits (keeping the process alive when `ref`), then asks once how the operation goes: the session
   * when it succeeded, `undefined` while it runs or when the poll said nothing of it.
   */
  async #poll(polling: Polling, ref: boolean, notAfter: number): Promise<CreatedSession | undefined> {
    const { now, pollIntervalMs } = this.#settings;
    const retryAfter = polling.last.headers.get('retry-after');
    const next = nextPoll(retryAfter, polling.interval, pollIntervalMs, now(), notAfter);
    await abortableDelay(next.delayMs, polling.signal, { ref });
    polling.interval = next.interval;
    const answer = await this.#ask(polling);
    if (answer === undefined) return undefined;
    polling.last = answer;
    const state = readOperation(polling.operation.path, answer);
    return state.done ? this.#readCreated(polling, state.resourceLocation) : undefined;
  }

  /**
   * One poll of the operation. `undefined` when it failed for a reason that says nothing about the
   * operation (a 5xx or no answer, after the GET's own retries): it is asked again at the next interval.
   */
  async #ask({ workbook, operation, signal }: Polling): Promise<GraphAnswer | undefined> {
    try {
      // Cut off on the wire too when `signal` aborts: its answer would be thrown away, and a hung one
      // would hold the process for requestTimeoutMs after a shutdown gave up on the create.
      return await this.#host.request(
        workbook,
        { method: 'GET', path: operation.path, version: operation.version, signal, deadline: signal },
        { priority: Priority.call, idempotent: true },
      );
    } catch (error) {
      if (error instanceof GraphRequestError && (error.kind === 'network' || isServerError(error))) return undefined;
      throw error;
    }
  }

  /**
   * The session of an operation that succeeded. It exists from here on: its details are asked for
   * like a close is sent (resent for whatever may pass, until the deadline; an answer on the wire is
   * waited for, so a late id is still closed), and a session whose id never arrives is reported:
   * nobody can close it.
   */
  async #readCreated(
    { workbook, operation, signal }: Polling,
    resourceLocation: string | null,
  ): Promise<CreatedSession> {
    try {
      const info = resolveLocation(this.#host.base, 'GET', operation, resourceLocation, 'resourceLocation');
      const answer = await this.#host.request(
        workbook,
        { method: 'GET', path: info.path, version: info.version, signal, finishOnWire: true },
        { priority: Priority.call, idempotent: true, closing: true, policy: closePolicy(this.#settings.policy) },
      );
      return readSession('GET', info.path, answer.body);
    } catch (error) {
      // An unsendable id is left to the caller: createSession reports it when it fails with one.
      if (error instanceof GraphRequestError && error.kind !== 'unsendable-id')
        this.#settings.onUnsendableId?.(workbook, error);
      throw error;
    }
  }
}

function isServerError(error: GraphRequestError): boolean {
  return error.kind === 'http' && error.status !== undefined && error.status >= 500;
}
