/**
 * Shortens a session id for logs, events and reports: Graph's session ids are long opaque strings
 * that grant access to the session, so only a recognisable head and tail are shown. Characters that
 * would break a log line (controls, separators) are shown escaped.
 */
export function shortId(id: string): string {
  if (typeof id !== 'string')
    throw new TypeError(`Expected the session id to be a string, got ${id === null ? 'null' : typeof id}`);
  const shown = id.length <= 12 ? id : `${id.slice(0, 6)}…${tailOf(id)}`;
  return shown.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The last four characters before the base64 padding (`=`, or `%3D` once URL-encoded) Graph's ids
 * end with: the padding is the same in every id, and would leave the short forms of two sessions
 * telling them apart by a character or two.
 */
function tailOf(id: string): string {
  const body = id.replace(/(?:=|%3D)+$/i, '');
  return body.length >= 10 ? body.slice(-4) : id.slice(-4);
}

// Controls, DEL, C1 controls and the Unicode line and paragraph separators.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/g;

/**
 * Why `value` cannot travel in an HTTP header exactly as given, or `undefined` when it can. fetch
 * refuses NUL, CR, LF and anything outside Latin-1 (a TypeError that would pass for a network
 * failure), trims spaces and tabs at both ends (the server would see another value), and sends
 * bytes 0x80-0xFF that the server may decode differently: only printable ASCII, with no space at
 * either end, arrives as sent.
 */
export function headerValueProblem(value: string): string | undefined {
  if (value === '') return 'it is empty';
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code > 0x7e) {
      const hex = code.toString(16).toUpperCase().padStart(4, '0');
      return `it contains U+${hex} at index ${i} (only printable ASCII travels in a header as sent)`;
    }
  }
  if (value.startsWith(' ') || value.endsWith(' '))
    return 'it starts or ends with a space (fetch would trim it and send another value)';
  return undefined;
}

/**
 * A session id that can be sent in the `workbook-session-id` header as given, or a TypeError that
 * says where it came from and what is wrong, showing the id only shortened.
 */
export function checkSessionId(value: unknown, source: string): string {
  if (typeof value !== 'string')
    throw new TypeError(`Expected the session id ${source} to be a string, got ${typeof value}`);
  const problem = headerValueProblem(value);
  if (problem !== undefined)
    throw new TypeError(`The session id ${source} ("${shortId(value)}") cannot be sent in a header: ${problem}`);
  return value;
}

/** A bearer token that can be sent in the `Authorization` header, or a TypeError that never shows it. */
export function checkToken(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`Expected the access token to be a string, got ${typeof value}`);
  const problem = headerValueProblem(value);
  if (problem !== undefined || value.includes(' ')) {
    throw new TypeError(
      `The access token cannot be sent in the Authorization header: ${problem ?? 'it contains a space'} ` +
        '(the token itself is not shown)',
    );
  }
  return value;
}
