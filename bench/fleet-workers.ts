import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { WorkerCommand, WorkerStart } from './fleet-worker.js';

/** The bench's handle on one fleet worker process (`fleet-worker.ts`). */
export interface FleetWorker {
  readonly pid: number;
  /** Sends `command` and resolves with the worker's answer. */
  run<T>(command: WorkerCommand): Promise<T>;
  /** Resolves when the worker next posts `{ event }`. */
  nextEvent(event: string): Promise<void>;
  /** SIGKILL, resolved once the process is reaped. */
  kill(): Promise<void>;
  /** Shuts its managers down and waits for it to exit. */
  stop(): Promise<void>;
}

/** Forks `count` workers at once and waits until each is connected to Redis. */
export function startFleetWorkers(count: number, start: WorkerStart | Promise<WorkerStart>): Promise<FleetWorker[]> {
  return Promise.all(Array.from({ length: count }, () => startFleetWorker(start)));
}

/**
 * Forks a worker at once and tells it where to connect when `start` is known, so that its slow part
 * (loading its modules) overlaps with whatever `start` waits for. A worker whose `start` fails is killed.
 */
export async function startFleetWorker(start: WorkerStart | Promise<WorkerStart>): Promise<FleetWorker> {
  const child: ChildProcess = fork(new URL('./fleet-worker.ts', import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // Answers by request id, and waiters for events; each entry leaves when it is answered or the child exits.
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  const events = new Map<string, (() => void)[]>();
  let nextId = 1;
  const exited = once(child, 'exit');
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`a fleet worker exited with ${code} before it was ready`)));
    child.on(
      'message',
      (message: { ready?: true; event?: string; id?: number; ok?: boolean; value?: unknown; error?: string }) => {
        if (message.ready === true) return resolve();
        if (message.event !== undefined) {
          const listeners = events.get(message.event) ?? [];
          events.delete(message.event);
          for (const listener of listeners) listener();
          return;
        }
        const entry = waiting.get(message.id ?? -1);
        if (entry === undefined) return;
        waiting.delete(message.id as number);
        if (message.ok === true) entry.resolve(message.value);
        else entry.reject(new Error(`fleet worker: ${message.error ?? 'failed'}`));
      },
    );
  });
  child.on('exit', () => {
    for (const entry of waiting.values()) entry.reject(new Error('the fleet worker exited'));
    waiting.clear();
  });
  try {
    child.send(await start);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  await ready;
  const run = <T>(command: WorkerCommand): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, command });
    });
  return {
    pid: child.pid ?? -1,
    run,
    nextEvent: (event) =>
      new Promise<void>((resolve) => {
        events.set(event, [...(events.get(event) ?? []), resolve]);
      }),
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await run({ op: 'stop' }).catch(() => child.kill('SIGKILL'));
      await exited;
    },
  };
}

/** Stops every worker, killing those that do not stop. */
export async function stopAll(workers: readonly FleetWorker[]): Promise<void> {
  await Promise.all(workers.map((worker) => worker.stop().catch(() => worker.kill())));
}
