import { checkBoolean, checkKeys, checkSignal, describe } from '../util/validate.js';
import type { HttpMethod } from '../transport/graph-transport.js';

/** Options of one call through a handle. */
export interface CallOptions {
  /** Aborts the call: removes it from the queue, or cancels it in flight. */
  readonly signal?: AbortSignal;
  /**
   * The call may safely be sent twice, so a 502, 504 or lost connection is retried. GET is always
   * idempotent; POST, PATCH and DELETE are not unless you say so.
   * @default true for GET, false otherwise
   */
  readonly idempotent?: boolean;
  /** Query parameters, such as `{ $select: 'values' }`. */
  readonly query?: Readonly<Record<string, string>>;
}

const CALL_OPTION_KEYS = ['signal', 'idempotent', 'query'] as const;

export function checkCallOptions(options: CallOptions | undefined): CallOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`Expected call options to be an object, got ${describe(options)}`);
  checkKeys('call option', options, CALL_OPTION_KEYS);
  checkSignal('signal', options.signal);
  if (options.idempotent !== undefined) checkBoolean('idempotent', options.idempotent);
  if (options.query !== undefined) {
    if (typeof options.query !== 'object' || options.query === null)
      throw new TypeError(`Expected \`query\` to be an object of strings, got ${describe(options.query)}`);
    for (const [key, value] of Object.entries(options.query)) {
      if (typeof value !== 'string')
        throw new TypeError(`Expected query parameter \`${key}\` to be a string, got ${describe(value)}`);
    }
  }
  return options;
}

export function serialise(method: HttpMethod, body: unknown): string | undefined {
  if (body === undefined) return undefined;
  if (method === 'GET' || method === 'DELETE') throw new TypeError(`A ${method} request takes no body`);
  let text: string | undefined;
  try {
    text = JSON.stringify(body);
  } catch (error) {
    throw new TypeError(`The request body cannot be serialised to JSON: ${(error as Error).message}`);
  }
  if (text === undefined) throw new TypeError(`The request body cannot be serialised to JSON, got ${describe(body)}`);
  return text;
}
