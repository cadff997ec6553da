/**
 * The fleet demo's Redis: the machine's own `redis-server`, started on a free loopback port with
 * persistence off, and stopped when the demo ends.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

const binary = process.env.REDIS_SERVER ?? 'redis-server';

export const REDIS_MISSING =
  'The fleet demo needs `redis-server` (Redis 7, or Valkey) on PATH, and it was not found.\n' +
  'Install it with `apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS),\n' +
  'or set REDIS_SERVER to its path. The plain demo (`npm run demo`) needs no Redis.';

/** Whether `redis-server` can be run here. */
export function redisServerFound(): boolean {
  return spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface LocalRedis {
  readonly port: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/**
 * Starts `redis-server` and resolves once it answers. A port another process took between the
 * look-up and the bind is given up for another: the demo never uses a server that is not its own.
 */
export async function startLocalRedis(): Promise<LocalRedis> {
  for (let attempt = 1; ; attempt++) {
    const started = await startOnFreePort();
    if (started !== undefined) return started;
    if (attempt >= 5) throw new Error('redis-server could not get a free port');
  }
}

/** The server on a free port, or undefined when another process answers there instead. */
async function startOnFreePort(): Promise<LocalRedis | undefined> {
  const port = await freePort();
  const child = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', '/tmp'],
    { stdio: 'ignore' },
  );
  const exited = once(child, 'exit');
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => undefined);
    const info = await probe
      .connect()
      .then(() => probe.info('server'))
      .catch(() => undefined);
    probe.disconnect();
    const pid = info === undefined ? undefined : Number(/process_id:(\d+)/.exec(info)?.[1]);
    if (pid === child.pid) return { port, stop };
    if (pid !== undefined || child.exitCode !== null) {
      // Another server took the port (ours could not bind): try another one.
      await stop();
      return undefined;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server on port ${port} did not start`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
