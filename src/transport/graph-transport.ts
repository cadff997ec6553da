import type { Client } from '@microsoft/microsoft-graph-client';
import { abortReason, raceAbort, settledBefore, untilStarted } from '../util/abort.js';
import { GraphRequestError } from '../errors.js';
import { closePolicy, withRetries, type RetryPolicy, type RetryRun } from './retry.js';
import type { Coordination } from '../coordination/coordination.js';
import { Priority } from '../coordination/scheduler.js';
import { deadlineSignal } from '../util/timers.js';
import type { ManagerMetrics } from '../telemetry/metrics.js';
import { RequestTelemetry } from '../telemetry/request-telemetry.js';
import { readSession } from './answer.js';
import type { CreatedSession, GraphAnswer, GraphCall, HttpMethod, RequestOptions } from './graph-call.js';
import { clientBase, type GraphBase } from './location.js';
import { OperationPoller } from './long-running.js';
import { CallSender } from './send.js';

export type { CreatedSession, GraphAnswer, GraphCall, HttpMethod, RequestOptions } from './graph-call.js';
export { LATE_POLL_MS } from './long-running.js';

export interface RetryEvent {
  readonly workbook: string;
  readonly method: HttpMethod;
  readonly path: string;
  readonly attempt: number;
  readonly delayMs: number;
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly cooldown: boolean;
}

export interface TransportOptions {
  readonly client: Client;
  readonly scheduler: Coordination;
  readonly policy: RetryPolicy;
  /** First wait between polls of a long-running createSession; doubles up to 30 s. */
  readonly pollIntervalMs: number;
  /**
   * How long a long-running createSession may take before `createSession()` fails. Polling then goes
   * on in the background for up to {@link LATE_POLL_MS} more, and a session it yields goes to
   * `onLateSession`.
   */
  readonly operationTimeoutMs: number;
  /**
   * How long one request may wait for its answer before it is cut off (a network failure).
   * Infinity: no limit.
   */
  readonly requestTimeoutMs: number;
  /**
   * A session that a long-running createSession yielded after `createSession()` had already failed
   * (timed out): nobody holds it, so it must be closed. Without this, the transport closes it itself.
   */
  readonly onLateSession?: ((workbook: string, created: CreatedSession) => void) | undefined;
  /**
   * Told when Graph created a session that cannot be closed: its id cannot be sent, or it never
   * arrived (a long-running create succeeded, and its session's details could not be read).
   */
  readonly onUnsendableId?: ((workbook: string, error: GraphRequestError) => void) | undefined;
  readonly onRetry: (event: RetryEvent) => void;
  /** The manager's metrics: lane waits and cooldowns are counted here. */
  readonly metrics?: ManagerMetrics | undefined;
  readonly now: () => number;
  readonly random: () => number;
}

/**
 * The Graph calls themselves, each in its workbook's lane and under the retry rules. Knows nothing
 * about handles: sessions are plain ids here.
 */
export class GraphTransport {
  readonly #options: TransportOptions;
  readonly #base: GraphBase;
  readonly #sender: CallSender;
  readonly #operations: OperationPoller;
  readonly #telemetry: RequestTelemetry;

