import { shortId } from './ids.js';

// Graph may echo request headers in an error message; these patterns keep bearer tokens, JWTs and
// Authorization values out of anything we build from server text.
const BEARER = /\bBearer\s+[^\s"',;]+/gi;
const JWT = /\beyJ[\w-]{2,}\.[\w-]{2,}\.[\w-]*/g;
const AUTH_HEADER = /("?authorization"?\s*[:=]\s*"?)[^"\r\n,}]*/gi;
// A session-info key stands for the session itself.
const KEY = /\(key='([^']*)'\)/g;
// A query value long enough to be an id or a token (`?sessionId=...`).
const QUERY_VALUE = /([?&][^=&#\s"']+=)([^&#\s"']{13,})/g;
// What a request id looks like: a GUID.
const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Removes bearer tokens and Authorization values from text that came from a server. */
export function redactSecrets(text: string): string {
  return text.replace(AUTH_HEADER, '$1[redacted]').replace(BEARER, 'Bearer [redacted]').replace(JWT, '[redacted-jwt]');
}

/**
 * The one filter for text that came from a server (messages, codes, ids, headers, paths): tokens
 * removed, each of `sessionIds` (the ids the request carried, as sent or percent-encoded) replaced by
 * its {@link shortId}, session-info keys and id-looking query values shortened.
 */
export function redactServerText(text: string, sessionIds: readonly string[] = []): string {
  let out = redactSecrets(text);
  for (const id of sessionIds) {
    if (id.length <= 12) continue;
    out = out.split(id).join(shortId(id));
    const encoded = encodeURIComponent(id);
    if (encoded !== id) out = out.split(encoded).join(shortId(id));
  }
  return out
    .replace(KEY, (_, key: string) => `(key='${shortId(key)}')`)
    .replace(QUERY_VALUE, (_, name: string, value: string) => `${name}${shortId(value)}`);
}

/** A request id as given when it looks like one (a GUID); anything else may be an echoed secret. */
export function safeRequestId(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return REQUEST_ID.test(value.trim()) ? value.trim() : '[redacted]';
}

// Controls, DEL, C1 controls and the Unicode line and paragraph separators: they would break a log line.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/g;

/** Server text made safe for one log line: unprintable characters escaped, cut to `max` characters. */
export function printable(text: string, max: number): string {
  const shown = text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return shown.length > max ? `${shown.slice(0, max - 3)}...` : shown;
}

/**
 * The one way an error becomes text for a log line, an event or a report: `Name: message` (a
 * GraphRequestError's message alone: it already names itself), secrets removed, each of
 * `sessionIds` shortened, unprintable characters escaped, cut to `max` characters.
 */
export function errorText(
  error: unknown,
  options: { readonly sessionIds?: readonly string[]; readonly max?: number } = {},
): string {
  let text: string;
  if (error instanceof Error)
    text = error.name === 'GraphRequestError' ? error.message : `${error.name}: ${error.message}`;
  else text = safeString(error);
  return printable(redactServerText(text, options.sessionIds ?? []), options.max ?? 500);
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    // An object with no usable toString (Object.create(null), a throwing one).
    return Object.prototype.toString.call(value);
  }
}
