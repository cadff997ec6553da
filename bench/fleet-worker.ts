/**
 * One replica of a fleet for the fleet benches, forked by `fleet-workers.ts` and driven over IPC: a
 * SessionManager in fleet mode on the bench's redis-server, and one with local lanes only, both on
 * the bench's emulator child. Every request goes through a stopwatch on the Graph client's chain,
 * which notes when it left and when its answer came back on the clock all processes share.
 */
import { Client, HTTPMessageHandler, type Context, type Middleware } from '@microsoft/microsoft-graph-client';
import type { Redis } from 'ioredis';
import { RedisSessionStore, type SessionManager, type WorkbookSession } from '../dist/index.js';
import { RANGE_PATH } from './call-overhead.js';
import { fleetRedis, redisRoundTrip, sharedNow } from './fleet-redis.js';
import { benchManager } from './manager.js';

export type Lanes = 'fleet' | 'local';

export interface WorkerStart {
  readonly url: string;
  readonly token: string;
  readonly redisPort: number;
}

export type WorkerCommand =
  /** Opens, calls and closes one session on each workbook, with both managers. */
  | { readonly op: 'warm'; readonly workbooks: readonly string[] }
  /** `sessions` sessions at once, round-robin over `workbooks`, each opened, called once and closed. */
  | { readonly op: 'drain'; readonly lanes: Lanes; readonly workbooks: readonly string[]; readonly sessions: number }
  /** Opens a session on `workbook` with both managers and keeps it for `call` and `pair`. */
  | { readonly op: 'open'; readonly workbook: string }
  /** One call on the kept session; posts `{ event: 'sent' }` once its request has left. */
  | { readonly op: 'call'; readonly lanes: Lanes }
  /** Two calls at once on the kept session: the second waits in the lane for the first. */
  | { readonly op: 'pair'; readonly lanes: Lanes }
  /**
   * Makes a third manager, in fleet mode with a RedisSessionStore as its journal (heartbeat every
   * `heartbeatMs`, gone after three) and so an orphan reaper every `reapIntervalMs`.
   */
  | { readonly op: 'journal'; readonly heartbeatMs: number; readonly reapIntervalMs: number }
  /** Opens `sessions` sessions on each workbook with the journal's manager and holds them. */
  | { readonly op: 'hold'; readonly workbooks: readonly string[]; readonly sessions: number }
  | { readonly op: 'ping' }
  | { readonly op: 'stop' };

/** When one request left and when its answer came back, on `sharedNow()`'s clock. */
export interface RequestTimes {
  readonly outAt: number;
  readonly inAt: number;
}

/** What a `drain` took: its span on `sharedNow()`'s clock, and this process's CPU time meanwhile. */
export interface DrainTimes {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly failures: number;
  readonly cpuMs: number;
}

export interface CallTimes extends RequestTimes {
  /** When the call was made (before it waited for its lane). */
  readonly calledAt: number;
}

/**
 * Signs each request and notes its times; the last link before the HTTP handler, so the times are
 * those of the request itself, after the library has taken its lane.
 */
class Stopwatch implements Middleware {
  // Set by the client when it links the chain; public, as the library walks the chain to check it.
  nextMiddleware: Middleware | undefined;
  // Filled while `recording`; emptied by whoever reads it.
  readonly requests: RequestTimes[] = [];
  recording = false;
  readonly #token: string;
  // Set by onceSent(); cleared when the next request leaves.
  #sent: (() => void) | undefined;

  constructor(token: string) {
    this.#token = token;
  }

  async execute(context: Context): Promise<void> {
    context.options ??= {};
    const headers = new Headers(context.options.headers as HeadersInit | undefined);
    context.options.headers = { ...Object.fromEntries(headers), Authorization: `Bearer ${this.#token}` };
    if (this.nextMiddleware === undefined) throw new Error('Stopwatch has no next middleware');
    const outAt = sharedNow();
    this.#sent?.();
    try {
      await this.nextMiddleware.execute(context);
    } finally {
      if (this.recording) this.requests.push({ outAt, inAt: sharedNow() });
    }
  }

  setNext(next: Middleware): void {
    this.nextMiddleware = next;
  }

  /** Calls `listener` once, when the next request leaves. */
  onceSent(listener: () => void): void {
    this.#sent = () => {
      this.#sent = undefined;
      listener();
    };
  }
}

function stopwatchClient(url: string, token: string): { client: Client; stopwatch: Stopwatch } {
  const stopwatch = new Stopwatch(token);
  return {
    client: Client.initWithMiddleware({
      middleware: [stopwatch, new HTTPMessageHandler()],
      baseUrl: new URL(url).origin,
    }),
    stopwatch,
  };
}

