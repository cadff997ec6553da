/**
 * `npm run bench [-- --json] [-- --quick] [-- --tiny] [-- --only a,b]`
 *
 * Every benchmark talks HTTP to the emulator running in its own child process (see
 * emulator-child.ts), except where a line says `transport: in-process` (call-cost-vs-tracked and
 * memory-per-session, which need 100,000 open sessions). Ours and the baseline run in this process,
 * alternated, several rounds; each line gives the median ratio and its spread. The `fleet-*` lines run
 * worker processes on the machine's `redis-server` (see fleet-lab.ts), and are skipped without one.
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createBearerClient } from '../dist/index.js';
import { startEmulatorProcess, workbookPaths } from './emulator-process.js';
import type { BenchResult } from './measure.js';
import { measureRoundTrip } from './round-trip.js';
import { callOverhead, type CallConfig } from './call-overhead.js';
import { trackedSessions } from './call-cost-vs-tracked.js';
import { fleetCallCost } from './fleet-call-cost.js';
import { fleetDrain, type FleetDrainConfig } from './fleet-drain.js';
import { fleetHandoff, type FleetHandoffConfig } from './fleet-handoff.js';
import { fleetKillReap, type FleetKillConfig } from './fleet-kill-reap.js';
import { openFleetLab, type FleetLab } from './fleet-lab.js';
import { FLEET_SKIPPED, fleetBenchesRun } from './fleet-redis.js';
import { journalCost, type JournalConfig } from './journal-cost.js';
import type { TrackedConfig } from './memory-per-session.js';
import { openCloseThroughput, type ThroughputConfig } from './open-close-throughput.js';
import { sharedSessions, type SharedConfig } from './shared-sessions.js';
import { shutdownDrain, type DrainConfig } from './shutdown-drain.js';
import { throttledDrain, type ThrottledConfig } from './throttled-drain.js';

type Mode = 'full' | 'quick' | 'tiny';

interface Config {
  readonly drain: DrainConfig;
  readonly throttled: ThrottledConfig;
  readonly calls: CallConfig;
  readonly throughput: ThroughputConfig;
  readonly journal: JournalConfig;
  readonly tracked: TrackedConfig & CallConfig;
  readonly shared: SharedConfig;
  readonly fleetCalls: CallConfig;
  readonly fleetDrain: FleetDrainConfig;
  readonly fleetHandoff: FleetHandoffConfig;
  readonly fleetKill: FleetKillConfig;
}

/** Full: the sizes. Quick: the same sizes, fewer rounds. Tiny: a shape check for the smoke test. */
function configFor(mode: Mode): Config {
  const rounds = mode === 'full' ? 3 : 1;
  if (mode === 'tiny') {
    const drain = { sessions: 40, workbooks: 4, latencyMs: 20, concurrency: 16, rounds, warmup: false };
    const calls = { calls: 30, rounds: 2, warmup: 10 };
    return {
      drain,
      throttled: { ...drain, sessions: 8, throttleRate: 0.3, retryAfterSeconds: 1 },
      calls,
      throughput: { sessions: 16, workbooks: 4, latencyMs: 20, concurrency: 16, callers: 64, rounds, warmup: false },
      journal: { ...calls, pairs: 3, latencyMs: 20 },
      tracked: { ...calls, sessions: 1000, perWorkbook: 25 },
      shared: {
        ...SHARED,
        units: 16,
        workbooks: 2,
        createMs: 50,
        createJitterMs: 10,
        concurrency: 8,
        rounds,
        warmup: false,
        budgetOpens: 8,
      },
      fleetCalls: calls,
      fleetDrain: { workers: 2, sessions: 5, workbooks: 2, latencyMs: 20, rounds },
      fleetHandoff: { samples: 6, rounds, latencyMs: 20, warmup: 2 },
      fleetKill: { ...FLEET_KILL, rounds, workbooks: 2, sessions: 1 },
    };
  }
  const drain = { sessions: 500, workbooks: 50, latencyMs: 20, concurrency: 16, rounds, warmup: true };
  // Short rounds, many of them: ours and the bare client alternate often, so a change in the
  // machine's load (other processes) falls on both alike.
  const calls = mode === 'quick' ? { calls: 250, rounds: 6, warmup: 300 } : { calls: 250, rounds: 20, warmup: 500 };
  return {
    drain,
    throttled: { ...drain, throttleRate: 0.3, retryAfterSeconds: 1 },
    calls,
    throughput: { sessions: 480, workbooks: 50, latencyMs: 20, concurrency: 16, callers: 64, rounds, warmup: true },
    journal: { calls: 500, rounds: mode === 'quick' ? 3 : 5, warmup: 200, pairs: 20, latencyMs: 20 },
    tracked: { ...calls, calls: calls.calls * 5, warmup: calls.warmup * 5, sessions: 100_000, perWorkbook: 25 },
    shared: SHARED,
    fleetCalls: calls,
    fleetDrain: { workers: 4, sessions: 100, workbooks: 4, latencyMs: 20, rounds },
    fleetHandoff: { samples: mode === 'quick' ? 40 : 100, rounds, latencyMs: 20, warmup: 20 },
    fleetKill: { ...FLEET_KILL, rounds: mode === 'quick' ? 2 : 5 },
  };
}

