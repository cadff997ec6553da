import { ResponseType, type Client } from '@microsoft/microsoft-graph-client';
import { abortReason, abortableDelay, raceAbort, untilStarted } from '../util/abort.js';
import { safeRequestOptions } from './client-safety.js';
import { GraphRequestError, readErrorChain, safeMessage } from '../errors.js';
import { GRAPH_BASE_URL } from './graph-client.js';
import { redactSecrets } from '../util/redact.js';
import { parseRetryAfter, withRetries, type RetryPolicy } from './retry.js';
import { Priority, type Scheduler } from '../coordination/scheduler.js';
import { deadlineSignal } from '../util/timers.js';
import { checkSessionId, headerValueProblem, shortId } from '../util/ids.js';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface GraphCall {
  readonly method: HttpMethod;
  /** Path below the version root, starting with `/` (e.g. `/me/drive/items/X/workbook/worksheets`); may carry a query, sent as given. */
  readonly path: string;
  /** The version root (`v1.0`, `beta`). @default the client's */
  readonly version?: string | undefined;
  readonly sessionId?: string | undefined;
  /**
   * Called in the lane just before the request is sent, for the session id to send; it may throw
   * (the session closed while the request waited), and then nothing is sent.
   */
  readonly session?: (() => string) | undefined;
  /** Already serialised JSON. */
  readonly body?: string | undefined;
  readonly query?: Readonly<Record<string, string>> | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /**
   * Stops waiting: a queued request is removed; a request already sent goes on in its lane until
   * the server answers (or `requestTimeoutMs`), only the caller stops waiting for it.
   */
  readonly signal?: AbortSignal | undefined;
  /**
   * Bounds the request's own timeout further (a shutdown deadline): when it aborts, a request on
   * the wire is cut off and fails as a network failure.
   */
  readonly deadline?: AbortSignal | undefined;
  /**
   * `signal` takes the request out of its queue or stops its backoff, but once it is on the wire the
   * caller waits for its answer (a close Graph may be carrying out).
   */
  readonly finishOnWire?: boolean | undefined;
}

export interface GraphAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

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

export interface CreatedSession {
  readonly id: string;
  readonly persistChanges: boolean;
}

export interface TransportOptions {
  readonly client: Client;
  readonly scheduler: Scheduler;
  readonly policy: RetryPolicy;
  /** First wait between polls of a long-running createSession; doubles up to 30 s. */
  readonly pollIntervalMs: number;
  /**
   * How long a long-running createSession may take before `createSession()` fails. Polling then goes
   * on in the background for up to {@link LATE_POLL_MS} more, and a session it yields goes to `onLateSession`.
   */
  readonly operationTimeoutMs: number;
  /** How long one request may wait for its answer before it is cut off (a network failure). Infinity: no limit. */
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
  readonly now: () => number;
  readonly random: () => number;
}

const MAX_POLL_INTERVAL_MS = 30_000;
/**
 * The smallest backoff between close attempts. A close has no retry count, only the deadline, so a
 * backoff of 0 (`retryBaseDelayMs: 0`, or `Retry-After: 0`) must not turn it into a loop of requests.
 */
const MIN_CLOSE_BACKOFF_MS = 100;

/** A close's retry bounds: no count limit, only the deadline, and a backoff that never drops to 0. */
function closePolicy(policy: RetryPolicy): RetryPolicy {
  const baseDelayMs = Math.max(policy.baseDelayMs, MIN_CLOSE_BACKOFF_MS);
  return { ...policy, retries: Infinity, baseDelayMs, maxDelayMs: Math.max(policy.maxDelayMs, baseDelayMs) };
}

/**
 * After `operationTimeoutMs`, how long a long-running createSession is still polled in the
 * background. Graph expires a session nobody uses after about 5 minutes, so a session the operation
 * yields later than this would be gone (or about to go) by itself.
 */
export const LATE_POLL_MS = 5 * 60_000;

/** Where a `Location` or `resourceLocation` points: a path (with its query, as given) under a version root. */
interface Target {
  readonly version: string;
  readonly path: string;
}

