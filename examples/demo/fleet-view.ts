/**
 * What the fleet demo prints: a snapshot of each workbook across the processes (requests in flight
 * and the cooldown on the emulator, sessions open on it, and which worker holds them by the journal
 * in Redis), and the summary at the end.
 */

/** One workbook in a snapshot. */
export interface WorkbookRow {
  readonly name: string;
  /** Requests on it inside the emulator now, from every process. */
  readonly inFlight: number;
  /** What is left of a `Retry-After` cooldown the emulator announced; 0 when none runs. */
  readonly cooldownMs: number;
  /** Sessions open on it, as the emulator counts them. */
  readonly open: number;
  /** `w1 1`, `w2 (gone) 1`, ...: the sessions each worker's journal holds on it. */
  readonly byWorker: readonly string[];
}

export interface FleetSummary {
  /** Nothing open at the end, every orphan closed, one request at a time, no request in a cooldown. */
  readonly ok: boolean;
  readonly durationMs: number;
  readonly workers: number;
  readonly killed: { readonly name: string; readonly held: number };
  readonly orphans: {
    /** Sessions the killed worker held. */
    readonly held: number;
    /** Of those, closed by the survivors' reapers. */
    readonly closed: number;
    readonly byWorker: Readonly<Record<string, number>>;
    /** From the SIGKILL to the last of them closed on the emulator; null if they were not all closed. */
    readonly killToClosedMs: number | null;
    readonly heartbeatTtlMs: number;
    readonly reapIntervalMs: number;
  };
  /** What each survivor's shutdown closed, and left open. */
  readonly survivors: readonly { readonly name: string; readonly closed: number; readonly leftOpen: number }[];
  readonly server: {
    readonly created: number;
    readonly closed: number;
    readonly expired: number;
    readonly open: number;
    readonly requests: number;
    readonly faultsInjected: number;
    readonly maxInFlightPerWorkbook: number;
    readonly cooldownViolations: number;
  };
  readonly workbooks: Readonly<
    Record<
      string,
      { readonly created: number; readonly mostInFlight: number; readonly mostOpen: number; readonly rows: number }
    >
  >;
}

export function formatSnapshot(time: string, title: string, rows: readonly WorkbookRow[]): string {
  const indent = ' '.repeat(time.length + 2);
  const lines = [
    `${time}  ${title}`,
    `${indent}${'workbook'.padEnd(9)}${'in flight'.padStart(9)}${'cooldown'.padStart(10)}${'open'.padStart(6)}` +
      '  held by (journal in Redis)',
  ];
  for (const r of rows) {
    lines.push(
      `${indent}${r.name.padEnd(9)}${String(r.inFlight).padStart(9)}` +
        `${(r.cooldownMs > 0 ? `${Math.ceil(r.cooldownMs)} ms` : '-').padStart(10)}${String(r.open).padStart(6)}` +
        `  ${r.byWorker.length === 0 ? '-' : r.byWorker.join(', ')}`,
    );
  }
  return lines.join('\n');
}

export function formatFleetSummary(s: FleetSummary): string {
  const tick = (ok: boolean): string => (ok ? 'ok' : 'FAILED');
  const o = s.orphans;
  const lines = [
    '',
    `Summary (${(s.durationMs / 1000).toFixed(1)} s, ${s.workers} worker processes)`,
    '',
    `  ${'workbook'.padEnd(10)}${'sessions'.padStart(9)}${'most in flight'.padStart(16)}${'most open'.padStart(11)}` +
      `${'rows'.padStart(6)}`,
  ];
  for (const [name, w] of Object.entries(s.workbooks)) {
    lines.push(
      `  ${name.padEnd(10)}${String(w.created).padStart(9)}${String(w.mostInFlight).padStart(16)}` +
        `${String(w.mostOpen).padStart(11)}${String(w.rows).padStart(6)}`,
    );
  }
  const shutdowns = s.survivors.map((r) => `${r.name} closed ${r.closed}, left open ${r.leftOpen}`).join('; ');
  const by = Object.entries(o.byWorker)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
  lines.push(
    '',
    `  most requests at once on one workbook, all processes: ${s.server.maxInFlightPerWorkbook} ` +
      `(limit 1): ${tick(s.server.maxInFlightPerWorkbook <= 1)}`,
    `  requests sent during a Retry-After cooldown: ${s.server.cooldownViolations} ` +
      `(429s injected: ${s.server.faultsInjected}): ${tick(s.server.cooldownViolations === 0)}`,
    `  ${s.killed.name} SIGKILLed holding ${o.held} sessions; orphans closed by survivors: ${o.closed} of ${o.held}` +
      `${by === '' ? '' : ` (${by})`}: ${tick(o.closed === o.held)}`,
    o.killToClosedMs === null
      ? '  the orphans were not all closed in time'
      : `  from the kill to the last orphan closed: ${o.killToClosedMs} ms (heartbeat gone after ` +
          `${o.heartbeatTtlMs} ms + reaper every ${o.reapIntervalMs} ms + the closes)`,
    `  survivors' shutdown: ${shutdowns}`,
    '',
    s.ok
      ? `  ok: 0 sessions open on the emulator (${s.server.created} created, ${s.server.closed} closed).`
      : `  FAILED: ${s.server.open} session(s) open on the emulator; see the lines above.`,
  );
  return lines.join('\n');
}
