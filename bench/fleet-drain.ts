import { createBearerClient } from '../dist/index.js';
import type { FleetLab } from './fleet-lab.js';
import { commandCounts, fleetRedis } from './fleet-redis.js';
import type { DrainTimes, Lanes } from './fleet-worker.js';
import { median, result, round, type BenchResult } from './measure.js';
import { measureRoundTrip } from './round-trip.js';

export interface FleetDrainConfig {
  readonly workers: number;
  /** Sessions per worker, each opened, called once and closed. */
  readonly sessions: number;
  readonly workbooks: number;
  readonly latencyMs: number;
  readonly rounds: number;
}

/** createSession, one call, closeSession: each goes through the workbook's lane. */
const REQUESTS_PER_SESSION = 3;

interface Drain {
  readonly ms: number;
  readonly failures: number;
  readonly maxInFlight: number;
  readonly serverOpen: number;
  readonly created: number;
  /** Scripts run on Redis (EVALSHA and EVAL) and subscriptions made, per request sent. */
  readonly scriptsPerRequest: number;
  readonly subscribesPerRequest: number;
  /** CPU time of the worker processes and of the emulator. */
  readonly cpuMs: number;
  readonly emulatorCpuMs: number;
}

/**
 * `fleet-drain`: `workers` processes, each with its own manager in fleet mode on one redis-server,
 * each running `sessions` sessions (open, one call, close) at once over the same shared workbooks
 * of one emulator child. One request at a time per workbook across the fleet, so the ideal is the
 * requests per workbook (3 per session) times the latency. The same sessions run by one process
 * with local lanes (`localMs`) show what the lanes on Redis cost over the in-process ones.
 */
export async function fleetDrain(lab: FleetLab, config: FleetDrainConfig): Promise<BenchResult[]> {
  const workbooks = lab.workbooks(config.workbooks);
  const { emulator } = lab;
  await emulator.setLatency(0);
  const workers = await lab.workers(config.workers);
  // Reads the server's command counts: what each request cost on Redis.
  const redis = await fleetRedis(lab.redis.port);
  try {
    // Each worker looks each workbook up once and warms up, before anything is timed.
    await Promise.all(workers.map((worker) => worker.run({ op: 'warm', workbooks })));
    await emulator.setLatency(config.latencyMs);
    const client = createBearerClient({ baseUrl: emulator.url, token: emulator.token });
    const rttMs = await measureRoundTrip(client, workbooks[0] as string);
    const total = config.workers * config.sessions;
    const perWorkbook = Math.ceil(total / config.workbooks);
    const ideal = perWorkbook * REQUESTS_PER_SESSION * config.latencyMs;
    const idealAtRtt = perWorkbook * REQUESTS_PER_SESSION * rttMs;

    const drain = async (lanes: Lanes): Promise<Drain> => {
      await emulator.resetStats();
      const emulatorCpu = await emulator.cpuMs();
      const before = await commandCounts(redis);
      const runners = lanes === 'fleet' ? workers : workers.slice(0, 1);
      const sessions = lanes === 'fleet' ? config.sessions : total;
      const answers = await Promise.all(
        runners.map((worker) => worker.run<DrainTimes>({ op: 'drain', lanes, workbooks, sessions })),
      );
      const stats = await emulator.stats();
      const after = await commandCounts(redis);
      const calls = (...names: string[]): number =>
        names.reduce((sum, name) => sum + (after.get(name) ?? 0) - (before.get(name) ?? 0), 0);
      return {
        ms: Math.max(...answers.map((a) => a.endedAt)) - Math.min(...answers.map((a) => a.startedAt)),
        failures: answers.reduce((sum, a) => sum + a.failures, 0),
        maxInFlight: stats.maxInFlightPerWorkbook,
        serverOpen: stats.open,
        created: stats.created,
        scriptsPerRequest: calls('evalsha', 'eval') / stats.requests,
        subscribesPerRequest: calls('subscribe') / stats.requests,
        cpuMs: answers.reduce((sum, a) => sum + a.cpuMs, 0),
        emulatorCpuMs: (await emulator.cpuMs()) - emulatorCpu,
      };
    };

    const fleet: Drain[] = [];
    const local: Drain[] = [];
    for (let r = 0; r < config.rounds; r++) {
      // Alternated, so that a change in the machine's load falls on both alike.
      if (r % 2 === 0) {
        fleet.push(await drain('fleet'));
        local.push(await drain('local'));
      } else {
        local.push(await drain('local'));
        fleet.push(await drain('fleet'));
      }
    }
    const times = fleet.map((d) => d.ms);
    return [
      result({
        name: 'fleet-drain',
        value: median(times),
        unit: 'ms',
        baseline: ideal,
        ratios: times.map((ms) => ms / ideal),
        better: 'lower',
        target: 1.15,
        extra: {
          workers: config.workers,
          sessionsPerWorker: config.sessions,
          workbooks: config.workbooks,
          latencyMs: config.latencyMs,
          rttMs: round(rttMs),
          idealAtRttMs: Math.round(idealAtRtt),
          ratioToRtt: round(median(times.map((ms) => ms / idealAtRtt)), 3),
          localMs: Math.round(median(local.map((d) => d.ms))),
          ratioToLocal: round(median(times.map((ms, i) => ms / (local[i] as Drain).ms)), 3),
          created: Math.max(...fleet.map((d) => d.created)),
          failures: fleet.reduce((sum, d) => sum + d.failures, 0),
          serverOpen: Math.max(...fleet.map((d) => d.serverOpen), ...local.map((d) => d.serverOpen)),
          maxInFlightPerWorkbook: Math.max(...fleet.map((d) => d.maxInFlight)),
          localMaxInFlightPerWorkbook: Math.max(...local.map((d) => d.maxInFlight)),
          // CPU per session: the workers' own (the library, the Graph client, ioredis) and the emulator's.
          cpuMsPerSession: round(median(fleet.map((d) => d.cpuMs)) / total, 3),
          localCpuMsPerSession: round(median(local.map((d) => d.cpuMs)) / total, 3),
          emulatorCpuMsPerSession: round(median(fleet.map((d) => d.emulatorCpuMs)) / total, 3),
          scriptsPerRequest: round(median(fleet.map((d) => d.scriptsPerRequest))),
          subscribesPerRequest: round(median(fleet.map((d) => d.subscribesPerRequest))),
          note:
            `${config.workers} worker processes x ${config.sessions} sessions (open, a call, close) on ` +
            `${config.workbooks} shared workbooks, lanes on one redis-server; baseline is the ideal, ` +
            'sessions per workbook x 3 requests x the nominal latency; localMs: the same sessions in one ' +
            'process with local lanes',
        },
      }),
    ];
  } finally {
    redis.disconnect();
  }
}
