import type { Attributes, Context, Span } from '@opentelemetry/api';
import { errorType } from './attributes.js';
import { SCOPE, otel, scopeVersion, type OtelApi } from './otel-api.js';

/** The spans around a piece of the manager's work; each request it sends is a span below it. */
export type WorkName = 'open' | 'close' | 'shutdown' | 'recover';

/**
 * Runs `work` in a span `workbook_sessions.<name>`, a child of the caller's active context, so the
 * requests it sends nest under it. `attributes` are only computed for a span that records;
 * `outcome` adds what the result says (counts, not ids). A failure sets the span's status and
 * `error.type`; its message is left out, as it may name the workbook. Without the API, or with no
 * provider registered, `work` simply runs.
 */
export function traced<T>(
  name: WorkName,
  attributes: () => Attributes,
  work: () => Promise<T>,
  outcome?: (result: T) => Attributes,
): Promise<T> {
  const api = otel();
  if (api === undefined) return work();
  const span = tracer(api).startSpan(`workbook_sessions.${name}`, { kind: api.SpanKind.INTERNAL });
  // The no-op provider's span with no parent: nothing to record and nothing to pass on.
  if (!span.isRecording() && !valid(api, span)) return work();
  if (span.isRecording()) span.setAttributes(safely(attributes));
  const running = api.context.with(api.trace.setSpan(api.context.active(), span), async () => work());
  return running.then(
    (result) => {
      if (outcome !== undefined && span.isRecording()) span.setAttributes(safely(() => outcome(result)));
      span.end();
      return result;
    },
    (error: unknown) => {
      failed(api, span, error);
      span.end();
      throw error;
    },
  );
}

/**
 * Runs `work` with no active span: for background work started from wherever a timer happened to
 * be set (an idle close, a keep-alive, a reaper pass), which would otherwise nest under a span long
 * ended.
 */
export function detached<T>(work: () => T): T {
  const api = otel();
  return api === undefined ? work() : api.context.with(api.ROOT_CONTEXT, work);
}

/** The caller's context, captured where work is queued, for the span that runs it later. */
export function activeContext(): Context | undefined {
  return otel()?.context.active();
}

/**
 * A span for one request, started when it leaves its queue under the context captured when it was
 * queued (the lane's queue runs it from whatever context finished last). `attributes` are only
 * computed for a span that records. The request runs in the span's context, so an HTTP
 * instrumentation's span nests below it.
 */
export async function inRequestSpan<T extends { readonly status: number }>(
  parent: Context | undefined,
  method: string,
  attributes: () => { readonly name: string; readonly attributes: Attributes },
  send: () => Promise<T>,
): Promise<T> {
  const api = otel();
  if (api === undefined || parent === undefined) return send();
  const span = tracer(api).startSpan(method, { kind: api.SpanKind.CLIENT }, parent);
  if (!span.isRecording()) {
    // The no-op provider with no parent: the cheapest way out.
    if (!valid(api, span)) return send();
    return api.context.with(api.trace.setSpan(parent, span), send);
  }
  try {
    const shape = attributes();
    span.updateName(shape.name);
    span.setAttributes(shape.attributes);
  } catch {
    // Telemetry never fails the request it watches: the span keeps its method as its name.
  }
  try {
    const answer = await api.context.with(api.trace.setSpan(parent, span), send);
    span.setAttribute('http.response.status_code', answer.status);
    return answer;
  } catch (error) {
    const status = (error as { status?: unknown }).status;
    if (typeof status === 'number') span.setAttribute('http.response.status_code', status);
    const retryAfterMs = (error as { retryAfterMs?: unknown }).retryAfterMs;
    if (typeof retryAfterMs === 'number') span.setAttribute('workbook_sessions.retry_after_ms', retryAfterMs);
    failed(api, span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** The attributes `make` gives, or none when it throws: telemetry never fails the work it watches. */
function safely(make: () => Attributes): Attributes {
  try {
    return make();
  } catch {
    return {};
  }
}

function tracer(api: OtelApi): ReturnType<OtelApi['trace']['getTracer']> {
  // Asked for each time: a provider registered after this package loaded is still found.
  return api.trace.getTracer(SCOPE, scopeVersion());
}

/** A span that can be a parent; cheaper than the API's `isSpanContextValid`, which also checks the ids' form. */
function valid(api: OtelApi, span: Span): boolean {
  const { traceId, spanId } = span.spanContext();
  return traceId !== api.INVALID_TRACEID && spanId !== api.INVALID_SPANID;
}

function failed(api: OtelApi, span: Span, error: unknown): void {
  const type = errorType(error);
  span.setAttribute('error.type', type);
  span.setStatus({ code: api.SpanStatusCode.ERROR, message: type });
}