function send(message: unknown): void {
  process.send?.(message);
}

interface Side {
  readonly manager: SessionManager;
  readonly stopwatch: Stopwatch;
  kept?: WorkbookSession;
}

async function start(init: WorkerStart): Promise<void> {
  const redis: Redis = await fleetRedis(init.redisPort);
  const fleetSide = stopwatchClient(init.url, init.token);
  const localSide = stopwatchClient(init.url, init.token);
  const sides: Record<Lanes, Side> = {
    fleet: { manager: benchManager(fleetSide.client, { fleet: { redis } }), stopwatch: fleetSide.stopwatch },
    local: { manager: benchManager(localSide.client), stopwatch: localSide.stopwatch },
  };
  // Made by `journal`, shut down by `stop`.
  let journaled: SessionManager | undefined;
  // Sessions opened by `hold`, kept until the process ends.
  const held: WorkbookSession[] = [];

  const run = async (command: WorkerCommand): Promise<unknown> => {
    switch (command.op) {
      case 'warm':
        for (const side of Object.values(sides)) {
          for (const workbook of command.workbooks) {
            await side.manager.withSession(workbook, (session) => session.api(RANGE_PATH).get());
          }
        }
        return null;
      case 'drain': {
        const { manager } = sides[command.lanes];
        let failures = 0;
        const cpu = process.cpuUsage();
        const startedAt = sharedNow();
        await Promise.all(
          Array.from({ length: command.sessions }, (_, i) =>
            manager
              .withSession(command.workbooks[i % command.workbooks.length] as string, (session) =>
                session.api(RANGE_PATH).get(),
              )
              .catch((error: unknown) => {
                failures++;
                process.stderr.write(`fleet worker: ${String(error)}\n`);
              }),
          ),
        );
        const endedAt = sharedNow();
        const { user, system } = process.cpuUsage(cpu);
        return { startedAt, endedAt, failures, cpuMs: (user + system) / 1000 } satisfies DrainTimes;
      }
      case 'open':
        for (const side of Object.values(sides)) side.kept = await side.manager.open(command.workbook);
        return null;
      case 'call': {
        const side = sides[command.lanes];
        const kept = keptOf(side);
        side.stopwatch.requests.length = 0;
        side.stopwatch.recording = true;
        side.stopwatch.onceSent(() => send({ event: 'sent' }));
        const calledAt = sharedNow();
        await kept.api(RANGE_PATH).get();
        side.stopwatch.recording = false;
        const [request] = side.stopwatch.requests;
        if (request === undefined) throw new Error('the call sent no request');
        return { calledAt, ...request } satisfies CallTimes;
      }
      case 'pair': {
        const side = sides[command.lanes];
        const kept = keptOf(side);
        side.stopwatch.requests.length = 0;
        side.stopwatch.recording = true;
        await Promise.all([kept.api(RANGE_PATH).get(), kept.api(RANGE_PATH).get()]);
        side.stopwatch.recording = false;
        return [...side.stopwatch.requests].sort((a, b) => a.outAt - b.outAt);
      }
      case 'journal':
        journaled ??= benchManager(fleetSide.client, {
          fleet: { redis, reapIntervalMs: command.reapIntervalMs },
          journal: new RedisSessionStore({
            client: redis,
            heartbeatMs: command.heartbeatMs,
            heartbeatTtlMs: 3 * command.heartbeatMs,
          }),
        });
        return null;
      case 'hold':
        for (const workbook of command.workbooks) {
          for (let i = 0; i < command.sessions; i++) {
            if (journaled === undefined) throw new Error('no journal: send `journal` first');
            const session = await journaled.open(workbook);
            await session.api(RANGE_PATH).get();
            held.push(session);
          }
        }
        return { open: held.length };
      case 'ping':
        return redisRoundTrip(redis);
      case 'stop':
        await Promise.all([...Object.values(sides).map((side) => side.manager.shutdown()), journaled?.shutdown()]);
        redis.disconnect();
        return null;
    }
  };

  process.on('message', (message: { id: number; command: WorkerCommand }) => {
    const { id, command } = message;
    run(command).then(
      (value) => {
        send({ id, ok: true, value });
        if (command.op === 'stop') process.disconnect();
      },
      (error: unknown) => send({ id, ok: false, error: error instanceof Error ? error.message : String(error) }),
    );
  });
  send({ ready: true });
}

function keptOf(side: Side): WorkbookSession {
  if (side.kept === undefined) throw new Error('no session kept: send `open` first');
  return side.kept;
}

process.once('message', (init: WorkerStart) => {
  start(init).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
});
