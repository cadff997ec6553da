import { fork, type ChildProcess } from 'node:child_process';
import type { EmulatorStats, FaultSpec, RandomFaultOptions } from '../dist/testing/index.js';
import type { EmulatorCommand, EmulatorStart } from './emulator-child.js';

/** The bench's handle on an emulator running in a child process. */
export interface EmulatorProcess {
  readonly url: string;
  readonly token: string;
  readonly workbooks: readonly string[];
  setLatency(ms: number): Promise<void>;
  setFaults(faults: RandomFaultOptions | undefined): Promise<void>;
  injectFault(spec: FaultSpec): Promise<void>;
  stats(): Promise<EmulatorStats>;
  resetStats(): Promise<void>;
  /** CPU time the emulator process has used so far, in ms. */
  cpuMs(): Promise<number>;
  close(): Promise<void>;
}

/** `count` workbook paths, `/me/drive/items/BENCH0001`, ... */
export function workbookPaths(count: number, prefix = 'BENCH'): string[] {
  return Array.from({ length: count }, (_, i) => `/me/drive/items/${prefix}${String(i + 1).padStart(5, '0')}`);
}

/** Forks `emulator-child.ts` and waits until it listens. */
export async function startEmulatorProcess(start: EmulatorStart): Promise<EmulatorProcess> {
  const child: ChildProcess = fork(new URL('./emulator-child.ts', import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // Replies by request id; each entry leaves when its reply arrives or the child exits.
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  const ready = new Promise<{ url: string; token: string }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the emulator child exited with ${code} before it listened`)));
    child.on(
      'message',
      (message: {
        ready?: true;
        url?: string;
        token?: string;
        id?: number;
        ok?: boolean;
        value?: unknown;
        error?: string;
      }) => {
        if (message.ready === true) return resolve({ url: message.url as string, token: message.token as string });
        const entry = waiting.get(message.id ?? -1);
        if (entry === undefined) return;
        waiting.delete(message.id as number);
        if (message.ok === true) entry.resolve(message.value);
        else entry.reject(new Error(`emulator child: ${message.error ?? 'failed'}`));
      },
    );
  });
  child.on('exit', () => {
    for (const entry of waiting.values()) entry.reject(new Error('the emulator child exited'));
    waiting.clear();
  });
  child.send(start);
  const { url, token } = await ready;
  const call = <T>(command: EmulatorCommand): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, command });
    });
  let closed: Promise<void> | undefined;
  return {
    url,
    token,
    workbooks: start.workbooks,
    setLatency: (ms) => call({ op: 'setLatency', ms }),
    setFaults: (faults) => call({ op: 'setFaults', faults }),
    injectFault: (spec) => call({ op: 'injectFault', spec }),
    stats: () => call({ op: 'stats' }),
    resetStats: () => call({ op: 'resetStats' }),
    cpuMs: () => call({ op: 'cpu' }),
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        call({ op: 'close' }).catch(() => child.kill());
      });
      return closed;
    },
  };
}