/** A long-running createSession being polled: where, and when to ask next. */
interface Polling {
  readonly operation: Target;
  interval: number;
  last: GraphAnswer;
}

/**
 * The Graph calls themselves, each in its workbook's lane and under the retry rules. Knows nothing
 * about handles: sessions are plain ids here.
 */
export class GraphTransport {
  readonly #options: TransportOptions;
  readonly #base: { origin: string; version: string };
  // The Graph client's own RetryHandler is turned off for our requests, so retries never multiply;
  // and redirects are not followed: a redirect would carry the session id to wherever it points.
  // Built from the client's own classes, so they hold whatever copy of the package made it.
  readonly #clientOptions: readonly object[];

  constructor(options: TransportOptions) {
    this.#options = options;
    this.#base = clientBase(options.client);
    this.#clientOptions = safeRequestOptions(options.client);
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
  request(
    workbook: string,
    call: GraphCall,
    options: { priority: number; idempotent: boolean; policy?: RetryPolicy; closing?: boolean },
  ): Promise<GraphAnswer> {
    const sessionful = options.closing !== true && (call.sessionId !== undefined || call.session !== undefined);
    const run = {
      ...this.#run(workbook, call, options.idempotent, sessionful, options.policy),
      closing: options.closing === true,
    };
    const { deadline } = call;
    const retried = withRetries(
      (attempt) => this.#attempt(workbook, call, options.priority, attempt),
      // Past its deadline a request is not sent again, and no backoff is waited for.
      deadline === undefined
        ? run
        : {
            ...run,
            signal: call.signal === undefined ? deadline : AbortSignal.any([call.signal, deadline]),
            retryable: () => !deadline.aborted,
          },
    );
    // A close's caller waits for the answer of a close already sent: whether Graph closed it is what matters.
    return call.finishOnWire === true ? retried : raceAbort(retried, call.signal);
  }

  /**
   * createSession, asking for the long-running form (`Prefer: respond-async`): a 201 carries the
   * session; a 202 carries a `Location` to poll until the operation succeeds or fails. An operation
   * that fails with a resend-after-cooldown code is the createSession failing, so it is sent again
   * under the same retry bounds as the request itself.
   */
  createSession(workbook: string, persistChanges: boolean, signal?: AbortSignal): Promise<CreatedSession> {
    const path = `${workbook}/workbook/createSession`;
    const call: GraphCall = {
      method: 'POST',
      path,
      body: JSON.stringify({ persistChanges }),
      headers: { Prefer: 'respond-async' },
      signal,
    };
    // Failures of the polling itself (not the operation's own): resending createSession could make a second session.
    const final = new WeakSet<object>();
    const run = this.#run(workbook, call, true, false);
    const created = withRetries(
      async (attempt) => {
        const answer = await this.#attempt(workbook, call, Priority.call, attempt);
        if (answer.status !== 202) return readSession('POST', path, answer.body);
        try {
          return await this.#awaitOperation(workbook, answer, signal);
        } catch (error) {
          if (
            !(error instanceof GraphRequestError && error.kind === 'operation-failed') &&
            typeof error === 'object' &&
            error !== null
          )
            final.add(error);
          throw error;
        }
      },
      { ...run, retryable: (error) => !(typeof error === 'object' && error !== null && final.has(error)) },
    ).catch((error: unknown) => {
      if (error instanceof GraphRequestError && error.kind === 'unsendable-id')
        this.#options.onUnsendableId?.(workbook, error);
      throw error;
    });
    return this.#abandonable(workbook, created, signal);
  }

  /**
   * Settles like `created`, or rejects with the signal's reason when it aborts first. A create that
   * was already sent goes on, and a session it yields after its caller stopped waiting is handed on
   * to be closed: every id Graph gives ends in a returned session or a close.
   */
  #abandonable(
    workbook: string,
    created: Promise<CreatedSession>,
    signal: AbortSignal | undefined,
  ): Promise<CreatedSession> {
    if (signal === undefined) return created;
    return new Promise((resolve, reject) => {
      let abandoned = false;
      const onAbort = (): void => {
        abandoned = true;
        reject(abortReason(signal));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      created.then(
        (session) => {
          signal.removeEventListener('abort', onAbort);
          if (abandoned) this.#late(workbook, session);
          else resolve(session);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          if (!abandoned) reject(error);
        },
      );
    });
  }

  /** A session nobody waits for any more: to the manager to close, or closed here. */
  #late(workbook: string, created: CreatedSession): void {
    if (this.#options.onLateSession !== undefined) this.#options.onLateSession(workbook, created);
    else void this.closeSession(workbook, created.id).catch(() => undefined);
  }

  /** One attempt of `call` in `workbook`'s lane; its signal only takes it out of the queue. */
  #attempt(workbook: string, call: GraphCall, priority: number, attempt: number): Promise<GraphAnswer> {
    const { scheduler, now } = this.#options;
    // p-queue gives up on a running task when its signal aborts, freeing the lane while the request is on the wire.
    const queued = untilStarted(call.signal);
    return scheduler
      .run(
        workbook,
        async () => {
          queued.started();
          try {
            return await this.#send(call);
          } catch (error) {
            // Graph's Retry-After is a cooldown for the workbook, whatever status carries it.
            if (error instanceof GraphRequestError && error.retryAfterMs !== undefined && error.retryAfterMs > 0) {
              scheduler.cooldown(workbook, error.retryAfterMs, now());
            }
            throw error;
          }
        },
        // A retry keeps its place: ahead of requests queued after it, still behind closes.
        { priority: attempt === 1 ? priority : priority + 0.5, signal: queued.signal },
      )
      .finally(queued.started);
  }

