/**
 * The fleet demo's worker processes (fleet-worker.ts, one each), seen from the demo: their stdout
 * lines by kind, and a way to wait for one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('./fleet-worker.ts', import.meta.url));

/** A line a worker printed: its kind (`ready`, `event`, `holding`, `reaped`, `done`) and its fields. */
export interface WorkerLine {
  readonly kind: string;
  readonly fields: Record<string, unknown>;
}

export interface DemoWorker {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  /** Every line so far. */
  readonly lines: WorkerLine[];
  /** Resolves with the first line of `kind`; rejects if the worker ends first or after `timeoutMs`. */
  line(kind: string, timeoutMs?: number): Promise<WorkerLine>;
  /** Resolves when the process has ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

export function startDemoWorker(
  name: string,
  env: Record<string, string>,
  onLine: (worker: DemoWorker, line: WorkerLine) => void,
): DemoWorker {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env, NAME: name },
  });
  const lines: WorkerLine[] = [];
  // Waiters for a kind of line; each removes itself when it resolves, rejects or times out.
  const wakers = new Set<() => void>();
  let stderr = '';
  let partial = '';
  let ended = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      ended = true;
      resolve({ code, signal });
      for (const wake of wakers) wake();
    });
  });
  const worker: DemoWorker = {
    name,
    pid: child.pid ?? -1,
    process: child,
    lines,
    exited,
    stderr: () => stderr,
    line(kind, timeoutMs = 30_000) {
      return new Promise<WorkerLine>((resolve, reject) => {
        const timer = setTimeout(() => {
          wakers.delete(check);
          reject(new Error(`${name} printed no \`${kind}\` line within ${timeoutMs} ms; stderr: ${stderr}`));
        }, timeoutMs);
        const check = (): void => {
          const found = lines.find((l) => l.kind === kind);
          if (found === undefined && !ended) return;
          clearTimeout(timer);
          wakers.delete(check);
          if (found !== undefined) resolve(found);
          else reject(new Error(`${name} ended before printing \`${kind}\`; stderr: ${stderr}`));
        };
        wakers.add(check);
        check();
      });
    },
  };
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) {
      const space = text.indexOf(' ');
      const kind = space === -1 ? text : text.slice(0, space);
      const fields = space === -1 ? {} : (JSON.parse(text.slice(space + 1)) as Record<string, unknown>);
      const line = { kind, fields };
      lines.push(line);
      onLine(worker, line);
    }
    for (const wake of wakers) wake();
  });
  return worker;
}
