/**
 * The demo's summary: what the library reports (its totals and its shutdown reports) beside what
 * the emulator counted, so that the two can be checked against each other.
 */
import type { SessionManager, ShutdownReport } from '../../src/index.js';
import type { EmulatorStats } from '../../src/testing/index.js';
import type { BurstResult } from './burst.js';
import type { WorkbookTally } from './progress.js';

export interface ServerCounts {
  readonly created: number;
  readonly closed: number;
  readonly expired: number;
  /** Sessions still open on the server now. */
  readonly open: number;
  readonly requests: number;
  readonly faultsInjected: number;
  readonly cooldownViolations: number;
  readonly maxInFlightPerWorkbook: number;
}

/** What the emulator counted on one workbook. */
export interface ServerWorkbookCounts {
  /** Sessions created on it. */
  readonly created: number;
  /** The most sessions open on it at once. */
  readonly mostOpen: number;
}

/** One workbook: the library's tally from its events, with the sessions created and the emulator's counts. */
export interface WorkbookSummary extends WorkbookTally {
  /** Sessions created on the workbook by the library's account (opened + reopened). */
  readonly created: number;
  /** Null against Microsoft Graph. */
  readonly server: ServerWorkbookCounts | null;
}

/** The burst of requests sharing one session. */
export interface BurstSummary extends BurstResult {
  /** The workbook's label. */
  readonly workbook: string;
  readonly requests: number;
}

export interface DemoSummary {
  readonly target: 'emulator' | 'graph';
  /** No session left open (by the library's account, and by the server's when it is known). */
  readonly ok: boolean;
  readonly durationMs: number;
  readonly opened: number;
  readonly reopened: number;
  readonly closed: number;
  readonly expired: number;
  readonly retries: number;
  readonly closeFailures: number;
  /** Sessions the library could not account for as closed or expired after the shutdown. */
  readonly leftOpen: number;
  readonly shutdown: Omit<ShutdownReport, 'sessions'>;
  /** What the emulator counted; null against Microsoft Graph, which publishes no such counts. */
  readonly server: ServerCounts | null;
  /** Library and server figures that should agree. */
  readonly checks: readonly {
    readonly name: string;
    readonly library: number;
    readonly server: number;
    readonly ok: boolean;
  }[];
  readonly workbooks: Readonly<Record<string, WorkbookSummary>>;
  readonly burst: BurstSummary | null;
}

export function summarise(input: {
  target: 'emulator' | 'graph';
  started: number;
  managers: readonly SessionManager[];
  reports: readonly ShutdownReport[];
  servers: readonly EmulatorStats[] | null;
  /** The emulators' counts per workbook label; null against Microsoft Graph. */
  serverWorkbooks: Readonly<Record<string, ServerWorkbookCounts>> | null;
  workbooks: Record<string, WorkbookTally>;
  burst: BurstSummary | null;
}): DemoSummary {
  const sum = <T>(items: readonly T[], pick: (item: T) => number): number =>
    items.reduce((n, item) => n + pick(item), 0);
  const totals = input.managers.map((m) => m.stats().totals);
  const shutdown = {
    closed: sum(input.reports, (r) => r.closed),
    expired: sum(input.reports, (r) => r.expired),
    failed: sum(input.reports, (r) => r.failed),
    leftOpen: sum(input.reports, (r) => r.leftOpen),
    timedOut: input.reports.some((r) => r.timedOut),
    durationMs: Math.max(0, ...input.reports.map((r) => r.durationMs)),
  };
  // A session is left open if the shutdown report says so, or if the manager still counts it afterwards.
  const leftOpen = input.managers.reduce(
    (n, m, i) => n + Math.max(input.reports[i]?.leftOpen ?? 0, m.openSessionCount()),
    0,
  );
  const s = input.servers;
  const server: ServerCounts | null =
    s === null
      ? null
      : {
          created: sum(s, (x) => x.created),
          closed: sum(s, (x) => x.closed),
          expired: sum(s, (x) => x.expired),
          open: sum(s, (x) => x.open),
          requests: sum(s, (x) => x.requests),
          faultsInjected: sum(s, (x) => x.faultsInjected),
          cooldownViolations: sum(s, (x) => x.cooldownViolations),
          maxInFlightPerWorkbook: Math.max(0, ...s.map((x) => x.maxInFlightPerWorkbook)),
        };
  const library = {
    opened: sum(totals, (t) => t.opened),
    reopened: sum(totals, (t) => t.reopened),
    closed: sum(totals, (t) => t.closed),
    expired: sum(totals, (t) => t.expired),
    retries: sum(totals, (t) => t.retries),
    closeFailures: sum(totals, (t) => t.closeFailures),
  };
  const checks =
    server === null
      ? []
      : [
          {
            name: 'sessions created (opened + reopened)',
            library: library.opened + library.reopened,
            server: server.created,
          },
          { name: 'sessions closed with closeSession', library: library.closed, server: server.closed },
          { name: 'sessions expired on the server', library: library.expired, server: server.expired },
          { name: 'sessions open after shutdown', library: leftOpen, server: server.open },
        ].map((c) => ({ ...c, ok: c.library === c.server }));
  return {
    target: input.target,
    ok: leftOpen === 0 && (server === null || server.open === 0),
    durationMs: Date.now() - input.started,
    ...library,
    leftOpen,
    shutdown,
    server,
    checks,
    workbooks: Object.fromEntries(
      Object.entries(input.workbooks).map(([name, t]) => [
        name,
        { ...t, created: t.opened + t.reopened, server: input.serverWorkbooks?.[name] ?? null },
      ]),
    ),
    burst: input.burst,
  };
}

