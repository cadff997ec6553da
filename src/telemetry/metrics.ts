import type { EventEmitter } from 'node:events';
import type { Attributes, Counter, Histogram, ObservableCallback, ObservableUpDownCounter } from '@opentelemetry/api';
import type { SessionEvents } from '../manager/events.js';
import type { RetryEvent } from '../transport/graph-transport.js';
import { errorType, shortWorkbook } from './attributes.js';
import { SCOPE, otel, scopeVersion } from './otel-api.js';

/** The kinds of request a lane queues, by their priority (see `Priority`): a retry keeps its kind. */
const KINDS = ['call', 'refresh', 'close'] as const;

// Seconds, from a millisecond to two minutes: lane waits are short unless a cooldown holds them.
const WAIT_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

// Numbers the managers of this process, for the attribute that tells their open sessions apart.
let managers = 0;

type Emit = EventEmitter<SessionEvents>['emit'];

/**
 * One manager's metrics, from the global MeterProvider as it is when the manager is made (the
 * metrics API has no proxy: a provider registered later is not seen). Without the API, or with no
 * provider, every instrument is the API's no-op one.
 */
export class ManagerMetrics {
  readonly #manager = String(++managers);
  readonly #created: Counter | undefined;
  readonly #closed: Counter | undefined;
  readonly #expired: Counter | undefined;
  readonly #closeFailures: Counter | undefined;
  readonly #retries: Counter | undefined;
  readonly #cooldownTime: Counter | undefined;
  readonly #laneWait: Histogram | undefined;
  readonly #open: ObservableUpDownCounter | undefined;
  // Set while the manager runs; removed by dispose(), so the meter no longer holds the manager.
  #observe: ObservableCallback | undefined;

  constructor(openNow: () => number) {
    const meter = otel()?.metrics.getMeter(SCOPE, scopeVersion());
    if (meter === undefined) return;
    const session = { unit: '{session}' };
    this.#open = meter.createObservableUpDownCounter('workbook_sessions.sessions.open', {
      description: 'Sessions open now, per manager',
      ...session,
    });
    this.#observe = (result) => result.observe(openNow(), { 'workbook_sessions.manager.id': this.#manager });
    this.#open.addCallback(this.#observe);
    const counter = (name: string, description: string, unit = session.unit): Counter =>
      meter.createCounter(`workbook_sessions.${name}`, { description, unit });
    this.#created = counter('sessions.created', 'Sessions Graph created (opens and reopens)');
    this.#closed = counter(
      'sessions.closed',
      'Sessions whose close Graph confirmed, or found already gone, by close reason',
    );
    this.#expired = counter('sessions.expired', 'Sessions Graph no longer knew (expired or ended on its side)');
    this.#closeFailures = counter(
      'sessions.close_failures',
      'Closes that failed: the session may still be open and is tried again',
      '{close}',
    );
    this.#retries = counter('requests.retries', 'Requests sent again, by what the failed attempt got', '{retry}');
    this.#cooldownTime = counter(
      'lane.cooldown.time',
      "Time a workbook's lane was paused for a Retry-After this process received",
      's',
    );
    this.#laneWait = meter.createHistogram('workbook_sessions.lane.wait.duration', {
      description: "Time a request waited in its workbook's lane before it was sent",
      unit: 's',
      advice: { explicitBucketBoundaries: WAIT_BUCKETS_S },
    });
  }

  /**
   * `emit` as given, also counting the session events it carries (created, closed, expired, close
   * failures): the metrics see what the events say, without being a listener a user could remove.
   */
  counting(emit: Emit): Emit {
    if (this.#created === undefined) return emit;
    return ((event: keyof SessionEvents, ...args: unknown[]) => {
      try {
        this.#count(event, args[0]);
      } catch {
        // Counting never stops an event.
      }
      return (emit as (event: keyof SessionEvents, ...args: unknown[]) => boolean)(event, ...args);
    }) as Emit;
  }

  #count(event: keyof SessionEvents, info: unknown): void {
    switch (event) {
      case 'opened':
      case 'reopened':
        this.#created?.add(1, { 'workbook_sessions.session.reopened': event === 'reopened' });
        return;
      case 'closed': {
        const { reason, alreadyExpired } = info as SessionEvents['closed'][0];
        this.#closed?.add(1, {
          'workbook_sessions.close.reason': reason,
          'workbook_sessions.close.already_expired': alreadyExpired,
        });
        return;
      }
      case 'expired':
        this.#expired?.add(1);
        return;
      case 'closeFailed': {
        const { reason, error } = info as SessionEvents['closeFailed'][0];
        this.#closeFailures?.add(1, { 'workbook_sessions.close.reason': reason, 'error.type': errorType(error) });
        return;
      }
      default:
        return;
    }
  }

  retried(event: RetryEvent): void {
    this.#retries?.add(1, {
      'error.type': event.status === undefined ? 'network' : String(event.status),
      'workbook_sessions.retry.cooldown': event.cooldown,
    });
  }

  /** A lane paused for `ms` more than it already was. */
  cooledDown(workbook: string, ms: number): void {
    this.#cooldownTime?.add(ms / 1000, laneAttributes(workbook));
  }

  /** A request left its lane's queue after `ms`; `priority` is its place there. */
  waited(workbook: string, priority: number, ms: number): void {
    if (this.#laneWait === undefined) return;
    const kind = KINDS[Math.floor(priority)] ?? 'call';
    // A literal, not a spread of laneAttributes(): a spread costs microseconds on each request.
    this.#laneWait.record(ms / 1000, {
      'workbook_sessions.workbook': shortWorkbook(workbook),
      'workbook_sessions.request.kind': kind,
    });
  }

  /** The manager has shut down: the open-sessions gauge stops asking it. */
  dispose(): void {
    if (this.#observe !== undefined) this.#open?.removeCallback(this.#observe);
    this.#observe = undefined;
  }
}

function laneAttributes(workbook: string): Attributes {
  return { 'workbook_sessions.workbook': shortWorkbook(workbook) };
}
