import { ResponseType, type Client } from '@microsoft/microsoft-graph-client';
import { abortableDelay } from './abortable.js';
import { safeRequestOptions } from './client-safety.js';
import { GraphRequestError } from './errors.js';
import { GRAPH_BASE_URL } from './graph-client.js';
import { checkSessionId, headerValueProblem, shortId } from './ids.js';
import { redactSecrets } from './redact.js';
import { parseRetryAfter, withRetries, type RetryPolicy } from './retry.js';
import { Priority, type Scheduler } from './scheduler.js';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface GraphCall {
  readonly method: HttpMethod;
  /** Path below the version root, starting with `/` (e.g. `/me/drive/items/X/workbook/worksheets`). */
  readonly path: string;
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
  readonly signal?: AbortSignal | undefined;
  /**
   * `signal` stops the request only until it is sent: once on the wire it runs until its answer,
   * because the answer matters (a close Graph is acting on, a create whose session must be closed).
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
  /** How long a long-running createSession may take. */
  readonly operationTimeoutMs: number;
  readonly onRetry: (event: RetryEvent) => void;
  /** Told when Graph created a session whose id cannot be sent, so it cannot be closed. */
  readonly onUnsendableId?: ((workbook: string, error: GraphRequestError) => void) | undefined;
  readonly now: () => number;
  readonly random: () => number;
}

