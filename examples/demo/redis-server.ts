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

/** Starts `redis-server` and resolves once it answers PING. */
export async function startLocalRedis(): Promise<LocalRedis> {
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
    const pong = await probe
      .connect()
      .then(() => probe.ping())
      .catch(() => undefined);
    probe.disconnect();
    if (pong === 'PONG') return { port, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server on port ${port} did not start`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