/** The summary as a person reads it. */
export function formatSummary(summary: DemoSummary, perWorkbookConcurrency: number): string {
  const lines: string[] = [];
  const row = (name: string, library: number | string, server: number | string, mark = ''): void => {
    lines.push(`  ${name.padEnd(42)}${String(library).padStart(8)}${String(server).padStart(10)}  ${mark}`);
  };
  const tick = (ok: boolean): string => (ok ? 'ok' : 'MISMATCH');
  const s = summary.server;
  lines.push('', `Summary (${(summary.durationMs / 1000).toFixed(1)} s)`, '');
  lines.push(`  ${''.padEnd(42)}${'library'.padStart(8)}${(s === null ? 'Graph' : 'emulator').padStart(10)}`);
  if (s === null) {
    row('sessions opened', summary.opened, 'n/a');
    row('sessions reopened (idle or expired)', summary.reopened, 'n/a');
    row('sessions closed with closeSession', summary.closed, 'n/a');
    row('sessions found expired', summary.expired, 'n/a');
    row('sessions open after shutdown', summary.leftOpen, 'n/a');
  } else {
    for (const c of summary.checks) row(c.name, c.library, c.server, tick(c.ok));
  }
  row('retries / faults injected', summary.retries, s?.faultsInjected ?? 'n/a');
  const b = summary.burst;
  if (b !== null) {
    const one = b.sessionsCreated === 1 && (b.serverSessionsCreated === null || b.serverSessionsCreated === 1);
    row(
      `sessions for ${b.requests} requests on ${b.workbook}`,
      b.sessionsCreated,
      b.serverSessionsCreated ?? 'n/a',
      `one shared session: ${tick(one)}`,
    );
  }
  row('reopened (after idle or expiry)', summary.reopened, '-');
  row('close failures', summary.closeFailures, '-');
  if (s !== null) {
    row('requests', '-', s.requests);
    row(
      'most requests at once on one workbook',
      '-',
      s.maxInFlightPerWorkbook,
      `limit ${perWorkbookConcurrency}: ${tick(s.maxInFlightPerWorkbook <= perWorkbookConcurrency)}`,
    );
    row('requests sent during a Retry-After cooldown', '-', s.cooldownViolations, tick(s.cooldownViolations === 0));
  }
  const r = summary.shutdown;
  lines.push(
    '',
    `  shutdown report: ${r.closed} closed, ${r.expired} already expired, ${r.failed} failed, ${r.leftOpen} left open` +
      `${r.timedOut ? ' (deadline passed)' : ''}, in ${r.durationMs} ms`,
    '',
    `  ${'workbook'.padEnd(10)}${'opened'.padStart(8)}${'reopened'.padStart(10)}${'closed'.padStart(8)}` +
      `${'expired'.padStart(9)}${'retried'.padStart(9)}${'sessions'.padStart(10)}${'emulator'.padStart(10)}` +
      `${'most open'.padStart(11)}   closed by`,
  );
  for (const [name, t] of Object.entries(summary.workbooks)) {
    const by = Object.entries(t.closedBy)
      .map(([reason, n]) => `${reason} ${n}`)
      .join(', ');
    lines.push(
      `  ${name.padEnd(10)}${String(t.opened).padStart(8)}${String(t.reopened).padStart(10)}` +
        `${String(t.closed).padStart(8)}${String(t.expired).padStart(9)}${String(t.retried).padStart(9)}` +
        `${String(t.created).padStart(10)}${String(t.server?.created ?? 'n/a').padStart(10)}` +
        `${String(t.server?.mostOpen ?? 'n/a').padStart(11)}   ${by}`,
    );
  }
  lines.push(
    '',
    "  sessions: created on the workbook (opened + reopened), by the library's events; emulator: the same,",
    '  as the emulator counted it; most open: the most sessions open on the workbook at once, on the emulator.',
  );
  lines.push('');
  if (s === null) {
    lines.push('  Microsoft Graph publishes no session counts, so the server column is not available:');
    lines.push("  the library's own account (closeSession confirmed for each session) is all there is.");
  }
  const where = s === null ? "by the library's account" : 'on the emulator';
  const open = s === null ? summary.leftOpen : Math.max(summary.leftOpen, s.open);
  lines.push(summary.ok ? `  ok: 0 sessions left open ${where}.` : `  FAILED: ${open} session(s) left open ${where}.`);
  return lines.join('\n');
}