const MAX_POLL_INTERVAL_MS = 30_000;

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
   * once, inside the lane, so no queued request slips into the cooldown.
   */
  request(workbook: string, call: GraphCall, options: { priority: number; idempotent: boolean; policy?: RetryPolicy }): Promise<GraphAnswer> {
    const { scheduler, now, random } = this.#options;
    const policy = options.policy ?? this.#options.policy;
    return withRetries(
      (attempt) =>
        scheduler.run(
          workbook,
          async () => {
            try {
              return await this.#send(call);
            } catch (error) {
              // Graph's Retry-After is a cooldown for the workbook, whatever status carries it.
              if (error instanceof GraphRequestError && error.retryAfterMs !== undefined) {
                scheduler.cooldown(workbook, error.retryAfterMs, now());
              }
              throw error;
            }
          },
          // A retry keeps its place: ahead of requests queued after it, still behind closes.
          { priority: attempt === 1 ? options.priority : options.priority + 0.5, signal: call.signal },
        ),
      {
        policy,
        idempotent: options.idempotent,
        signal: call.signal,
        now,
        random,
        onRetry: ({ error, attempt, delayMs, cooldown }) =>
          this.#options.onRetry({
            workbook,
            method: call.method,
            path: shownPath(call.path),
            attempt,
            delayMs,
            cooldown,
            status: error.status,
            code: error.innerCode ?? error.graphCode,
          }),
      },
    );
  }

  /**
   * createSession, asking for the long-running form (`Prefer: respond-async`): a 201 carries the
   * session; a 202 carries a `Location` to poll until the operation succeeds or fails.
   */
  async createSession(workbook: string, persistChanges: boolean, signal?: AbortSignal): Promise<CreatedSession> {
    const path = `${workbook}/workbook/createSession`;
    // Once sent, the POST is not torn down by `signal`: its answer must arrive, so the session it names can be closed.
    const answer = await this.request(
      workbook,
      { method: 'POST', path, body: JSON.stringify({ persistChanges }), headers: { Prefer: 'respond-async' }, signal, finishOnWire: true },
      { priority: Priority.call, idempotent: true },
    );
    try {
      if (answer.status === 202) return await this.#awaitOperation(workbook, answer, signal);
      return readSession('POST', path, answer.body);
    } catch (error) {
      if (error instanceof GraphRequestError && error.kind === 'unsendable-id') this.#options.onUnsendableId?.(workbook, error);
      throw error;
    }
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
   * library exists to prevent.
   */
  async closeSession(workbook: string, sessionId: string, signal?: AbortSignal): Promise<void> {
    await this.request(
      workbook,
      { method: 'POST', path: `${workbook}/workbook/closeSession`, sessionId, signal, finishOnWire: true },
      { priority: Priority.close, idempotent: true, policy: { ...this.#options.policy, retries: Infinity } },
    );
  }

  async #awaitOperation(workbook: string, accepted: GraphAnswer, signal?: AbortSignal): Promise<CreatedSession> {
    const operationPath = this.#localPath('POST', `${workbook}/workbook/createSession`, accepted.headers.get('location'), 'Location');
    const { now, operationTimeoutMs } = this.#options;
    const deadline = now() + operationTimeoutMs;
    let interval = this.#options.pollIntervalMs;
    // The last answer's Retry-After, if any, says when to ask again; else the interval, doubling.
    let last = accepted;
    for (;;) {
      const hinted = parseRetryAfter(last.headers.get('retry-after'), now());
      // Never sooner than the configured interval: a `Retry-After: 0` on every poll must not spin.
      await abortableDelay(Math.max(hinted ?? interval, this.#options.pollIntervalMs), signal);
      if (hinted === undefined) interval = Math.min(interval * 2, MAX_POLL_INTERVAL_MS);
      const poll = await this.request(workbook, { method: 'GET', path: operationPath, signal }, { priority: Priority.call, idempotent: true });
      last = poll;
      const operation = asRecord(poll.body);
      const status = typeof operation?.['status'] === 'string' ? operation['status'].toLowerCase() : undefined;
      if (status === 'succeeded' || status === 'completed') {
        const location = operation?.['resourceLocation'];
        const infoPath = this.#localPath('GET', operationPath, typeof location === 'string' ? location : null, 'resourceLocation');
        const info = await this.request(workbook, { method: 'GET', path: infoPath, signal }, { priority: Priority.call, idempotent: true });
        return readSession('GET', infoPath, info.body);
      }
      if (status === 'failed') {
        const error = asRecord(operation?.['error']);
        const inner = asRecord(error?.['innerError']);
        throw new GraphRequestError({
          kind: 'operation-failed',
          method: 'GET',
          path: operationPath,
          status: poll.status,
          graphCode: stringOrUndefined(error?.['code']),
          innerCode: stringOrUndefined(inner?.['code']),
          detail: safeMessage(error?.['message']) ?? 'the createSession operation failed',
        });
      }
      if (status !== 'notstarted' && status !== 'running') {
        throw new GraphRequestError({
          kind: 'malformed',
          method: 'GET',
          path: operationPath,
          status: poll.status,
          detail: `unknown operation status ${JSON.stringify(safeMessage(operation?.['status']) ?? null)}`,
        });
      }
      if (now() >= deadline) {
        throw new GraphRequestError({ kind: 'malformed', method: 'GET', path: operationPath, detail: `createSession did not finish within ${operationTimeoutMs} ms` });
      }
    }
  }

  /**
   * Turns a `Location` or `resourceLocation` into a path for our client. Only the Graph origin is
   * accepted: the client attaches the token, and it must never travel to another host.
   */
  #localPath(method: string, path: string, location: string | null, header: string): string {
    const refuse = (detail: string): never => {
      throw new GraphRequestError({ kind: location === null ? 'malformed' : 'unsafe-location', method, path, detail });
    };
    if (location === null || location === '') return refuse(`the answer has no ${header}`);
    let url: URL;
    try {
      url = new URL(location, `${this.#base.origin}/${this.#base.version}/`);
    } catch {
      return refuse(`${header} is not a URL`);
    }
    if (url.origin !== this.#base.origin) return refuse(`${header} points to ${url.origin}, not ${this.#base.origin}; not followed`);
    const match = /^\/(v1\.0|beta)(\/.*)$/.exec(url.pathname);
    if (match?.[2] === undefined) return refuse(`${header} is outside the Graph version root`);
    return match[2] + url.search;
  }

  async #send(call: GraphCall): Promise<GraphAnswer> {
    const { client, now } = this.#options;
    const sessionId = call.session?.() ?? call.sessionId;
    if (sessionId !== undefined) {
      try {
        checkSessionId(sessionId, 'to send');
      } catch (error) {
        // fetch would refuse (or alter) it: a client error, never a network failure to retry.
        throw new GraphRequestError({ kind: 'client', method: call.method, path: shownPath(call.path), detail: (error as Error).message });
      }
    }
    let request = client.api(call.path).middlewareOptions([...this.#clientOptions]).responseType(ResponseType.RAW).option('redirect', 'manual');
    if (sessionId !== undefined) request = request.header('workbook-session-id', sessionId);
    for (const [name, value] of Object.entries(call.headers ?? {})) request = request.header(name, value);
    if (call.query !== undefined) request = request.query(encodeQuery(call.query));
    if (call.signal !== undefined && call.finishOnWire !== true) request = request.option('signal', call.signal);
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
      if (call.signal?.aborted) throw call.signal.reason;
      if (!isFetchFailure(error)) {
        throw new GraphRequestError({ kind: 'client', method: call.method, path: shownPath(call.path), detail: `the Graph client failed before sending: ${describeFailure(error)}`, cause: networkCause(error) });
      }
      throw new GraphRequestError({ kind: 'network', method: call.method, path: shownPath(call.path), detail: 'no answer (connection failed or dropped)', cause: networkCause(error) });
    }
    return readAnswer(call, response, now());
  }
}

async function readAnswer(call: GraphCall, response: Response, now: number): Promise<GraphAnswer> {
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    if (call.signal?.aborted) throw call.signal.reason;
    throw new GraphRequestError({ kind: 'network', method: call.method, path: shownPath(call.path), status: response.status, detail: 'the answer was cut off', cause: networkCause(error) });
  }
  const type = response.headers.get('content-type') ?? '';
  let body: unknown = text === '' ? undefined : text;
  let parsed = false;
  if (text !== '' && type.includes('json')) {
    try {
      body = JSON.parse(text);
      parsed = true;
    } catch {
      if (response.ok) {
        throw new GraphRequestError({ kind: 'malformed', method: call.method, path: shownPath(call.path), status: response.status, detail: 'the answer is not valid JSON' });
      }
    }
  }
  if (response.ok) return { status: response.status, headers: response.headers, body };

  const error = parsed ? asRecord(asRecord(body)?.['error']) : undefined;
  const inner = asRecord(error?.['innerError']);
  const requestId = response.headers.get('request-id') ?? stringOrUndefined(inner?.['request-id']) ?? undefined;
  throw new GraphRequestError({
    kind: 'http',
    method: call.method,
    path: shownPath(call.path),
    status: response.status,
    graphCode: stringOrUndefined(error?.['code']),
    innerCode: stringOrUndefined(inner?.['code']),
    requestId,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), now),
    detail: error === undefined ? `the error answer is not Graph's JSON (${type.split(';')[0] || 'no content type'})` : safeMessage(error['message']),
  });
}

