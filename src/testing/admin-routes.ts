import { timingSafeEqual } from 'node:crypto';
import { describe } from '../util/validate.js';
import { ADMIN_PAGE, ADMIN_PAGE_CSP } from './admin-page.js';
import type { FaultSpec } from './faults.js';
import type { LatencyOptions, RandomFaultOptions } from './options.js';
import type { WorkbookService } from './service.js';

/**
 * The emulator's admin surface over HTTP, under `/_emulator/` (as moto and LocalStack keep theirs apart
 * from the emulated API): what the service's methods read and set, for a test in another process or
 * language, and the live page. Admin requests are not Graph requests: they are not counted, faulted
 * or delayed. Every route but the page needs the emulator's bearer token.
 */

export const ADMIN_PREFIX = '/_emulator';

type Handler = (service: WorkbookService, request: Request, url: URL, match: RegExpExecArray) => Promise<Response>;

interface AdminRoute {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly pattern: RegExp;
  readonly handler: Handler;
}

/** A value the caller got wrong: answered 400 with its message. */
class BadValue extends Error {}

const ROUTES: readonly AdminRoute[] = [
  { method: 'GET', pattern: /^\/stats$/, handler: async (s) => ok(s.stats()) },
  { method: 'GET', pattern: /^\/sessions$/, handler: async (s) => ok(s.sessions()) },
  { method: 'GET', pattern: /^\/workbooks$/, handler: async (s) => ok(s.activity()) },
  {
    method: 'GET',
    pattern: /^\/events$/,
    handler: async (s, _r, url) => {
      const given = url.searchParams.get('after') ?? '0';
      if (!/^\d{1,15}$/.test(given))
        throw new BadValue(`Expected \`after\` to be an integer >= 0, got ${describe(given)}`);
      const events = s.events(Number(given));
      return ok({ events, last: events.at(-1)?.seq ?? Number(given) });
    },
  },
  {
    method: 'POST',
    pattern: /^\/faults$/,
    handler: async (s, r) => {
      s.injectFault((await body(r)) as FaultSpec);
      return done();
    },
  },
  {
    method: 'PUT',
    pattern: /^\/faults\/random$/,
    handler: async (s, r) => {
      s.setFaults(orUndefined(await body(r)) as RandomFaultOptions | undefined);
      return done();
    },
  },
  {
    method: 'PUT',
    pattern: /^\/latency$/,
    handler: async (s, r) => {
      s.setLatency(orUndefined(await body(r)) as LatencyOptions | undefined);
      return done();
    },
  },
  {
    method: 'POST',
    pattern: /^\/reset-stats$/,
    handler: async (s) => {
      s.resetStats();
      return done();
    },
  },
  {
    method: 'POST',
    pattern: /^\/advance-time$/,
    handler: async (s, r) => {
      const value = await body(r);
      if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.keys(value).join() !== 'ms')
        throw new BadValue(`Expected the body to be {"ms": <number>}, got ${JSON.stringify(value)}`);
      s.advanceTime((value as { ms: unknown }).ms as number);
      return done();
    },
  },
  {
    method: 'POST',
    pattern: /^\/sessions\/([^/]+)\/expire$/,
    handler: async (s, _r, _url, match) => {
      let id: string;
      try {
        id = decodeURIComponent(match[1] ?? '');
      } catch {
        throw new BadValue(`Expected a URL-encoded session id, got ${describe(match[1])}`);
      }
      if (s.expireSession(id)) return done();
      return problem(404, 'sessionNotFound', 'No open session has this id (URL-encode the id as sessions lists it).');
    },
  },
];

/**
 * The answer to an admin request, or undefined when `request` is not one (it is then a Graph request).
 * Never throws: a bad value is a 400 naming it, anything else a 500.
 */
export async function adminAnswer(service: WorkbookService, request: Request): Promise<Response | undefined> {
  const url = new URL(request.url);
  if (url.pathname !== ADMIN_PREFIX && !url.pathname.startsWith(`${ADMIN_PREFIX}/`)) return undefined;
  const path = url.pathname.slice(ADMIN_PREFIX.length);
  const method = request.method.toUpperCase();
  try {
    // The page fetches the routes relative to itself, so it must be loaded from the folder.
    if (path === '') return new Response(null, { status: 308, headers: { Location: `${ADMIN_PREFIX}/` } });
    if (path === '/') {
      if (method !== 'GET' && method !== 'HEAD') return notAllowed(['GET']);
      // The page carries no data and no token; it asks for the token and reads everything with it.
      return new Response(method === 'HEAD' ? null : ADMIN_PAGE, {
        status: 200,
        headers: {
          'Content-Type': 'text/html; charset=utf-8',
          'Cache-Control': 'no-store',
          'Content-Security-Policy': ADMIN_PAGE_CSP,
          'X-Content-Type-Options': 'nosniff',
          'Referrer-Policy': 'no-referrer',
        },
      });
    }
    if (!authorized(service, request)) {
      return problem(401, 'unauthenticated', 'Admin routes need the emulator token: Authorization: Bearer <token>.', {
        'WWW-Authenticate': 'Bearer',
      });
    }
    const matching = ROUTES.filter((r) => r.pattern.test(path));
    if (matching.length === 0) return problem(404, 'notFound', `No admin route ${ADMIN_PREFIX}${path}.`);
    const route = matching.find((r) => r.method === method);
    if (route === undefined) return notAllowed(matching.map((r) => r.method));
    return await route.handler(service, request, url, route.pattern.exec(path) as RegExpExecArray);
  } catch (error) {
    // The option checkers throw TypeError or RangeError naming the value: the caller's mistake.
    if (error instanceof BadValue || error instanceof TypeError || error instanceof RangeError)
      return problem(400, 'invalidRequest', error.message);
    return problem(500, 'internalServerError', 'The admin request failed.');
  }
}

function authorized(service: WorkbookService, request: Request): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get('authorization') ?? '');
  const given = Buffer.from(m?.[1] ?? '');
  const expected = Buffer.from(service.token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The request's JSON body; an empty body is `null`. */
async function body(request: Request): Promise<unknown> {
  const text = await request.text();
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new BadValue(`The body is not JSON: ${(error as Error).message}`);
  }
}

/** `null` (or an empty body) clears a setting, as `undefined` does for the method. */
function orUndefined(value: unknown): unknown {
  return value === null ? undefined : value;
}

function ok(value: unknown): Response {
  return new Response(JSON.stringify(value), {
    status: 200,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
  });
}

function done(): Response {
  return new Response(null, { status: 204, headers: { 'Cache-Control': 'no-store' } });
}

function notAllowed(allowed: readonly string[]): Response {
  return problem(405, 'methodNotAllowed', `Use ${allowed.join(' or ')} on this admin route.`, {
    Allow: allowed.join(', '),
  });
}

function problem(status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers },
  });
}