// Heartbeat 100 ms (gone after 300 ms) and a reaper every 100 ms, as in the kill test.
const FLEET_KILL: FleetKillConfig = {
  rounds: 5,
  workbooks: 3,
  sessions: 2,
  heartbeatMs: 100,
  reapIntervalMs: 100,
  latencyMs: 20,
};

// 40 units at a time: a web service handling 40 requests at once, 5 per workbook. One round even in
// full: the per-request side alone takes about 45 s.
const SHARED: SharedConfig = {
  units: 400,
  workbooks: 8,
  latencyMs: 20,
  createMs: 800,
  createJitterMs: 50,
  concurrency: 40,
  rounds: 1,
  warmup: true,
  budgetOpens: 40,
  budget: 3,
};

// In this order; the tracked-sessions bench goes last, as its 100,000 sessions stay in the heap. The
// fleet ones need a `redis-server` on the machine and are skipped, with a note, without one.
const BENCHES: Readonly<Record<string, (config: Config, lab: () => Promise<FleetLab>) => Promise<BenchResult[]>>> = {
  'shutdown-drain': (c) => shutdownDrain(c.drain),
  'throttled-drain': (c) => throttledDrain(c.throttled),
  'call-overhead': (c) => callOverhead(c.calls),
  'open-close-throughput': (c) => openCloseThroughput(c.throughput),
  'journal-cost': (c) => journalCost(c.journal),
  'shared-sessions': (c) => sharedSessions(c.shared),
  'fleet-call-cost': async (c, lab) => fleetCallCost(await lab(), c.fleetCalls),
  'fleet-drain': async (c, lab) => fleetDrain(await lab(), c.fleetDrain),
  'fleet-handoff': async (c, lab) => fleetHandoff(await lab(), c.fleetHandoff),
  'fleet-kill-reap': async (c, lab) => fleetKillReap(await lab(), c.fleetKill),
  'call-cost-vs-tracked': (c) => trackedSessions(c.tracked),
};

async function roundTrips(): Promise<BenchResult[]> {
  const workbooks = workbookPaths(1);
  const emulator = await startEmulatorProcess({ workbooks, latencyMs: 0 });
  try {
    const client = createBearerClient({ baseUrl: emulator.url, token: emulator.token });
    const rtt0 = await measureRoundTrip(client, workbooks[0] as string, 40);
    await emulator.setLatency(20);
    const rtt = await measureRoundTrip(client, workbooks[0] as string, 40);
    return [
      {
        name: 'round-trip',
        value: Number(rtt.toFixed(2)),
        unit: 'ms',
        baseline: 20,
        ratio: Number((rtt / 20).toFixed(3)),
        better: 'lower',
        rtt0Ms: Number(rtt0.toFixed(2)),
        note:
          'one GET through the bare Graph client to the emulator child over loopback at 20 ms nominal latency ' +
          '(rtt0Ms: at 0 ms); baseline is the nominal latency',
      },
    ];
  } finally {
    await emulator.close();
  }
}

