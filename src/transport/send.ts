import { ResponseType, type Client, type GraphRequest } from '@microsoft/microsoft-graph-client';
import { GraphRequestError } from '../errors.js';
import { checkSessionId } from '../util/ids.js';
import { errorText, redactSecrets } from '../util/redact.js';
import { deadlineSignal } from '../util/timers.js';
import { readAnswer } from './answer.js';
import { safeRequestOptions } from './client-safety.js';
import type { GraphAnswer, GraphCall } from './graph-call.js';

/**
 * Sends one call through the Graph client, once, and reads its answer: no queue, no retry. Every
 * way it fails is a GraphRequestError saying whether anything left (`client`), whether an answer
 * came (`network`), or what the answer said (see `readAnswer`).
 */
export class CallSender {
  readonly #client: Client;
  readonly #requestTimeoutMs: number;
  readonly #now: () => number;
  // The Graph client's own RetryHandler is turned off for our requests, so retries never multiply;
  // and redirects are not followed: a redirect would carry the session id to wherever it points.
  // Built from the client's own classes, so they hold whatever copy of the package made it.
  readonly #clientOptions: readonly object[];

  constructor(client: Client, requestTimeoutMs: number, now: () => number) {
    this.#client = client;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#now = now;
    this.#clientOptions = safeRequestOptions(client);
  }

  async send(call: GraphCall): Promise<GraphAnswer> {
    const sessionId = sessionToSend(call);
    const sessionIds = sessionId === undefined ? [] : [sessionId];
    // The caller's signal never reaches fetch: a request on the wire holds its lane until it is
    // answered or times out.
    const timeout = deadlineSignal(this.#requestTimeoutMs, call.deadline);
    const failed = failure(call, sessionIds);
    const cutOff = (): string =>
      call.deadline?.aborted === true
        ? 'no answer before the deadline'
        : `no answer within ${this.#requestTimeoutMs} ms (requestTimeoutMs)`;
    try {
      const request = this.#build(call, sessionId, timeout.signal);
      let response: Response;
      try {
        response = await dispatch(request, call);
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
      return readAnswer(call, response, text, this.#now(), sessionIds);
    } finally {
      timeout.clear();
    }
  }

  #build(call: GraphCall, sessionId: string | undefined, signal: AbortSignal): GraphRequest {
    let request = this.#client
      .api(call.path)
      .middlewareOptions([...this.#clientOptions])
      .responseType(ResponseType.RAW)
      .option('signal', signal)
      .option('redirect', 'manual');
    if (call.version !== undefined) request = request.version(call.version);
    // The call's own headers first, without any of ours (in any case): where they collide, ours win.
    // Calls through a handle never carry these (checkCallOptions refuses them).
    const ours = call.body === undefined ? OWN_HEADERS : [...OWN_HEADERS, 'content-type'];
    for (const [name, value] of Object.entries(call.headers ?? {})) {
      if (!ours.includes(name.toLowerCase())) request = request.header(name, value);
    }
    if (sessionId !== undefined) request = request.header('workbook-session-id', sessionId);
    // The Graph client sets this for a body too, but keeps one given in any other case.
    if (call.body !== undefined) request = request.header('Content-Type', 'application/json');
    if (call.query !== undefined) request = request.query(encodeQuery(call.query));
    return request;
  }
}

/** Headers only the transport sets: the session id, and the credential (set by the client's middleware). */
const OWN_HEADERS: readonly string[] = ['workbook-session-id', 'authorization'];

/** The session id to send, asked for now; one fetch would refuse (or alter) fails as a client error. */
function sessionToSend(call: GraphCall): string | undefined {
  const sessionId = call.session?.() ?? call.sessionId;
  if (sessionId === undefined) return undefined;
  try {
    return checkSessionId(sessionId, 'to send');
  } catch (error) {
    // A client error, never a network failure to retry.
    throw new GraphRequestError({
      kind: 'client',
      method: call.method,
      path: call.path,
      detail: (error as Error).message,
      sessionIds: [sessionId],
    });
  }
}

async function dispatch(request: GraphRequest, call: GraphCall): Promise<Response> {
  switch (call.method) {
    case 'GET':
      return (await request.get()) as Response;
    case 'POST':
      return (await request.post(call.body)) as Response;
    case 'PATCH':
      return (await request.patch(call.body)) as Response;
    case 'DELETE':
      return (await request.delete()) as Response;
  }
}

/** Builds the errors of a call that got no usable answer. */
function failure(
  call: GraphCall,
  sessionIds: readonly string[],
): (kind: 'network' | 'client', detail: string, error: unknown, status?: number) => GraphRequestError {
  return (kind, detail, error, status) =>
    new GraphRequestError({
      kind,
      method: call.method,
      path: call.path,
      status,
      detail,
      sessionIds,
      cause: networkCause(error),
    });
}

/**
 * True when fetch itself failed (no answer). The Graph client wraps such failures in a GraphError
 * whose `code` is the original error's name, `TypeError` for fetch; anything else (an auth
 * provider that threw, a middleware bug) happened before a request left.
 */
export function isFetchFailure(error: unknown): boolean {
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
export function encodeQuery(query: Readonly<Record<string, string>>): Record<string, string> {
  const encode = (text: string): string =>
    encodeURIComponent(text).replace(/%(24|2C|3A|40|2F)/gi, (escape) => decodeURIComponent(escape));
  return Object.fromEntries(Object.entries(query).map(([key, value]) => [encode(key), encode(value)]));
}

/**
 * What the Graph client said when it failed before sending: its body (a GraphError carries the
 * failure's text there), else its message, else its code; as any error text, redacted and cut short.
 */
export function describeFailure(error: unknown): string {
  if (typeof error !== 'object' || error === null) return errorText(error, { max: 200 });
  const { code, message, body } = error as { code?: unknown; message?: unknown; body?: unknown };
  const text =
    typeof body === 'string' && body !== ''
      ? body
      : typeof message === 'string' && message !== ''
        ? message
        : String(code ?? 'unknown error');
  return errorText(text, { max: 200 });
}

function networkCause(error: unknown): Error | undefined {
  // The Graph client wraps fetch failures in a GraphError whose text is the fetch error's: keep only its name.
  if (error instanceof Error) return new Error(redactSecrets(error.message));
  return undefined;
}
