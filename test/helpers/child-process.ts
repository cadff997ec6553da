// Runs TypeScript scripts as real child processes (`node --import tsx`) and watches their output,
// for the tests that need real processes: signals, crashes, several processes on one journal.
import { spawn, type ChildProcess } from 'node:child_process';

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface WatchedChild {
  readonly process: ChildProcess;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** All stderr so far. */
  stderr(): string;
  /** Resolves with the first stdout line matching `pattern`; rejects when the child ends first or after `timeoutMs`. */
  waitForLine(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  /** Resolves when the child has ended; rejects after `timeoutMs`. */
  waitForExit(timeoutMs?: number): Promise<ChildExit>;
  /** Sends SIGKILL and resolves once the child is reaped (so its pid is no longer alive). */
  kill(): Promise<void>;
}

const children = new Set<ChildProcess>();

/** Starts `file` (an absolute path) with `args`, the parent's environment plus `env`. */
export function spawnScript(
  file: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
): WatchedChild {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  children.add(child);
  const lines: string[] = [];
  let stderr = '';
  let partial = '';
  let ended = false;
  const wakers = new Set<() => void>();
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const wake of wakers) wake();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<ChildExit>((resolve) => {
    child.on('close', (code, signal) => {
      children.delete(child);
      ended = true;
      if (partial !== '') lines.push(partial);
      partial = '';
      resolve({ code, signal });
      for (const wake of wakers) wake();
    });
  });
  const output = (): string => `stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`;

  return {
    process: child,
    lines,
    stderr: () => stderr,
    waitForLine(pattern, timeoutMs = 20_000) {
      const matches = (line: string): boolean => (typeof pattern === 'string' ? line === pattern : pattern.test(line));
      return new Promise<string>((resolve, reject) => {
        const check = (): void => {
          const found = lines.find(matches);
          if (found !== undefined) {
            done();
            resolve(found);
          } else if (ended) {
            done();
            reject(new Error(`Child ended before printing ${String(pattern)}\n${output()}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`No line ${String(pattern)} within ${String(timeoutMs)} ms\n${output()}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          wakers.delete(check);
        };
        wakers.add(check);
        check();
      });
    },
    waitForExit(timeoutMs = 20_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Child still running after ${String(timeoutMs)} ms\n${output()}`)),
          timeoutMs,
        );
      });
      return Promise.race([exited, timeout]).finally(() => clearTimeout(timer));
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Kills every child still running and waits until each is reaped (for afterEach). */
export async function killAllChildren(): Promise<void> {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('close', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}
