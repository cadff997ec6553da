/**
 * One replica of the fleet demo (started by fleet.ts, one process each): its own SessionManager in
 * fleet mode on the demo's redis-server, with its journal in Redis, against the demo's emulator.
 *
 * It connects and prints `ready`; on `work` (a line on stdin) it writes to every workbook a few
 * times, each time in a session of its own, then opens one more session per workbook and holds it
 * (`holding {count}`). Its orphan reaper prints `reaped {json}` after a pass that closed sessions of a
 * process that is gone. On SIGTERM it shuts down and prints `done {json}`. Session events go to stdout
 * as `event {json}`, for the demo to print.
 *
 * EMU_URL, EMU_TOKEN: the emulator; REDIS_PORT: the Redis; WORKBOOKS: comma-separated paths;
 * NAME: how the demo calls it; HEARTBEAT_MS, REAP_MS: its heartbeat and its reaper's interval.
 */
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import {
  RedisSessionStore,
  SessionManager,
  createBearerClient,
  shortId,
  type WorkbookSession,
} from '../../src/index.js';

const env = process.env;
const name = env.NAME ?? 'worker';
const books = (env.WORKBOOKS ?? '').split(',').filter((book) => book !== '');
const heartbeatMs = Number(env.HEARTBEAT_MS ?? '200');
const ROUNDS = 2;

function print(kind: string, fields?: Record<string, unknown>): void {
  process.stdout.write(fields === undefined ? `${kind}\n` : `${kind} ${JSON.stringify(fields)}\n`);
}

// Fail fast, as the README asks of a fleet's client: no offline queue, one retry, a command timeout.
const redis = new Redis({
  host: '127.0.0.1',
  port: Number(env.REDIS_PORT),
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 1000,
  lazyConnect: true,
});
await redis.connect();

const sessions = new SessionManager({
  client: createBearerClient({ baseUrl: env.EMU_URL ?? '', token: env.EMU_TOKEN ?? '' }),
  // The demo sends the signals itself.
  exitHooks: false,
  journal: new RedisSessionStore({ client: redis, heartbeatMs }),
  fleet: { redis, reapIntervalMs: Number(env.REAP_MS ?? '200') },
  logger: {
    info: (message, fields) => {
      if (message.includes('closed sessions left by')) print('reaped', fields);
    },
    warn: (message, fields) => process.stderr.write(`${name}: ${message} ${JSON.stringify(fields ?? {})}\n`),
  },
});
sessions.on('opened', ({ id, workbook }) => print('event', { type: 'opened', workbook, id: shortId(id) }));
sessions.on('closed', ({ id, workbook, reason }) =>
  print('event', { type: 'closed', workbook, id: shortId(id), reason }),
);
sessions.on('retried', ({ workbook, status, delayMs, cooldown }) =>
  print('event', { type: 'retried', workbook, status, delayMs, cooldown }),
);

const held: WorkbookSession[] = [];

async function work(): Promise<void> {
  await Promise.all(
    books.map(async (book) => {
      for (let round = 1; round <= ROUNDS; round++) {
        await sessions.withSession(book, async (session) => {
          await session.api("/tables('Orders')/rows/add").post({ values: [[name, round, round * 10]] });
          await session.api("/tables('Orders')/rows").get();
        });
      }
    }),
  );
  for (const book of books) {
    const session = await sessions.open(book);
    await session.api("/worksheets('Notes')/usedRange").get();
    held.push(session);
  }
  print('holding', { count: held.length });
}

process.on('SIGTERM', () => {
  void (async () => {
    const report = await sessions.shutdown();
    const { totals } = sessions.stats();
    redis.disconnect();
    print('done', { closed: report.closed, leftOpen: report.leftOpen, opened: totals.opened, retries: totals.retries });
    process.exit(0);
  })();
});

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'work') return;
  work().catch((error: unknown) => {
    process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
});
print('ready');
