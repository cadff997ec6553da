/** What every answer to one request carries: Graph's request ids and the date on the service clock. */
export interface ReplyContext {
  readonly requestId: string;
  /** The caller's `client-request-id`, echoed back as Graph does. */
  readonly clientRequestId: string | undefined;
  /** Milliseconds on the service clock. */
  readonly now: number;
}

/**
 * Thrown by `WorkbookService.handle()` when the fault to simulate is a dropped connection: the HTTP
 * server destroys the socket, the msw handlers answer `HttpResponse.error()`.
 */
export class DroppedConnectionError extends Error {
  override readonly name = 'DroppedConnectionError';
  readonly code = 'EMULATOR_DROPPED_CONNECTION';

  constructor() {
    super('The emulator dropped the connection (injected fault)');
  }
}

/** Matches by `code` too, so an error from another copy of this module still counts. */
export function isDroppedConnection(error: unknown): error is DroppedConnectionError {
  return (
    error instanceof DroppedConnectionError ||
    (typeof error === 'object' &&
      error !== null &&
      (error as { code?: unknown }).code === 'EMULATOR_DROPPED_CONNECTION')
  );
}

function baseHeaders(ctx: ReplyContext, extra?: Record<string, string>): Headers {
  const headers = new Headers(extra);
  headers.set('request-id', ctx.requestId);
  headers.set('client-request-id', ctx.clientRequestId ?? ctx.requestId);
  return headers;
}

export function json(ctx: ReplyContext, status: number, body: unknown, extra?: Record<string, string>): Response {
  const headers = baseHeaders(ctx, extra);
  headers.set('content-type', 'application/json; odata.metadata=minimal; charset=utf-8');
  return new Response(JSON.stringify(body), { status, headers });
}

export function noContent(ctx: ReplyContext): Response {
  return new Response(null, { status: 204, headers: baseHeaders(ctx) });
}

/** Graph's date format in `innerError`: ISO 8601 without milliseconds. */
function graphDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '');
}

export interface ErrorDetails {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  /** The second-level code, `error.innerError.code`. */
  readonly innerCode?: string | undefined;
  /** Codes nested below the second level, outermost first (`error.innerError.innerError.code`, ...). */
  readonly deeperCodes?: readonly string[] | undefined;
  readonly headers?: Record<string, string>;
}

/**
 * An OData error chain: `{ code, message, <key>: { code, message, <key>: ... } }`. Graph spells the key
 * `innerError` on regular answers and `innererror` on failed operations.
 */
export function errorChain(
  codes: readonly string[],
  message: string,
  key: 'innerError' | 'innererror',
): Record<string, unknown> | undefined {
  let chain: Record<string, unknown> | undefined;
  for (let i = codes.length - 1; i >= 0; i--) {
    chain = { code: codes[i], message, ...(chain === undefined ? {} : { [key]: chain }) };
  }
  return chain;
}

/**
 * An error in Graph's shape: `{ error: { code, message, innerError: { code?, message?, innerError?, date,
 * request-id, client-request-id } } }`.
 */
export function graphError(ctx: ReplyContext, details: ErrorDetails): Response {
  const innerError: Record<string, unknown> = {};
  if (details.innerCode !== undefined) {
    innerError['code'] = details.innerCode;
    innerError['message'] = details.message;
    const deeper = errorChain(details.deeperCodes ?? [], details.message, 'innerError');
    if (deeper !== undefined) innerError['innerError'] = deeper;
  }
  innerError['date'] = graphDate(ctx.now);
  innerError['request-id'] = ctx.requestId;
  innerError['client-request-id'] = ctx.clientRequestId ?? ctx.requestId;
  return json(
    ctx,
    details.status,
    { error: { code: details.code, message: details.message, innerError } },
    details.headers,
  );
}

/** Default codes for a bare status, from the Excel error-code list (concepts/workbook-error-codes.md). */
export function codesForStatus(status: number): { code: string; innerCode: string | undefined; message: string } {
  switch (status) {
    case 400:
      return {
        code: 'invalidRequest',
        innerCode: 'badRequestUncategorized',
        message: 'The request is malformed or incorrect.',
      };
    case 404:
      return {
        code: 'itemNotFound',
        innerCode: 'notFoundUncategorized',
        message: 'The requested resource cannot be found.',
      };
    case 409:
      return {
        code: 'conflict',
        innerCode: 'conflictUncategorized',
        message: 'The current state conflicts with what the request expects.',
      };
    case 429:
      return {
        code: 'tooManyRequests',
        innerCode: 'tooManyRequestsUncategorized',
        message: 'The client app or user has been throttled. Please try your request again.',
      };
    case 500:
      return {
        code: 'internalServerError',
        innerCode: 'internalServerErrorUncategorized',
        message: 'An unspecified error has occurred.',
      };
    case 502:
      return { code: 'badGateway', innerCode: undefined, message: 'Bad gateway.' };
    case 503:
      return {
        code: 'serviceUnavailable',
        innerCode: 'serviceUnavailableUncategorized',
        message: 'The service is temporarily unavailable or is overloaded. Please try your request again.',
      };
    case 504:
      return {
        code: 'gatewayTimeout',
        innerCode: 'gatewayTimeoutUncategorized',
        message: 'The service was not able to complete the request within the time limit.',
      };
    default:
      return {
        code: 'generalException',
        innerCode: undefined,
        message: `The emulator answered ${status} (injected fault).`,
      };
  }
}

/** The top-level code of a failed operation, from its second-level code. */
export function topLevelCodeOf(innerCode: string): string {
  const code = innerCode.toLowerCase();
  if (code === 'transientfailure' || code === 'serviceunavailableuncategorized') return 'serviceUnavailable';
  if (code === 'toomanyrequestsuncategorized') return 'tooManyRequests';
  if (code === 'accessdenied' || code === 'forbiddenuncategorized') return 'forbidden';
  if (code === 'gatewaytimeoutuncategorized') return 'gatewayTimeout';
  if (code === 'accessconflict' || code === 'conflictuncategorized' || code === 'invalidsessionaccessconflict')
    return 'conflict';
  return 'internalServerError';
}