  constructor(options: TransportOptions) {
    this.#options = options;
    this.#base = clientBase(options.client);
    this.#telemetry = new RequestTelemetry(this.#base.origin, options.metrics, options.now);
    this.#sender = new CallSender(options.client, options.requestTimeoutMs, options.now);
    this.#operations = new OperationPoller(options, {
      base: this.#base,
      request: (workbook, call, requestOptions) => this.request(workbook, call, requestOptions),
      late: (workbook, created) => this.#late(workbook, created),
    });
  }

  /** The origin the client sends to; the only one a token may travel to. */
  get origin(): string {
    return this.#base.origin;
  }

  /**
   * One request in `workbook`'s lane, retried where safe. A `Retry-After` answer pauses the lane at
   * once, inside the lane, so no queued request slips into the cooldown. Aborting `call.signal`
   * rejects at once; a request already sent keeps its lane until its answer comes.
   */
  request(workbook: string, call: GraphCall, options: RequestOptions): Promise<GraphAnswer> {
    const closing = options.closing === true;
    const sessionful = !closing && (call.sessionId !== undefined || call.session !== undefined);
    const run = { ...this.#run(workbook, call, options.idempotent, sessionful, options.policy), closing };
    const retried = withRetries(
      (attempt) => this.#attempt(workbook, call, options.priority, attempt),
      boundedBy(run, call.deadline),
    );
    // A close's caller waits for the answer of a close already sent: whether Graph closed it is what matters.
    return call.finishOnWire === true ? retried : raceAbort(retried, call.signal);
  }

  /**
   * createSession, asking for the long-running form (`Prefer: respond-async`): a 201 carries the
   * session; a 202 carries a `Location` to poll until the operation succeeds or fails. An operation
   * that fails with a resend-after-cooldown code is the createSession failing, so it is sent again
   * under the same retry bounds as the request itself.
   *
   * `claim`, when given, runs in the lane right before each attempt is sent, holding the lane's
   * place: a session it gives is the answer, and nothing is sent (a fleet's re-check for a shared
   * session another process created meanwhile).
   */
  createSession(
    workbook: string,
    persistChanges: boolean,
    signal?: AbortSignal,
    claim?: () => Promise<CreatedSession | undefined>,
  ): Promise<CreatedSession> {
    const call: GraphCall = {
      method: 'POST',
      path: `${workbook}/workbook/createSession`,
      body: JSON.stringify({ persistChanges }),
      headers: { Prefer: 'respond-async' },
      signal,
    };
    // Failures of the polling itself (not the operation's own): resending createSession could make a second session.
    const final = new WeakSet<object>();
    const created = withRetries((attempt) => this.#createOnce(workbook, call, attempt, final, claim), {
      ...this.#run(workbook, call, true, false),
      retryable: (error) => !(isObject(error) && final.has(error)),
    }).catch((error: unknown) => {
      if (error instanceof GraphRequestError && error.kind === 'unsendable-id')
        this.#options.onUnsendableId?.(workbook, error);
      throw error;
    });
    return this.#abandonable(workbook, created, signal);
  }

  /** One createSession attempt, with the operation a 202 starts followed to its end. */
  async #createOnce(
    workbook: string,
    call: GraphCall,
    attempt: number,
    final: WeakSet<object>,
    claim: (() => Promise<CreatedSession | undefined>) | undefined,
  ): Promise<CreatedSession> {
    let claimed: CreatedSession | undefined;
    const before =
      claim === undefined
        ? undefined
        : async (): Promise<boolean> => {
            claimed = await claim();
            return claimed !== undefined;
          };
    const answer = await this.#attempt(workbook, call, Priority.call, attempt, before);
    if (claimed !== undefined) return claimed;
    if (answer.status !== 202) return readSession('POST', call.path, answer.body);
    try {
      return await this.#operations.follow(workbook, answer, call.signal);
    } catch (error) {
      const operationFailed = error instanceof GraphRequestError && error.kind === 'operation-failed';
      if (!operationFailed && isObject(error)) final.add(error);
      throw error;
    }
  }

  /**
   * Settles like `created`, or rejects with the signal's reason when it aborts first. A create that
   * was already sent goes on, and a session it yields after its caller stopped waiting is handed on
   * to be closed: every id Graph gives ends in a returned session or a close.
   */
  async #abandonable(
    workbook: string,
    created: Promise<CreatedSession>,
    signal: AbortSignal | undefined,
  ): Promise<CreatedSession> {
    if (signal === undefined || (await settledBefore(created, signal))) return created;
    created.then(
      (session) => this.#late(workbook, session),
      () => undefined,
    );
    throw abortReason(signal);
  }

  /** A session nobody waits for any more: to the manager to close, or closed here. */
  #late(workbook: string, created: CreatedSession): void {
    if (this.#options.onLateSession !== undefined) this.#options.onLateSession(workbook, created);
    else void this.closeSession(workbook, created.id).catch(() => undefined);
  }

  /**
   * One attempt of `call` in `workbook`'s lane; its signal only takes it out of the queue. `before`
   * runs in the lane first; when it answers true, nothing is sent.
   */
  #attempt(
    workbook: string,
    call: GraphCall,
    priority: number,
    attempt: number,
    before?: () => Promise<boolean>,
  ): Promise<GraphAnswer> {
    const { scheduler, now } = this.#options;
    // p-queue gives up on a running task when its signal aborts, freeing the lane while the request is on the wire.
    const queued = untilStarted(call.signal);
    // Its span runs under the caller's context, captured here: the lane starts it from another.
    const traced = this.#telemetry.queued(workbook, call, attempt, priority);
    return scheduler
      .run(
        workbook,
        async () => {
          queued.started();
          if (before !== undefined && (await before())) return NOT_SENT;
          try {
            return await traced.run(() => this.#sender.send(call));
          } catch (error) {
            // Graph's Retry-After is a cooldown for the workbook, whatever status carries it.
            if (error instanceof GraphRequestError && error.retryAfterMs !== undefined && error.retryAfterMs > 0) {
              scheduler.cooldown(workbook, error.retryAfterMs, now());
              this.#telemetry.cooledDown(workbook, error.retryAfterMs, now());
            }
            throw error;
          }
        },
        // A retry keeps its place: ahead of requests queued after it, still behind closes.
        { priority: attempt === 1 ? priority : priority + 0.5, signal: queued.signal },
      )
      .finally(queued.started);
  }

  /** The retry bounds of `call`, with each retry told to `onRetry`. */
  #run(workbook: string, call: GraphCall, idempotent: boolean, sessionful: boolean, policy?: RetryPolicy): RetryRun {
    const { now, random, onRetry } = this.#options;
    return {
      policy: policy ?? this.#options.policy,
      idempotent,
      sessionful,
      signal: call.signal,
      now,
      random,
      onRetry: ({ error, attempt, delayMs, cooldown }) =>
        onRetry({
          workbook,
          method: call.method,
          path: error.path,
          attempt,
          delayMs,
          cooldown,
          status: error.status,
          code: error.innerCode ?? error.graphCode,
        }),
    };
  }

  /**
   * refreshSession: resets Graph's inactivity clock for the session. Given a function, the id is
   * asked for in the lane right before sending (it may throw when the session closed meanwhile).
   */
  async refreshSession(workbook: string, session: string | (() => string), signal?: AbortSignal): Promise<void> {
    await this.request(
      workbook,
      {
        method: 'POST',
        path: `${workbook}/workbook/refreshSession`,
        ...(typeof session === 'string' ? { sessionId: session } : { session }),
        signal,
      },
      { priority: Priority.refresh, idempotent: true },
    );
  }

  /**
   * closeSession, ahead of every other queued request. A close is retried with no count limit, only
   * the deadline: giving up after a few 429s would leave the session open, which is what this
   * library exists to prevent. `signal` stops waiting (a close already sent still goes on in its
   * lane); `deadline` (a shutdown's) also cuts off a close still waiting for its answer.
   *
   * A close queued behind a cooldown waits for it, however long: nothing goes to the workbook inside a
   * cooldown. A close that itself draws a `Retry-After` ending past `retryDeadlineMs` fails at once
   * (with `retryAfterMs`), and its workbook's lane stays paused for the whole cooldown.
   */
  async closeSession(
    workbook: string,
    sessionId: string,
    signal?: AbortSignal,
    options: { readonly deadline?: AbortSignal } = {},
  ): Promise<void> {
    await this.request(
      workbook,
      {
        method: 'POST',
        path: `${workbook}/workbook/closeSession`,
        sessionId,
        signal,
        deadline: options.deadline,
        finishOnWire: true,
      },
      { priority: Priority.close, idempotent: true, closing: true, policy: closePolicy(this.#options.policy) },
    );
  }
}

/** What an attempt answers when its `before` hook took its place: nothing was sent. */
const NOT_SENT: GraphAnswer = { status: 0, headers: new Headers(), body: undefined };

/** Past its deadline a request is not sent again, and no backoff is waited for. */
function boundedBy(run: RetryRun, deadline: AbortSignal | undefined): RetryRun {
  if (deadline === undefined) return run;
  // No timer (Infinity): only the two signals, nothing to clear.
  const { signal } = deadlineSignal(Infinity, run.signal, deadline);
  return { ...run, signal, retryable: () => !deadline.aborted };
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}