/**
 * The path as errors show it: a session-info key (`sessionInfoResource(key='...')`) may stand for
 * the session itself, so it is shortened like a session id.
 */
function shownPath(path: string): string {
  return path.replace(/\(key='([^']*)'\)/g, (_, key: string) => `(key='${shortId(key)}')`);
}

function readSession(method: string, path: string, body: unknown): CreatedSession {
  const record = asRecord(body);
  const id = record?.['id'];
  if (typeof id !== 'string' || id === '') {
    throw new GraphRequestError({ kind: 'malformed', method, path: shownPath(path), detail: 'the answer carries no session id' });
  }
  const problem = headerValueProblem(id);
  if (problem !== undefined) {
    throw new GraphRequestError({
      kind: 'unsendable-id',
      method,
      path: shownPath(path),
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
  const { name, code, statusCode, message, body } = error as { name?: unknown; code?: unknown; statusCode?: unknown; message?: unknown; body?: unknown };
  const fromFetch = name === 'TypeError' || (statusCode === -1 && code === 'TypeError');
  // fetch also throws a TypeError for a header it refuses to send: nothing left, so not a network failure.
  const text = `${typeof message === 'string' ? message : ''} ${typeof body === 'string' ? body : ''}`;
  return fromFetch && !/header|bytestring/i.test(text);
}

function describeFailure(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error);
  const { code, message, body } = error as { code?: unknown; message?: unknown; body?: unknown };
  const text = typeof body === 'string' && body !== '' ? body : typeof message === 'string' && message !== '' ? message : String(code ?? 'unknown error');
  const safe = redactSecrets(text);
  return safe.length > 200 ? `${safe.slice(0, 197)}...` : safe;
}

function networkCause(error: unknown): Error | undefined {
  // The Graph client wraps fetch failures in a GraphError whose text is the fetch error's: keep only its name.
  if (error instanceof Error) return new Error(redactSecrets(error.message));
  return undefined;
}

/**
 * Query values percent-encoded: the Graph client joins them into the URL as given, so an `&`, `#`
 * or `=` in a value would cut it or add parameters. A `$` stays as is (`$filter`, `$select`).
 */
function encodeQuery(query: Readonly<Record<string, string>>): Record<string, string> {
  const encode = (text: string): string => encodeURIComponent(text).replace(/%24/g, '$');
  return Object.fromEntries(Object.entries(query).map(([key, value]) => [encode(key), encode(value)]));
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** A non-empty string from a server answer (a code, a request id), with any echoed secret removed. */
function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? redactSecrets(value) : undefined;
}

function safeMessage(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const text = redactSecrets(value);
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}
