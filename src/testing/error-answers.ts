import { type ReplyContext, codesForStatus, graphError } from './responses.js';

/**
 * The error answers the emulator gives, each in Graph's shape with the codes Graph uses for it
 * (concepts/workbook-error-codes.md). Refusals that only OData queries and `$batch` envelopes give
 * stay beside their parsers (`odata.ts`, `batch.ts`).
 */

/** 404 with no second-level code, as Graph answers for an item or a resource it does not know. */
export function itemNotFound(ctx: ReplyContext): Response {
  return graphError(ctx, { status: 404, code: 'itemNotFound', message: 'The resource could not be found.' });
}

/** 404 for a part of the workbook that does not exist (a sheet, a table, a row ...). */
export function notFound(ctx: ReplyContext, message: string): Response {
  return graphError(ctx, { status: 404, code: 'itemNotFound', innerCode: 'notFoundUncategorized', message });
}

const SESSION_GONE = 'The session specified in the request does not exist or is invalid due to a transient error.';

/** A session id that is closed, expired, unknown or on another workbook: the client may create another. */
export function sessionGone(ctx: ReplyContext): Response {
  return graphError(ctx, {
    status: 404,
    code: 'itemNotFound',
    innerCode: 'invalidSessionReCreatable',
    message: SESSION_GONE,
  });
}

/**
 * How a createSession beyond `maxSessionsPerWorkbook` fails. Graph documents no answer for this: a
 * throttling one (429, no `Retry-After`) whose third-level code says why. A long-running create fails
 * its operation with the same codes.
 */
export const SESSION_CAP = {
  code: 'tooManyRequests',
  innerCodes: ['tooManyRequestsUncategorized', 'MaxSessionsPerWorkbookExceeded'],
  message: 'The workbook has too many open sessions. Close a session and try again.',
} as const;

export function sessionCapReached(ctx: ReplyContext): Response {
  return graphError(ctx, {
    status: 429,
    code: SESSION_CAP.code,
    message: SESSION_CAP.message,
    innerCode: SESSION_CAP.innerCodes[0],
    deeperCodes: SESSION_CAP.innerCodes.slice(1),
  });
}

/** A path segment Graph does not know (`segment` as Graph names it). */
export function segmentNotFound(ctx: ReplyContext, segment: string): Response {
  return badRequest(ctx, `Resource not found for the segment '${segment}'.`);
}

/** A function call in a path whose arguments are not its parameters. */
export function badFunctionArguments(ctx: ReplyContext, segment: string): Response {
  return badRequest(
    ctx,
    `The arguments of the function call '${segment}' are not its parameters (named, none unknown, none missing).`,
  );
}

/** refreshSession or closeSession without the session header. */
export function sessionHeaderMissing(ctx: ReplyContext, route: string): Response {
  return badRequest(ctx, `${route} needs the workbook-session-id header.`);
}

/** A body key an action does not take, answered as Graph answers an unknown action parameter. */
function invalidParameter(ctx: ReplyContext, key: string, action: string): Response {
  return badRequest(
    ctx,
    `The parameter '${key}' in the request payload is not a valid parameter for the operation '${action}'.`,
  );
}

/**
 * The first body key an action does not take (OData `@odata.*` annotations aside), answered 400 as
 * Graph answers an unknown action parameter: never a 200 that silently dropped it.
 */
export function unknownParameter(
  ctx: ReplyContext,
  body: unknown,
  allowed: readonly string[],
  action: string,
): Response | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const key = Object.keys(body).find((k) => !k.startsWith('@odata.') && !allowed.includes(k));
  if (key === undefined) return undefined;
  return invalidParameter(ctx, key, action);
}

/** A property the resource type does not have. */
export function noSuchProperty(ctx: ReplyContext, name: string, type: string): Response {
  return badRequest(ctx, `The property '${name}' does not exist on type 'microsoft.graph.${type}'.`);
}

/** What Node could not turn into a request, or a request with no meaning at all. */
export function malformedRequest(ctx: ReplyContext): Response {
  return badRequest(ctx, 'The request is malformed or incorrect.');
}

function badRequest(ctx: ReplyContext, message: string): Response {
  return graphError(ctx, { status: 400, code: 'invalidRequest', innerCode: 'badRequestUncategorized', message });
}

/** A bad argument: `invalidArgument` at the top and as the second-level code the error-handling page lists. */
export function invalidArgument(ctx: ReplyContext, message: string): Response {
  return graphError(ctx, { status: 400, code: 'invalidArgument', innerCode: 'invalidArgument', message });
}

export function badJson(ctx: ReplyContext): Response {
  return invalidArgument(ctx, 'The request body is not valid JSON.');
}

/** 405 with the methods the resource does take in `Allow`. */
export function methodNotAllowed(
  ctx: ReplyContext,
  method: string,
  allowed: readonly string[],
  resource = 'this resource',
): Response {
  return graphError(ctx, {
    status: 405,
    code: 'methodNotAllowed',
    innerCode: 'methodNotAllowedUncategorized',
    message: `The HTTP method '${method}' is not allowed on ${resource}.`,
    headers: { Allow: allowed.join(', ') },
  });
}

/** What Graph serves and the emulator does not: 501, never a 200 that silently did less. */
export function notImplemented(ctx: ReplyContext, what: string): Response {
  return graphError(ctx, {
    status: 501,
    code: 'notImplemented',
    innerCode: 'notImplementedUncategorized',
    message: `The workbook emulator does not implement ${what}.`,
  });
}

/** A drive item takes only GET here; Graph's PATCH, DELETE and the rest are not emulated. */
export function itemMethodNotImplemented(ctx: ReplyContext, method: string): Response {
  return graphError(ctx, {
    status: 501,
    code: 'notImplemented',
    message: `The emulator does not implement ${method} on a drive item; only GET.`,
  });
}

/** A missing or wrong bearer token; `empty` when the request carried none. */
export function unauthorized(ctx: ReplyContext, empty: boolean): Response {
  return graphError(ctx, {
    status: 401,
    code: 'InvalidAuthenticationToken',
    message: empty ? 'Access token is empty.' : 'Access token validation failure. Invalid audience.',
    headers: {
      'WWW-Authenticate':
        'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"',
    },
  });
}

/** A request inside an announced cooldown (`strictCooldowns`), with the time still left. */
export function cooldownRefused(ctx: ReplyContext, leftMs: number): Response {
  return graphError(ctx, {
    ...codesForStatus(429),
    status: 429,
    headers: { 'Retry-After': String(Math.ceil(leftMs / 1000)) },
  });
}

export function payloadTooLarge(ctx: ReplyContext): Response {
  return graphError(ctx, {
    status: 413,
    code: 'requestSizeExceeded',
    innerCode: 'payloadTooLargeUncategorized',
    message: 'The request payload exceeds the size limit.',
  });
}

/** Whatever went wrong inside the emulator: a 500 that tells nothing of it. */
export function internalError(ctx: ReplyContext): Response {
  return graphError(ctx, {
    status: 500,
    code: 'internalServerError',
    innerCode: 'internalServerErrorUncategorized',
    message: 'An unspecified error has occurred.',
  });
}
