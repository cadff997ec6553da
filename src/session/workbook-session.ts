import { shortId } from '../util/ids.js';
import type { CloseReason, SessionState } from '../types.js';
import { checkApiPath } from '../util/validate.js';
import type { CallOptions } from './call-options.js';
import type { SessionCore } from './session-core.js';

export type { CallOptions } from './call-options.js';
export { MAX_RECREATES_IN_A_ROW } from './session-core.js';

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

  /** @internal Handles are made by `SessionManager.open()`. */
  constructor(core: SessionCore) {
    this.#core = core;
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

  get state(): SessionState {
    return this.#core.state;
  }

  /** Why the session closed, once it has. */
  get closeReason(): CloseReason | undefined {
    return this.#core.reason;
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
    const core = this.#core;
    return {
      get: (options) => core.call('GET', path, undefined, options) as Promise<never>,
      post: (body, options) => core.call('POST', path, body, options) as Promise<never>,
      patch: (body, options) => core.call('PATCH', path, body, options) as Promise<never>,
      delete: (options) => core.call('DELETE', path, undefined, options) as Promise<never>,
    };
  }

  /** Resets Graph's inactivity clock for this session (refreshSession). */
  refresh(options?: { signal?: AbortSignal }): Promise<void> {
    return this.#core.refresh(options);
  }

  /** Closes the session (closeSession). Idempotent: every caller gets the same promise. */
  close(): Promise<void> {
    return this.#core.close('disposed');
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#core.close('disposed');
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