function formatTable(results: readonly BenchResult[]): string {
  const rows = results.map((r) => [
    r.name,
    `${fmt(r.value)} ${r.unit}`,
    fmt(r.baseline),
    Number.isFinite(r.ratio) ? fmt(r.ratio) : '-',
    r.spread === undefined ? '' : `${fmt(r.spread[0])}–${fmt(r.spread[1])}`,
    r.target !== undefined
      ? `${r.better === 'lower' ? '<=' : '>='} ${r.target} ${r.met === true ? 'ok' : 'MISSED'}`
      : typeof r['goal'] === 'string'
        ? `${r['goal']} ${r['goalMet'] === true ? 'ok' : 'MISSED'}`
        : '',
  ]);
  const head = ['benchmark', 'value', 'baseline', 'ratio', 'spread', 'target'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const SHOWN = new Set([
  'name',
  'value',
  'unit',
  'baseline',
  'ratio',
  'better',
  'target',
  'met',
  'spread',
  'rounds',
  'note',
  'goal',
  'goalMet',
]);

/** The extra fields of each line, one line per benchmark. */
function formatDetails(results: readonly BenchResult[]): string {
  return results
    .map((r) => {
      const extras = Object.entries(r)
        .filter(([key]) => !SHOWN.has(key))
        .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('/') : String(value)}`);
      return `${r.name}: ${extras.join(', ')}`;
    })
    .join('\n');
}

function loadString(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(Math.abs(n) >= 1 ? 2 : 3);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      tiny: { type: 'boolean', default: false },
      only: { type: 'string' },
    },
    strict: true,
  });
  const mode: Mode = values.tiny ? 'tiny' : values.quick ? 'quick' : 'full';
  const config = configFor(mode);
  const only = values.only?.split(',').map((s) => s.trim());
  const cores = availableParallelism();
  const machine = { cores, cpu: cpus()[0]?.model.trim() ?? 'unknown', node: process.version, mode };
  const emit = (r: BenchResult): void => {
    if (values.json)
      process.stdout.write(`${JSON.stringify({ ...r, cores, load1: Number((loadavg()[0] ?? 0).toFixed(2)) })}\n`);
  };
  if (!values.json)
    console.log(
      `workbook-sessions bench (${mode}): ${cores} cores (${machine.cpu}), Node ${machine.node}; ` +
        `load average ${loadString()}; emulator in a child process over loopback HTTP\n`,
    );
  const all: BenchResult[] = [];
  const started = Date.now();
  for (const r of await roundTrips()) {
    all.push(r);
    emit(r);
  }
  let fleetSkipped = false;
  // Started by the first fleet bench, closed after the last bench.
  let lab: Promise<FleetLab> | undefined;
  const fleetLab = (): Promise<FleetLab> => (lab ??= openFleetLab(config.fleetDrain.workers));
  const closeLab = async (): Promise<void> => {
    const opened = lab;
    lab = undefined;
    if (opened !== undefined) await (await opened).close();
  };
  const chosen = Object.entries(BENCHES).filter(([name]) => only === undefined || only.includes(name));
  const lastFleet = chosen.findLast(([name]) => name.startsWith('fleet-'))?.[0];
  try {
    for (const [name, bench] of chosen) {
      if (name.startsWith('fleet-') && !fleetBenchesRun) {
        // On stderr with --json (stdout is JSON lines only), else above the table.
        if (!fleetSkipped && values.json) process.stderr.write(`${FLEET_SKIPPED}\n`);
        fleetSkipped = true;
        continue;
      }
      const benchStarted = Date.now();
      const results = await bench(config, fleetLab);
      // The fleet's processes stop before the benches after them run.
      if (name === lastFleet) await closeLab();
      process.stderr.write(`${name}: ${((Date.now() - benchStarted) / 1000).toFixed(1)} s\n`);
      for (const r of results) {
        all.push(r);
        emit(r);
      }
    }
  } finally {
    await closeLab();
  }
  if (!values.json) {
    if (fleetSkipped) console.log(`${FLEET_SKIPPED}\n`);
    console.log(formatTable(all));
    console.log(`\n${formatDetails(all)}`);
    console.log(
      `\n${((Date.now() - started) / 1000).toFixed(0)} s, load average at the end ${loadString()}; ` +
        'ratios are medians over rounds, spread is min–max of the per-round ratios.',
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