  #run(workbook: string, call: GraphCall, idempotent: boolean, sessionful: boolean, policy?: RetryPolicy) {
    const { now, random } = this.#options;
    return {
      policy: policy ?? this.#options.policy,
      idempotent,
      sessionful,
      signal: call.signal,
      now,
      random,
      onRetry: ({
        error,
        attempt,
        delayMs,
        cooldown,
      }: {
        error: GraphRequestError;
        attempt: number;
        delayMs: number;
        cooldown: boolean;
      }) =>
        this.#options.onRetry({
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

  async #awaitOperation(workbook: string, accepted: GraphAnswer, signal?: AbortSignal): Promise<CreatedSession> {
    const created: Target = { version: this.#base.version, path: `${workbook}/workbook/createSession` };
    const operation = this.#target('POST', created, accepted.headers.get('location'), 'Location');
    const { now, operationTimeoutMs } = this.#options;
    const deadline = now() + operationTimeoutMs;
    const polling: Polling = { operation, interval: this.#options.pollIntervalMs, last: accepted };
    for (;;) {
      const created = await this.#poll(workbook, polling, signal, true, deadline);
      if (created !== undefined) return created;
      if (now() >= deadline) {
        // Graph may still complete it: whatever it yields must be closed, not left to expire unseen.
        this.#pollLate(workbook, polling, signal);
        throw new GraphRequestError({
          kind: 'malformed',
          method: 'GET',
          path: operation.path,
          detail: `createSession did not finish within ${operationTimeoutMs} ms (still polled in the background; a session it yields is closed)`,
        });
      }
    }
  }

  /** Polls on after the timeout, unref'd (it must not hold the process), for at most {@link LATE_POLL_MS}. */
  #pollLate(workbook: string, polling: Polling, signal: AbortSignal | undefined): void {
    const { now } = this.#options;
    const until = now() + LATE_POLL_MS;
    void (async () => {
      while (now() < until) {
        const created = await this.#poll(workbook, polling, signal, false, until);
        if (created === undefined) continue;
        this.#late(workbook, created);
        return;
      }
    })().catch(() => {
      /* aborted, failed, or unreadable: nothing was created that can be named */
    });
  }

  /**
   * Waits, then asks once how the operation goes: the session when it succeeded, `undefined` while it
   * runs. A poll that fails for a reason that says nothing about the operation (a 5xx or no answer,
   * after the GET's own retries) is asked again at the next interval.
   */
  async #poll(
    workbook: string,
    polling: Polling,
    signal: AbortSignal | undefined,
    ref: boolean,
    notAfter: number,
  ): Promise<CreatedSession | undefined> {
    const { now } = this.#options;
    const { operation } = polling;
    // The last answer's Retry-After, if any, says when to ask again; else the interval, doubling. Never
    // past the phase's end: a last look is taken then.
    const hinted = parseRetryAfter(polling.last.headers.get('retry-after'), now());
    // Never sooner than the configured interval (a `Retry-After: 0` on every poll must not spin), and never past the phase's end.
    const wait = Math.max(hinted ?? polling.interval, this.#options.pollIntervalMs);
    await abortableDelay(Math.min(wait, Math.max(0, notAfter - now())), signal, { ref });
    if (hinted === undefined) polling.interval = Math.min(polling.interval * 2, MAX_POLL_INTERVAL_MS);
    let poll: GraphAnswer;
    try {
      // Cut off on the wire too when `signal` aborts: its answer would be thrown away, and a hung one
      // would hold the process for requestTimeoutMs after a shutdown gave up on the create.
      poll = await this.request(
        workbook,
        { method: 'GET', path: operation.path, version: operation.version, signal, deadline: signal },
        { priority: Priority.call, idempotent: true },
      );
    } catch (error) {
      if (
        error instanceof GraphRequestError &&
        (error.kind === 'network' || (error.kind === 'http' && error.status !== undefined && error.status >= 500))
      ) {
        return undefined;
      }
      throw error;
    }
    polling.last = poll;
    const record = asRecord(poll.body);
    const status = typeof record?.['status'] === 'string' ? record['status'].toLowerCase() : undefined;
    if (status === 'succeeded' || status === 'completed') {
      // The session exists from here on. Its details are asked for like a close is sent (resent for
      // whatever may pass, until the deadline; an answer on the wire is waited for, so a late id is
      // still closed), and a session whose id never arrives is reported: nobody can close it.
      try {
        const location = record?.['resourceLocation'];
        const info = this.#target('GET', operation, typeof location === 'string' ? location : null, 'resourceLocation');
        const answer = await this.request(
          workbook,
          { method: 'GET', path: info.path, version: info.version, signal, finishOnWire: true },
          { priority: Priority.call, idempotent: true, closing: true, policy: closePolicy(this.#options.policy) },
        );
        return readSession('GET', info.path, answer.body);
      } catch (error) {
        if (error instanceof GraphRequestError && error.kind !== 'unsendable-id')
          this.#options.onUnsendableId?.(workbook, error);
        throw error;
      }
    }
    if (status === 'failed') {
      const chain = readErrorChain(record?.['error']);
      throw new GraphRequestError({
        kind: 'operation-failed',
        method: 'GET',
        path: operation.path,
        status: poll.status,
        codes: chain.codes,
        graphCode: chain.graphCode,
        innerCode: chain.innerCode,
        requestId: poll.headers.get('request-id') ?? chain.requestId,
        detail: chain.message ?? 'the createSession operation failed',
      });
    }
    if (status !== 'notstarted' && status !== 'running') {
      throw new GraphRequestError({
        kind: 'malformed',
        method: 'GET',
        path: operation.path,
        status: poll.status,
        detail: `unknown operation status ${JSON.stringify(safeMessage(record?.['status']) ?? null)}`,
      });
    }
    return undefined;
  }

  /**
   * Where a `Location` or `resourceLocation` points, kept as given: its version root and its query
   * (`?sessionId=...`) too. Only the Graph origin is accepted: the client attaches the token, and it
   * must never travel to another host. A relative reference is read against the URL of the request
   * whose answer carried it (`operations/1` in a createSession's answer: `.../workbook/operations/1`).
   */
  #target(method: string, from: Target, location: string | null, header: string): Target {
    const { path } = from;
    const refuse = (detail: string): never => {
      throw new GraphRequestError({ kind: location === null ? 'malformed' : 'unsafe-location', method, path, detail });
    };
    if (location === null || location === '') return refuse(`the answer has no ${header}`);
    let url: URL;
    try {
      url = new URL(location, `${this.#base.origin}/${from.version}${from.path}`);
    } catch {
      return refuse(`${header} is not a URL`);
    }
    if (url.origin !== this.#base.origin)
      return refuse(`${header} points to ${url.origin}, not ${this.#base.origin}; not followed`);
    // The text after the origin exactly as the server wrote it: URL serialisation would re-encode the query.
    const afterOrigin = location.replace(/^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i, '');
    const raw = afterOrigin.startsWith('/') ? afterOrigin : url.pathname + url.search;
    const match = /^\/(v1\.0|beta)(\/[^?#]*)(\?[^#]*)?/.exec(raw);
    // Dot segments would make the path sent differ from the one checked.
    if (match?.[1] === undefined || match[2] === undefined || /\/(\.|%2e){1,2}(\/|$)/i.test(match[2]))
      return refuse(`${header} is outside the Graph version root`);
    // The Graph client reads an `https://` anywhere in a request path as the start of another host.
    if (raw.includes('https://'))
      return refuse(
        `${header} carries "https://" after its origin, which the Graph client would send to another host; not followed`,
      );
    return { version: match[1], path: match[2] + (match[3] ?? '') };
  }

  async #send(call: GraphCall): Promise<GraphAnswer> {
    const { client, now, requestTimeoutMs } = this.#options;
    const sessionId = call.session?.() ?? call.sessionId;
    const sessionIds = sessionId === undefined ? [] : [sessionId];
    if (sessionId !== undefined) {
      try {
        checkSessionId(sessionId, 'to send');
      } catch (error) {
        // fetch would refuse (or alter) it: a client error, never a network failure to retry.
        throw new GraphRequestError({
          kind: 'client',
          method: call.method,
          path: call.path,
          detail: (error as Error).message,
          sessionIds,
        });
      }
    }
    // The caller's signal never reaches fetch: a request on the wire holds its lane until it is answered or times out.
    const timeout = deadlineSignal(requestTimeoutMs, call.deadline);
    const failed = (kind: 'network' | 'client', detail: string, error: unknown, status?: number): GraphRequestError =>
      new GraphRequestError({
        kind,
        method: call.method,
        path: call.path,
        status,
        detail,
        sessionIds,
        cause: networkCause(error),
      });
    const cutOff = (): string =>
      call.deadline?.aborted === true
        ? 'no answer before the deadline'
        : `no answer within ${requestTimeoutMs} ms (requestTimeoutMs)`;
    try {
      let request = client
        .api(call.path)
        .middlewareOptions([...this.#clientOptions])
        .responseType(ResponseType.RAW)
        .option('signal', timeout.signal)
        .option('redirect', 'manual');
      if (call.version !== undefined) request = request.version(call.version);
      if (sessionId !== undefined) request = request.header('workbook-session-id', sessionId);
      for (const [name, value] of Object.entries(call.headers ?? {})) request = request.header(name, value);
      if (call.query !== undefined) request = request.query(encodeQuery(call.query));
      let response: Response;
      try {
        switch (call.method) {
          case 'GET':
            response = (await request.get()) as Response;
            break;
          case 'POST':
            response = (await request.post(call.body)) as Response;
            break;
          case 'PATCH':
            response = (await request.patch(call.body)) as Response;
            break;
          case 'DELETE':
            response = (await request.delete()) as Response;
            break;
        }
      } catch (error) {
        if (timeout.signal.aborted) throw failed('network', cutOff(), error);
        if (!isFetchFailure(error))
          throw failed('client', `the Graph client failed before sending: ${describeFailure(error)}`, error);
        throw failed('network', 'no answer (connection failed or dropped)', error);
      }
      let text: string;
      try {
        text = await response.text();
      } catch (error) {
        throw failed('network', timeout.signal.aborted ? cutOff() : 'the answer was cut off', error, response.status);
      }
      return readAnswer(call, response, text, now(), sessionIds);
    } finally {
      timeout.clear();
    }
  }
}

function readAnswer(
  call: GraphCall,
  response: Response,
  text: string,
  now: number,
  sessionIds: readonly string[],
): GraphAnswer {
  const type = response.headers.get('content-type') ?? '';
  let body: unknown = text === '' ? undefined : text;
  let parsed = false;
  const labelledJson = type.includes('json');
  // JSON under another label (`text/plain`, none) is still read: a created session's id must not be lost to a wrong header.
  if (text !== '' && (labelledJson || /^\s*[{[]/.test(text))) {
    try {
      body = JSON.parse(text);
      parsed = true;
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
    }
  }
  if (response.ok) return { status: response.status, headers: response.headers, body };

  const error = parsed ? asRecord(asRecord(body)?.['error']) : undefined;
  const chain = readErrorChain(error);
  throw new GraphRequestError({
    kind: 'http',
    method: call.method,
    path: call.path,
    status: response.status,
    codes: chain.codes,
    graphCode: chain.graphCode,
    innerCode: chain.innerCode,
    requestId:
      response.headers.get('request-id') ?? chain.requestId ?? response.headers.get('client-request-id') ?? undefined,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), now),
    detail:
      error === undefined
        ? `the error answer is not Graph's JSON (${type.split(';')[0] || 'no content type'})`
        : (chain.message ?? undefined),
    sessionIds,
  });
}

function readSession(method: string, path: string, body: unknown): CreatedSession {
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
      detail: `Graph created session "${shortId(id)}", but its id cannot be sent in a header (${problem}): it cannot be used or closed, and stays open on the server until Graph expires it`,
    });
  }
  return { id, persistChanges: record?.['persistChanges'] !== false };
}

/** The client's base origin and default version, read from its configuration. */
function clientBase(client: Client): { origin: string; version: string } {
  const config = (client as unknown as { config?: { baseUrl?: unknown; defaultVersion?: unknown } }).config;
  const baseUrl = typeof config?.baseUrl === 'string' ? config.baseUrl : GRAPH_BASE_URL;
  const version = typeof config?.defaultVersion === 'string' ? config.defaultVersion : 'v1.0';
  return { origin: new URL(baseUrl).origin, version };
}

/**
 * True when fetch itself failed (no answer). The Graph client wraps such failures in a GraphError
 * whose `code` is the original error's name, `TypeError` for fetch; anything else (an auth
 * provider that threw, a middleware bug) happened before a request left.
 */
function isFetchFailure(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, code, statusCode, message, body } = error as {
    name?: unknown;
    code?: unknown;
    statusCode?: unknown;
    message?: unknown;
    body?: unknown;
  };
  const fromFetch = name === 'TypeError' || (statusCode === -1 && code === 'TypeError');
  // fetch also throws a TypeError for a header it refuses to send: nothing left, so not a network failure.
  const text = `${typeof message === 'string' ? message : ''} ${typeof body === 'string' ? body : ''}`;
  return fromFetch && !/header|bytestring/i.test(text);
}

/**
 * Query values percent-encoded: the Graph client joins them into the URL as given, so an `&`, `#`,
 * `+` or `=` in a value would cut it, change it or add parameters. Characters a query may carry as
 * they are stay readable (`$select=id,parentReference`, `$filter=startswith(name,'Q1')`).
 */
function encodeQuery(query: Readonly<Record<string, string>>): Record<string, string> {
  const encode = (text: string): string =>
    encodeURIComponent(text).replace(/%(24|2C|3A|40|2F)/gi, (escape) => decodeURIComponent(escape));
  return Object.fromEntries(Object.entries(query).map(([key, value]) => [encode(key), encode(value)]));
}

function describeFailure(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error);
  const { code, message, body } = error as { code?: unknown; message?: unknown; body?: unknown };
  const text =
    typeof body === 'string' && body !== ''
      ? body
      : typeof message === 'string' && message !== ''
        ? message
        : String(code ?? 'unknown error');
  const safe = redactSecrets(text);
  return safe.length > 200 ? `${safe.slice(0, 197)}...` : safe;
}

function networkCause(error: unknown): Error | undefined {
  // The Graph client wraps fetch failures in a GraphError whose text is the fetch error's: keep only its name.
  if (error instanceof Error) return new Error(redactSecrets(error.message));
  return undefined;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
