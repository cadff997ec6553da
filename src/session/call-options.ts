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
  /**
   * Request headers sent with the call, such as `{ Prefer: 'return=minimal' }` or `{ 'If-Match': etag }`;
   * sent again on each retry. Refused (a TypeError before any request): `Authorization` (the client's
   * credential sends it), `workbook-session-id` (the handle sends its session's), `Content-Type` (a body is
   * always sent as JSON), and the headers that frame the request on the wire (`Host`, `Content-Length`,
   * `Transfer-Encoding`, `Connection`, `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`, `Upgrade`,
   * `Expect`); names in any case.
   */
  readonly headers?: Readonly<Record<string, string>>;
}

const CALL_OPTION_KEYS = ['signal', 'idempotent', 'query', 'headers'] as const;

// An HTTP token (RFC 9110, 5.6.2): what a header name may be made of.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// What fetch sends as a header value: no line breaks or NUL (they would end the header), and one byte
// per character.
const badValue = (value: string): boolean =>
  [...value].some((char) => char === '\r' || char === '\n' || char === '\0' || char.codePointAt(0)! > 0xff);

/** Headers a call may not set, lower case, with why. */
const REFUSED_HEADERS: ReadonlyMap<string, string> = new Map(
  Object.entries({
    authorization: "the client's credential sends it",
    'workbook-session-id': "the handle sends its session's id",
    'content-type': 'a body is always sent as JSON',
    host: 'it frames the request on the wire',
    'content-length': 'it frames the request on the wire',
    'transfer-encoding': 'it frames the request on the wire',
    connection: 'it frames the request on the wire',
    'keep-alive': 'it frames the request on the wire',
    'proxy-connection': 'it frames the request on the wire',
    te: 'it frames the request on the wire',
    trailer: 'it frames the request on the wire',
    upgrade: 'it frames the request on the wire',
    expect: 'it frames the request on the wire',
    // The Graph client keeps headers in a plain object, where this name is the prototype, not a header.
    ['__proto__']: 'the Graph client cannot carry a header of that name',
  }),
);

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
  if (options.headers === undefined) return options;
  // A copy: the call may wait in its lane, and what was checked is what is sent.
  return { ...options, headers: checkHeaders(options.headers) };
}

function checkHeaders(headers: unknown): Readonly<Record<string, string>> {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers))
    throw new TypeError(`Expected \`headers\` to be an object of strings, got ${describe(headers)}`);
  const seen = new Map<string, string>();
  const out: [string, string][] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name))
      throw new TypeError(
        `Expected header name ${describe(name)} to be an HTTP token (letters, digits, !#$%&'*+-.^_\`|~)`,
      );
    const lower = name.toLowerCase();
    const why = REFUSED_HEADERS.get(lower);
    if (why !== undefined) throw new TypeError(`The header \`${name}\` cannot be set on a call: ${why}`);
    const earlier = seen.get(lower);
    if (earlier !== undefined)
      throw new TypeError(`The headers \`${earlier}\` and \`${name}\` are the same header; give it once`);
    seen.set(lower, name);
    if (typeof value !== 'string')
      throw new TypeError(`Expected header \`${name}\` to be a string, got ${describe(value)}`);
    if (badValue(value))
      throw new TypeError(
        `Expected header \`${name}\` to hold no line break, NUL or character above U+00FF, got ${describe(value)}`,
      );
    out.push([name, value]);
  }
  // fromEntries makes each an own property, whatever its name.
  return Object.fromEntries(out);
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
