import { SessionClosedError } from '../errors.js';
import type { HttpMethod } from '../transport/graph-transport.js';
import { shortId } from '../util/ids.js';
import type { CloseReason, SessionState } from '../types.js';
import { checkApiPath } from '../util/validate.js';
import type { CallOptions } from './call-options.js';
import type { SessionCore } from './session-core.js';

export type { CallOptions } from './call-options.js';
export { MAX_RECREATES_IN_A_ROW } from './session-core.js';

const RELEASED = Promise.resolve();

/** A request on one path of the workbook, bound to its session. */
export interface WorkbookRequest {
  get<T = unknown>(options?: CallOptions): Promise<T>;
  post<T = unknown>(body?: unknown, options?: CallOptions): Promise<T>;
  patch<T = unknown>(body?: unknown, options?: CallOptions): Promise<T>;
  delete<T = unknown>(options?: CallOptions): Promise<T>;
}

/**
 * A workbook session: every call made through it carries its `workbook-session-id`, runs in its
 * workbook's lane, and is retried where safe. Closing is idempotent; `await using` closes it.
 */
export class WorkbookSession implements AsyncDisposable {
  readonly #core: SessionCore;
  // Set for a lease on a shared session: its own end, apart from the session's.
  readonly #lease: { readonly pinned: string | undefined; released: boolean } | undefined;

  /** @internal Handles are made by `SessionManager.open()` and `acquire()`. */
  constructor(core: SessionCore, lease?: { readonly pinned: string | undefined }) {
    this.#core = core;
    this.#lease = lease === undefined ? undefined : { pinned: lease.pinned, released: false };
  }

  /** The session id Graph gave. It changes when a persistent session is reopened. */
  get id(): string {
    return this.#core.id;
  }

  /**
   * The drive-item path of the workbook in its canonical spelling, the one requests are sent to:
   * percent-encoding normalised (`/me/drive/root:/Q1%20Sales.xlsx:` for `.../Q1 Sales.xlsx:`).
   */
  get workbook(): string {
    return this.#core.workbook;
  }

  get persistChanges(): boolean {
    return this.#core.persistChanges;
  }

  /** True for a lease on a shared session (`acquire()`): closing it gives the lease back. */
  get shared(): boolean {
    return this.#lease !== undefined;
  }

  /** For a lease given back: `closed`, whatever the shared session does. */
  get state(): SessionState {
    return this.#lease?.released === true ? 'closed' : this.#core.state;
  }

  /** Why the session closed, once it has (`disposed` for a lease given back). */
  get closeReason(): CloseReason | undefined {
    return this.#lease?.released === true ? 'disposed' : this.#core.reason;
  }

  /** When the last call answered (epoch ms). */
  get lastActivity(): number {
    return this.#core.lastActivity;
  }

  /**
   * A request on a path relative to the workbook, such as `/worksheets('Sheet1')/usedRange` or
   * `/tables('Sales')/rows/add`. Absolute URLs, `..` and query strings are refused.
   */
  api(rawPath: string): WorkbookRequest {
    const path = checkApiPath(rawPath);
    const call = (method: HttpMethod, body: unknown, options: CallOptions | undefined): Promise<never> => {
      if (this.#lease?.released === true) return Promise.reject(this.#releasedError());
      return this.#core.call(method, path, body, options, this.#lease?.pinned) as Promise<never>;
    };
    return {
      get: (options) => call('GET', undefined, options),
      post: (body, options) => call('POST', body, options),
      patch: (body, options) => call('PATCH', body, options),
      delete: (options) => call('DELETE', undefined, options),
    };
  }

  /** Resets Graph's inactivity clock for this session (refreshSession). */
  refresh(options?: { signal?: AbortSignal }): Promise<void> {
    if (this.#lease?.released === true) return Promise.reject(this.#releasedError());
    return this.#core.refresh(options);
  }

  /**
   * Closes the session (closeSession). Idempotent: every caller gets the same promise. A lease on a
   * shared session gives the lease back instead; the session stays open for the other leases.
   */
  close(): Promise<void> {
    const lease = this.#lease;
    if (lease === undefined) return this.#core.close('disposed');
    if (!lease.released) {
      lease.released = true;
      this.#core.unlease();
    }
    return RELEASED;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #releasedError(): SessionClosedError {
    return new SessionClosedError({ reason: 'disposed', workbook: this.workbook, sessionId: shortId(this.id) });
  }

  /** Never shows the whole id. */
  toJSON(): Record<string, unknown> {
    return {
      id: shortId(this.id),
      workbook: this.workbook,
      persistChanges: this.persistChanges,
      state: this.state,
      closeReason: this.closeReason,
    };
  }

  toString(): string {
    return `WorkbookSession(${shortId(this.id)} on ${this.workbook}, ${this.state})`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}
