import type { Attributes } from '@opentelemetry/api';
import type { GraphCall } from '../transport/graph-call.js';
import { pathTemplate, shortWorkbook } from './attributes.js';
import type { ManagerMetrics } from './metrics.js';
import { activeContext, inRequestSpan } from './tracing.js';

// How long after its end a cooldown is still kept, for requests that waited behind it and start late.
const KEEP_COOLDOWN_MS = 600_000;

/** One attempt of a request, from the moment it is queued in its lane. */
export interface QueuedAttempt {
  /** Sends it (`send` is the request itself) in a span whose parent is the context it was queued in. */
  run<T extends { readonly status: number }>(send: () => Promise<T>): Promise<T>;
}

/**
 * The transport's telemetry: a span per request it sends, the time each waited in its lane and
 * how much of that was a cooldown, and the time lanes spent paused.
 */
export class RequestTelemetry {
  readonly #server: Attributes;
  readonly #metrics: ManagerMetrics | undefined;
  readonly #now: () => number;
  // The latest cooldown set on each workbook here, while a request queued behind it may still start;
  // pruned of those ended long ago whenever a cooldown is set.
  readonly #cooldowns = new Map<string, { readonly from: number; until: number }>();

  constructor(origin: string, metrics: ManagerMetrics | undefined, now: () => number) {
    this.#server = serverAttributes(origin);
    this.#metrics = metrics;
    this.#now = now;
  }

  /** Call where the attempt is queued: captures the caller's context and the time. */
  queued(workbook: string, call: GraphCall, attempt: number, priority: number): QueuedAttempt {
    const parent = activeContext();
    const queuedAt = this.#now();
    return {
      run: (send) => {
        const startedAt = this.#now();
        const waitedMs = Math.max(0, startedAt - queuedAt);
        this.#metrics?.waited(workbook, priority, waitedMs);
        const shape = (): { name: string; attributes: Attributes } => {
          const template = pathTemplate(call.path);
          return {
            name: `${call.method} ${template}`,
            attributes: {
              ...this.#server,
              'http.request.method': call.method,
              'url.template': template,
              'workbook_sessions.workbook': shortWorkbook(workbook),
              'workbook_sessions.request.attempt': attempt,
              ...(attempt > 1 ? { 'http.request.resend_count': attempt - 1 } : {}),
              'workbook_sessions.lane.wait_ms': waitedMs,
              'workbook_sessions.cooldown.waited_ms': this.#cooldownWithin(workbook, queuedAt, startedAt),
            },
          };
        };
        return inRequestSpan(parent, call.method, shape, send);
      },
    };
  }

  /** `workbook`'s lane was paused for `ms` from `now` (a Retry-After). */
  cooledDown(workbook: string, ms: number, now: number): void {
    const until = now + ms;
    const last = this.#cooldowns.get(workbook);
    if (last !== undefined && now <= last.until) {
      // A cooldown only grows: the lane pauses for what this one adds.
      if (until <= last.until) return;
      this.#metrics?.cooledDown(workbook, until - last.until);
      last.until = until;
      return;
    }
    for (const [name, cooldown] of this.#cooldowns) {
      if (cooldown.until < now - KEEP_COOLDOWN_MS) this.#cooldowns.delete(name);
    }
    this.#cooldowns.set(workbook, { from: now, until });
    this.#metrics?.cooledDown(workbook, ms);
  }

  /** How much of the wait from `queuedAt` to `startedAt` fell in a cooldown set here. */
  #cooldownWithin(workbook: string, queuedAt: number, startedAt: number): number {
    const cooldown = this.#cooldowns.get(workbook);
    if (cooldown === undefined) return 0;
    return Math.max(0, Math.min(startedAt, cooldown.until) - Math.max(queuedAt, cooldown.from));
  }
}

/** `server.address` and `server.port` of the origin the client sends to; none for one that is not a URL. */
function serverAttributes(origin: string): Attributes {
  if (!URL.canParse(origin)) return {};
  const url = new URL(origin);
  const port = url.port === '' ? (url.protocol === 'http:' ? 80 : 443) : Number(url.port);
  return { 'server.address': url.hostname, 'server.port': port };
}
