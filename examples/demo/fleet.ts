/**
 * `npm run demo -- --fleet`: a fleet of worker processes on one emulator and one local redis-server.
 * Each worker has its own SessionManager in fleet mode, its journal in Redis. They write to the same
 * workbooks (one request at a time per workbook across the processes, a 429's cooldown kept by all),
 * then each holds a session per workbook; one is SIGKILLed, and a survivor's reaper closes what it
 * left once its heartbeat has expired. The survivors then shut down as on SIGTERM: nothing is left open.
 */
import { Redis } from 'ioredis';
import { RedisSessionStore, shortId, type JournalEntry } from '../../src/index.js';
import { type RunningEmulator, type WorkbookSeed, startEmulator } from '../../src/testing/index.js';
import { formatFleetSummary, formatSnapshot, type FleetSummary, type WorkbookRow } from './fleet-view.js';
import { startDemoWorker, type DemoWorker, type WorkerLine } from './fleet-workers.js';
import { REDIS_MISSING, redisServerFound, startLocalRedis, type LocalRedis } from './redis-server.js';

const BOOKS = {
  sales: '/me/drive/items/01SALES',
  stock: '/me/drive/items/02STOCK',
  budget: '/me/drive/items/03BUDGET',
} as const;
const WORKERS = ['w1', 'w2', 'w3'] as const;
/** The worker SIGKILLed once every worker holds its sessions. */
const VICTIM = 'w2';
// Long enough that a live worker slowed by a busy machine is not taken for dead.
const HEARTBEAT_MS = 400;
const HEARTBEAT_TTL_MS = 3 * HEARTBEAT_MS;
const REAP_MS = 200;

const seed = (): WorkbookSeed => ({
  worksheets: {
    Orders: { tables: { Orders: { columns: ['writer', 'round', 'qty'] } } },
    Notes: { cells: [['fleet', 'demo']] },
  },
});

/** Thrown when `redis-server` is missing: the demo prints `message` and exits 1. */
export class RedisMissingError extends Error {
  override readonly name = 'RedisMissingError';
}

