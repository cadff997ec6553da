// Starts a real `redis-server` of the machine's packages for the fleet tests: its own process on a
// free loopback port, persistence off, stopped after; it can be killed mid-test and started again on the
// same port (a Redis restart, as clients see it). Without `redis-server` the tests are skipped
// with what to install, except under CI, where they must run: there its absence fails them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';

const binary = process.env.REDIS_SERVER ?? 'redis-server';

/** Whether `redis-server` can be run here. */
export const redisServerFound = spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0;

export const INSTALL_HINT =
  '`redis-server` was not found: the fleet tests need it (Debian/Ubuntu: `apt-get install redis-server`; ' +
  'macOS: `brew install redis`), or set REDIS_SERVER to its path';

const underCi = process.env.CI === 'true';

/**
 * Whether the Redis tests run. Under CI a missing server is a failure, never a skip, so this
 * throws there; elsewhere it says once what to install.
 */
export function redisTestsRun(): boolean {
  if (redisServerFound) return true;
  if (underCi) throw new Error(`${INSTALL_HINT}. Under CI the fleet tests must run.`);
  console.warn(`Skipping the Redis tests: ${INSTALL_HINT}.`);
  return false;
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** A client that fails fast, as the library documents; quit by `stop()`. */
  client(options?: RedisOptions): Promise<Redis>;
  /** Kills the server process alone (SIGKILL), as a crash would: clients stay, and try to reconnect. */
  kill(): Promise<void>;
  /** Starts a fresh, empty server on the same port (after `kill()`); resolves once it answers PING. */
  restart(): Promise<void>;
  /** Kills the server (SIGKILL) and every client made by `client()`. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('No port');
  return address.port;
}

/** Another process answered on the port (it took the port between our look-up and our bind). */
class PortTaken extends Error {}

/** The `process_id` the server on `port` reports (INFO server), or undefined while nothing answers. */
function serverPid(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('INFO server\r\n'));
    socket.on('data', (chunk: string) => {
      answer += chunk;
      const pid = /process_id:(\d+)\r\n/.exec(answer);
      if (pid !== null || answer.startsWith('-')) {
        socket.destroy();
        resolve(pid === null ? undefined : Number(pid[1]));
      }
    });
    socket.on('error', () => resolve(undefined));
  });
}

/**
 * Resolves once our own server answers on `port`, or rejects after `timeoutMs`. A server of another
 * process answering there (the port was taken meanwhile) is a PortTaken: never used by mistake.
 */
async function untilOurs(port: number, child: ChildProcess, output: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new PortTaken(`redis-server exited with ${child.exitCode}: ${output()}`);
    const pid = await serverPid(port);
    if (pid === child.pid) return;
    if (pid !== undefined) throw new PortTaken(`another redis-server (pid ${pid}) answers on port ${port}`);
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer: ${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Runs `redis-server` on `port`, persistence off; resolves once it answers. */
async function spawnServer(port: number): Promise<ChildProcess> {
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', '/tmp'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  try {
    await untilOurs(port, child, () => output);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return child;
}

/** A free port and our server on it; a port another process took first is given up for another. */
async function spawnOnFreePort(): Promise<{ port: number; child: ChildProcess }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return { port, child: await spawnServer(port) };
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt >= 5) throw error;
    }
  }
}

async function killServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** Starts a `redis-server` on a free loopback port with persistence off. */
export async function startRedisServer(): Promise<RedisServer> {
  const started = await spawnOnFreePort();
  const port = started.port;
  // Replaced by restart(); the one running now (or killed last).
  let child = started.child;
  const clients = new Set<Redis>();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async client(options = {}) {
      const client = new Redis({
        host: '127.0.0.1',
        port,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: 2000,
        lazyConnect: true,
        ...options,
      });
      clients.add(client);
      await client.connect();
      return client;
    },
    kill: () => killServer(child),
    async restart() {
      await killServer(child);
      child = await spawnServer(port);
    },
    async stop() {
      for (const client of clients) client.disconnect();
      clients.clear();
      await killServer(child);
    },
  };
}
