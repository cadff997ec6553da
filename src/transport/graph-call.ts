import type { RetryPolicy } from './retry.js';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** One request to Graph, as the transport sends it. */
export interface GraphCall {
  readonly method: HttpMethod;
  /**
   * Path below the version root, starting with `/` (e.g. `/me/drive/items/X/workbook/worksheets`); may
   * carry a query, sent as given.
   */
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

/** How a request is queued and retried. */
export interface RequestOptions {
  /** Its place in the workbook's lane (see `Priority`). */
  readonly priority: number;
  /** Safe to send again when no answer came. */
  readonly idempotent: boolean;
  /** @default the transport's */
  readonly policy?: RetryPolicy;
  /** Retried like a close: its own session's faults do not stop it. @default false */
  readonly closing?: boolean;
}

/** A successful answer: its status, headers, and body (parsed when it is JSON). */
export interface GraphAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

export interface CreatedSession {
  readonly id: string;
  readonly persistChanges: boolean;
}
