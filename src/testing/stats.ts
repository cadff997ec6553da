import { ROUTE_NAMES, type RouteName } from './options.js';
import type { SessionRecord } from './session-registry.js';

/** What the emulator has seen, for tests to assert. */
export interface EmulatorStats {
  /** Sessions created (201, or an operation that succeeded). */
  readonly created: number;
  /** Sessions closed by closeSession. */
  readonly closed: number;
  /** Sessions that passed their inactivity timeout (or were ended by `expireSession`). */
  readonly expired: number;
  /** Sessions neither closed nor expired, now. */
  readonly open: number;
  /** Successful refreshSession calls. */
  readonly refreshed: number;
  /** Every request, faulted and unauthorized ones included. */
  readonly requests: number;
  readonly requestsByRoute: Readonly<Record<RouteName, number>>;
  /** Scripted and random faults applied (errors, drops and delays). */
  readonly faultsInjected: number;
  /** The most requests in flight at once on one workbook, over all workbooks. */
  readonly maxInFlightPerWorkbook: number;
  readonly maxInFlightByWorkbook: Readonly<Record<string, number>>;
  /** Requests inside the service now. */
  readonly inFlight: number;
  /** Requests that arrived at a workbook during a `Retry-After` cooldown the emulator had announced for it. */
  readonly cooldownViolations: number;
  /** The most sessions open at once on one workbook, over all workbooks, since the last reset. */
  readonly maxOpenPerWorkbook: number;
  readonly maxOpenByWorkbook: Readonly<Record<string, number>>;
  /** Open sessions per workbook, now (workbooks with none are left out). */
  readonly openByWorkbook: Readonly<Record<string, number>>;
  /** Requests answered 401. */
  readonly unauthorized: number;
  /** Requests answered 429 because they arrived during an announced cooldown (`strictCooldowns`). */
  readonly cooldownRejections: number;
  /** createSession requests answered 429 because the workbook had `maxSessionsPerWorkbook` open. */
  readonly sessionCapRejections: number;
  /**
   * Sessions created by a createSession whose answer never carried their id (an applied-then-failed
   * fault): no client can close them; Graph ends them when they expire.
   */
  readonly undelivered: number;
  /** Of those, the ones still open now. */
  readonly openUndelivered: number;
  /** Non-idempotent writes (table rows add) applied, counting each application. */
  readonly writesApplied: number;
  /** Applications of a write beyond its first (the same target and body applied again). */
  readonly writesRepeated: number;
}

/** The counters behind `EmulatorStats`; `reset()` zeroes them but keeps what is in flight. */
export class StatsRecorder {
  created = 0;
  closed = 0;
  expired = 0;
  refreshed = 0;
  requests = 0;
  faultsInjected = 0;
  cooldownViolations = 0;
  unauthorized = 0;
  cooldownRejections = 0;
  sessionCapRejections = 0;
  undelivered = 0;
  byRoute = emptyByRoute();
  // Requests in flight per workbook now; an entry leaves when it drops to 0.
  readonly inFlightByWorkbook = new Map<string, number>();
  // The high-water mark per workbook since the last reset.
  maxByWorkbook = new Map<string, number>();
  // All requests inside the service now, workbook or not.
  inFlight = 0;
  // The most sessions open at once per workbook since the last reset.
  maxOpenByWorkbook = new Map<string, number>();

  /** A session was created on `workbook`, which now has `open` sessions open. */
  opened(workbook: string, open: number): void {
    this.created += 1;
    if (open > (this.maxOpenByWorkbook.get(workbook) ?? 0)) this.maxOpenByWorkbook.set(workbook, open);
  }

  enter(workbook: string | undefined): void {
    this.inFlight += 1;
    if (workbook === undefined) return;
    const n = (this.inFlightByWorkbook.get(workbook) ?? 0) + 1;
    this.inFlightByWorkbook.set(workbook, n);
    if (n > (this.maxByWorkbook.get(workbook) ?? 0)) this.maxByWorkbook.set(workbook, n);
  }

  leave(workbook: string | undefined): void {
    this.inFlight -= 1;
    if (workbook === undefined) return;
    const n = (this.inFlightByWorkbook.get(workbook) ?? 1) - 1;
    if (n === 0) this.inFlightByWorkbook.delete(workbook);
    else this.inFlightByWorkbook.set(workbook, n);
  }

  /** The counters with what the sessions and the write log say now. */
  snapshot(
    sessions: Iterable<SessionRecord>,
    writes: { readonly applied: number; readonly repeated: number },
  ): EmulatorStats {
    const openByWorkbook: Record<string, number> = {};
    let open = 0;
    let openUndelivered = 0;
    for (const session of sessions) {
      if (session.state !== 'open') continue;
      open += 1;
      if (!session.delivered) openUndelivered += 1;
      openByWorkbook[session.workbook] = (openByWorkbook[session.workbook] ?? 0) + 1;
    }
    return {
      created: this.created,
      closed: this.closed,
      expired: this.expired,
      open,
      refreshed: this.refreshed,
      requests: this.requests,
      requestsByRoute: { ...this.byRoute },
      faultsInjected: this.faultsInjected,
      maxInFlightPerWorkbook: Math.max(0, ...this.maxByWorkbook.values()),
      maxInFlightByWorkbook: Object.fromEntries(this.maxByWorkbook),
      inFlight: this.inFlight,
      maxOpenPerWorkbook: Math.max(0, ...this.maxOpenByWorkbook.values()),
      maxOpenByWorkbook: Object.fromEntries(this.maxOpenByWorkbook),
      cooldownViolations: this.cooldownViolations,
      openByWorkbook,
      unauthorized: this.unauthorized,
      cooldownRejections: this.cooldownRejections,
      sessionCapRejections: this.sessionCapRejections,
      undelivered: this.undelivered,
      openUndelivered,
      writesApplied: writes.applied,
      writesRepeated: writes.repeated,
    };
  }

  reset(): void {
    this.created = this.closed = this.expired = this.refreshed = this.requests = 0;
    this.faultsInjected = this.cooldownViolations = this.unauthorized = 0;
    this.cooldownRejections = this.sessionCapRejections = this.undelivered = 0;
    this.byRoute = emptyByRoute();
    this.maxByWorkbook = new Map();
    this.maxOpenByWorkbook = new Map();
  }
}

function emptyByRoute(): Record<RouteName, number> {
  return Object.fromEntries(ROUTE_NAMES.map((r) => [r, 0])) as Record<RouteName, number>;
}
