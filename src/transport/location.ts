import type { Client } from '@microsoft/microsoft-graph-client';
import { GraphRequestError } from '../errors.js';
import { GRAPH_BASE_URL } from './graph-client.js';

/** Where a client sends: its origin (the only one a token may travel to) and its default version root. */
export interface GraphBase {
  readonly origin: string;
  readonly version: string;
}

/** Where a `Location` or `resourceLocation` points: a path (with its query, as given) under a version root. */
export interface Target {
  readonly version: string;
  readonly path: string;
}

/** The client's base origin and default version, read from its configuration. */
export function clientBase(client: Client): GraphBase {
  const config = (client as unknown as { config?: { baseUrl?: unknown; defaultVersion?: unknown } }).config;
  const baseUrl = typeof config?.baseUrl === 'string' ? config.baseUrl : GRAPH_BASE_URL;
  const version = typeof config?.defaultVersion === 'string' ? config.defaultVersion : 'v1.0';
  return { origin: new URL(baseUrl).origin, version };
}

// The scheme and host of an absolute URL, as written.
const ORIGIN_PART = /^[a-z][a-z\d+.-]*:\/\/[^/?#]*/i;
// A path under a Graph version root, and its query.
const UNDER_VERSION_ROOT = /^\/(v1\.0|beta)(\/[^?#]*)(\?[^#]*)?/;
// A `.` or `..` segment, spelled out or percent-encoded.
const DOT_SEGMENT = /\/(\.|%2e){1,2}(\/|$)/i;

/**
 * Where a `Location` or `resourceLocation` points, kept as given: its version root and its query
 * (`?sessionId=...`) too. Only the Graph origin is accepted: the client attaches the token, and it
 * must never travel to another host. A relative reference is read against the URL of the request
 * whose answer carried it (`operations/1` in a createSession's answer: `.../workbook/operations/1`).
 * Anything else fails as a GraphRequestError naming `method` and the path of `from`: `malformed`
 * when there is no location, `unsafe-location` when it points where it must not be followed.
 */
export function resolveLocation(
  base: GraphBase,
  method: string,
  from: Target,
  location: string | null,
  header: string,
): Target {
  const refuse = (detail: string): never => {
    const kind = location === null ? 'malformed' : 'unsafe-location';
    throw new GraphRequestError({ kind, method, path: from.path, detail });
  };
  if (location === null || location === '') return refuse(`the answer has no ${header}`);
  let url: URL;
  try {
    url = new URL(location, `${base.origin}/${from.version}${from.path}`);
  } catch {
    return refuse(`${header} is not a URL`);
  }
  if (url.origin !== base.origin) return refuse(`${header} points to ${url.origin}, not ${base.origin}; not followed`);
  // The text after the origin exactly as the server wrote it: URL serialisation would re-encode the query.
  const afterOrigin = location.replace(ORIGIN_PART, '');
  const raw = afterOrigin.startsWith('/') ? afterOrigin : url.pathname + url.search;
  const match = UNDER_VERSION_ROOT.exec(raw);
  // Dot segments would make the path sent differ from the one checked.
  if (match?.[1] === undefined || match[2] === undefined || DOT_SEGMENT.test(match[2]))
    return refuse(`${header} is outside the Graph version root`);
  // The Graph client reads an `https://` anywhere in a request path as the start of another host.
  if (raw.includes('https://'))
    return refuse(
      `${header} carries "https://" after its origin, which the Graph client would send to another host; ` +
        'not followed',
    );
  return { version: match[1], path: match[2] + (match[3] ?? '') };
}