export async function runFleetDemo(options: { readonly json: boolean }): Promise<FleetSummary> {
  if (!redisServerFound()) throw new RedisMissingError(REDIS_MISSING);
  const started = Date.now();
  const say = (text: string): void => {
    if (!options.json) console.log(text);
  };
  const time = (): string => `${((Date.now() - started) / 1000).toFixed(2).padStart(6)}s`;
  const label = new Map<string, string>(Object.entries(BOOKS).map(([name, path]) => [path, name]));
  const labelOf = (workbook: unknown): string => label.get(String(workbook)) ?? String(workbook);

  let emulator: RunningEmulator | undefined;
  let redis: LocalRedis | undefined;
  let view: Redis | undefined;
  const workers: DemoWorker[] = [];
  try {
    emulator = await startEmulator({
      workbooks: Object.fromEntries(Object.values(BOOKS).map((path) => [path, seed()])),
      latency: { fixedMs: 10, jitterMs: 10 },
      // A request inside a cooldown the emulator announced is refused and counted.
      strictCooldowns: true,
      seed: 16,
    });
    const service = emulator.service;
    redis = await startLocalRedis();
    view = new Redis({ host: '127.0.0.1', port: redis.port, enableOfflineQueue: false, lazyConnect: true });
    await view.connect();
    // Only reads the journal (scan), so it never becomes an owner itself.
    const journal = new RedisSessionStore({ client: view });
    say(
      `workbook-sessions fleet demo: ${WORKERS.length} worker processes, one emulator (${emulator.url}), ` +
        `redis-server on 127.0.0.1:${redis.port}`,
    );

    const onLine = (worker: DemoWorker, line: WorkerLine): void => {
      const f = line.fields;
      if (line.kind === 'event') {
        const detail =
          f['type'] === 'retried'
            ? `after ${String(f['status'])}; ${f['cooldown'] === true ? 'lane paused for every process' : 'backoff'} ` +
              `${String(f['delayMs'])} ms`
            : `${String(f['id'])}${f['reason'] === undefined ? '' : `  reason: ${String(f['reason'])}`}`;
        say(`${time()}  ${worker.name}  ${labelOf(f['workbook']).padEnd(7)} ${String(f['type']).padEnd(8)} ${detail}`);
      } else if (line.kind === 'reaped' && Number(f['closed']) > 0) {
        say(`${time()}  ${worker.name}  reaper   closed ${String(f['closed'])} session(s) of a process that is gone`);
      }
    };
    const env = {
      EMU_URL: emulator.url,
      EMU_TOKEN: emulator.token,
      REDIS_PORT: String(redis.port),
      WORKBOOKS: Object.values(BOOKS).join(','),
      HEARTBEAT_MS: String(HEARTBEAT_MS),
      REAP_MS: String(REAP_MS),
    };
    for (const name of WORKERS) workers.push(startDemoWorker(name, env, onLine));
    await Promise.all(workers.map((w) => w.line('ready')));
    const nameOfPid = new Map(workers.map((w) => [w.pid, w.name]));

    const snapshot = async (title: string): Promise<void> => {
      const { live, orphans } = await journal.scan();
      const byWorker = (entries: readonly JournalEntry[], workbook: string, suffix: string): string[] => {
        const counts = new Map<string, number>();
        for (const e of entries) {
          if (e.workbook !== workbook) continue;
          const name = `${nameOfPid.get(e.pid) ?? `pid ${e.pid}`}${suffix}`;
          counts.set(name, (counts.get(name) ?? 0) + 1);
        }
        return [...counts].sort().map(([name, n]) => `${name} ${n}`);
      };
      const activity = new Map(service.activity().map((a) => [a.workbook, a]));
      const rows: WorkbookRow[] = Object.entries(BOOKS).map(([name, path]) => {
        const a = activity.get(path);
        return {
          name,
          inFlight: a?.inFlight ?? 0,
          cooldownMs: a?.cooldownMs ?? 0,
          open: a?.openSessions ?? 0,
          byWorker: [...byWorker(live, path, ''), ...byWorker(orphans, path, ' (gone)')],
        };
      });
      say(formatSnapshot(time(), title, rows));
    };

    // ---- 1. Work ----------------------------------------------------------------------------------
    say(
      '\n1. Each worker writes to sales, stock and budget twice, each time in a session of its own, one\n' +
        '   request at a time per workbook across the processes; a 429 Retry-After: 1 waits on stock',
    );
    service.injectFault({ workbook: BOOKS.stock, route: 'tableRowsAdd', count: 1, status: 429, retryAfterSeconds: 1 });
    for (const w of workers) w.process.stdin?.write('work\n');
    const holding = Promise.all(workers.map((w) => w.line('holding')));
    let allHolding = false;
    void holding.then(() => (allHolding = true)).catch(() => undefined);
    while (!allHolding) {
      await Promise.race([holding, new Promise((resolve) => setTimeout(resolve, 600))]);
      if (!allHolding) await snapshot('working');
    }
    await holding;
    say('\n2. Every worker holds one session per workbook; the journal in Redis says which process holds which');
    await snapshot('holding');

    // ---- 3. Kill ----------------------------------------------------------------------------------
    const victim = workers.find((w) => w.name === VICTIM) as DemoWorker;
    const victimHeld = heldIds(victim);
    say(
      `\n3. SIGKILL ${VICTIM} (pid ${victim.pid}) while it holds ${victimHeld.size} sessions: no shutdown, no exit ` +
        `hook.\n   Its heartbeat in Redis expires after ${HEARTBEAT_TTL_MS} ms; the survivors' reapers look every ` +
        `${REAP_MS} ms`,
    );
    const killedAt = Date.now();
    victim.process.kill('SIGKILL');
    await victim.exited;
    let shownGone = false;
    let orphansClosedAt: number | undefined;
    while (Date.now() - killedAt < 15_000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const states = new Map(service.sessions().map((s) => [shortId(s.id), s.state]));
      const stillOpen = [...victimHeld].filter((id) => states.get(id) === 'open').length;
      if (!shownGone && stillOpen === victimHeld.size && (await journal.scan()).orphans.length > 0) {
        shownGone = true;
        await snapshot(`${VICTIM} gone`);
      }
      if (stillOpen === 0) {
        orphansClosedAt = Date.now();
        break;
      }
    }
    const killToClosedMs = orphansClosedAt === undefined ? null : orphansClosedAt - killedAt;
    // The reaper tells of a pass once its journal knows the closes too, a moment after Graph has them:
    // wait for that before the survivors are stopped, so their reports are there to read.
    const told = (): number =>
      workers
        .filter((w) => w !== victim)
        .flatMap((w) => w.lines.filter((l) => l.kind === 'reaped'))
        .reduce((n, l) => n + Number(l.fields['closed']), 0);
    const toldBy = Date.now() + 5000;
    while (orphansClosedAt !== undefined && told() < victimHeld.size && Date.now() < toldBy) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    say(
      killToClosedMs === null
        ? `${time()}  the orphans of ${VICTIM} were not all closed within 15 s`
        : `${time()}  every session ${VICTIM} left was closed by a survivor, ${killToClosedMs} ms after the kill`,
    );
    await snapshot('reaped');

    // ---- 4. Shutdown ------------------------------------------------------------------------------
    const survivors = workers.filter((w) => w !== victim);
    say(`\n4. The survivors shut down as on SIGTERM: each closes its own sessions and marks itself gone`);
    for (const w of survivors) w.process.kill('SIGTERM');
    const dones = await Promise.all(survivors.map((w) => w.line('done', 15_000)));
    await Promise.all(survivors.map((w) => w.exited));
    await snapshot('after shutdown');

    const stats = service.stats();
    const reapedBy: Record<string, number> = {};
    for (const w of survivors) {
      const closed = w.lines.filter((l) => l.kind === 'reaped').reduce((n, l) => n + Number(l.fields['closed']), 0);
      if (closed > 0) reapedBy[w.name] = closed;
    }
    const orphansClosed = Object.values(reapedBy).reduce((n, c) => n + c, 0);
    const survivorReports = survivors.map((w, i) => ({
      name: w.name,
      closed: Number(dones[i]?.fields['closed']),
      leftOpen: Number(dones[i]?.fields['leftOpen']),
    }));
    const sessions = service.sessions();
    const workbooks = Object.fromEntries(
      Object.entries(BOOKS).map(([name, path]) => [
        name,
        {
          created: sessions.filter((s) => s.workbook === path).length,
          mostInFlight: stats.maxInFlightByWorkbook[path] ?? 0,
          mostOpen: stats.maxOpenByWorkbook[path] ?? 0,
          rows: service.tableRows(path, 'Orders').length,
        },
      ]),
    );
    const summary: FleetSummary = {
      ok:
        stats.open === 0 &&
        orphansClosed === victimHeld.size &&
        killToClosedMs !== null &&
        stats.maxInFlightPerWorkbook <= 1 &&
        stats.cooldownViolations === 0 &&
        survivorReports.every((r) => r.leftOpen === 0),
      durationMs: Date.now() - started,
      workers: WORKERS.length,
      killed: { name: VICTIM, held: victimHeld.size },
      orphans: {
        held: victimHeld.size,
        closed: orphansClosed,
        byWorker: reapedBy,
        killToClosedMs,
        heartbeatTtlMs: HEARTBEAT_TTL_MS,
        reapIntervalMs: REAP_MS,
      },
      survivors: survivorReports,
      server: {
        created: stats.created,
        closed: stats.closed,
        expired: stats.expired,
        open: stats.open,
        requests: stats.requests,
        faultsInjected: stats.faultsInjected,
        maxInFlightPerWorkbook: stats.maxInFlightPerWorkbook,
        cooldownViolations: stats.cooldownViolations,
      },
      workbooks,
    };
    if (!options.json) say(formatFleetSummary(summary));
    return summary;
  } finally {
    // Should anything above throw, no process is left behind.
    for (const w of workers) {
      if (w.process.exitCode === null && w.process.signalCode === null) w.process.kill('SIGKILL');
    }
    await Promise.all(workers.map((w) => w.exited));
    view?.disconnect();
    await redis?.stop();
    await emulator?.close();
  }
}

/** The sessions a worker holds now, by short id, from its `opened` and `closed` events. */
function heldIds(worker: DemoWorker): Set<string> {
  const held = new Set<string>();
  for (const { kind, fields } of worker.lines) {
    if (kind !== 'event') continue;
    if (fields['type'] === 'opened') held.add(String(fields['id']));
    if (fields['type'] === 'closed') held.delete(String(fields['id']));
  }
  return held;
}
