// What the kill, pause and Redis-kill tests share: replicas of test/fixtures/fleet/lane-worker.ts
// driven over stdin, and a watch on the emulator counting requests in flight on one workbook.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkbookService } from '../../src/testing/index.js';
import { spawnScript, type WatchedChild } from '../helpers/child-process.js';

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/fleet/lane-worker.ts');

/** One call's outcome as a worker prints it; times are epoch ms. */
export interface CallResult {
  readonly ok: boolean;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
}

/** What a worker reports once shut down, with its exit code and stderr. */
export interface ShutdownReport {
  readonly leftOpen: number;
  readonly lostLeases: number;
  readonly totals: { readonly opened: number; readonly closed: number; readonly retries: number };
  readonly stderr: string;
  readonly code: number | null;
}

export interface LaneWorker {
  readonly child: WatchedChild;
  /** Sends one command line (see the fixture). */
  send(command: string): void;
  /** Opens and holds a session on `book`. */
  open(book: string): Promise<void>;
  /** The result of `call <book> <tag>`, once printed. */
  result(tag: string, timeoutMs?: number): Promise<CallResult>;
  /** Whether `call ... <tag>` has printed its result yet. */
  answered(tag: string): boolean;
  /** Every `loop <book>` result printed so far. */
  loopResults(book: string): CallResult[];
  /** The `leaseLost` lines so far. */
  lostLeases(): string[];
  /** Sends SIGTERM and resolves the `done` report once the worker has exited. */
  shutdown(): Promise<ShutdownReport>;
}

/** Starts a worker and resolves once it is connected to Redis. */
export async function startLaneWorker(env: Record<string, string>): Promise<LaneWorker> {
  const child = spawnScript(WORKER, [], env);
  await child.waitForLine('ready');
  const parse = (line: string, prefix: string): CallResult => JSON.parse(line.slice(prefix.length)) as CallResult;
  const send = (command: string): void => {
    child.process.stdin?.write(`${command}\n`);
  };
  return {
    child,
    send,
    async open(book) {
      send(`open ${book}`);
      await child.waitForLine(new RegExp(`^(opened|openFailed) ${book}( |$)`));
      if (!child.lines.includes(`opened ${book}`)) throw new Error(`open ${book} failed:\n${child.lines.join('\n')}`);
    },
    async result(tag, timeoutMs) {
      const prefix = `called ${tag} `;
      return parse(await child.waitForLine(new RegExp(`^${prefix}`), timeoutMs), prefix);
    },
    answered(tag) {
      return child.lines.some((line) => line.startsWith(`called ${tag} `));
    },
    loopResults(book) {
      const prefix = `loop ${book} `;
      return child.lines.filter((line) => line.startsWith(prefix)).map((line) => parse(line, prefix));
    },
    lostLeases() {
      return child.lines.filter((line) => line.startsWith('leaseLost '));
    },
    async shutdown() {
      child.process.kill('SIGTERM');
      const exit = await child.waitForExit(20_000);
      const done = child.lines.find((line) => line.startsWith('done '));
      const report = JSON.parse(done?.slice('done '.length) ?? '{}') as Omit<ShutdownReport, 'stderr' | 'code'>;
      return { ...report, stderr: child.stderr(), code: exit.code };
    },
  };
}

/** Requests in flight on one workbook, sampled every millisecond from the emulator. */
export interface InFlightWatch {
  /** The most seen at once. */
  readonly max: number;
  /** About how long two or more ran at once, in total (ms, at the sampling's resolution). */
  readonly overlapMs: number;
  /** The most seen at once since `since` (epoch ms). */
  maxSince(since: number): number;
  /** Resolves once `n` requests are in flight on the workbook. */
  until(n: number, timeoutMs?: number): Promise<void>;
  stop(): void;
}

export function watchInFlight(service: WorkbookService, workbook: string): InFlightWatch {
  const samples: { at: number; n: number }[] = [];
  let max = 0;
  let overlapMs = 0;
  let last = Date.now();
  const waiters = new Set<{ n: number; resolve: () => void }>();
  const sample = (): void => {
    const now = Date.now();
    const n = service.activity().find((a) => a.workbook === workbook)?.inFlight ?? 0;
    const previous = samples.at(-1);
    if (previous !== undefined && previous.n >= 2) overlapMs += now - last;
    last = now;
    if (previous?.n !== n) samples.push({ at: now, n });
    max = Math.max(max, n);
    for (const waiter of waiters) {
      if (n < waiter.n) continue;
      waiters.delete(waiter);
      waiter.resolve();
    }
  };
  const timer = setInterval(sample, 1);
  sample();
  return {
    get max() {
      return max;
    },
    get overlapMs() {
      return overlapMs;
    },
    maxSince(since) {
      // The count in force at `since` is the last change before it.
      const before = samples.filter((s) => s.at <= since).at(-1)?.n ?? 0;
      return Math.max(before, ...samples.filter((s) => s.at > since).map((s) => s.n));
    },
    until(n, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const waiter = {
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`Never ${n} requests in flight on ${workbook} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(waiter);
        sample();
      });
    },
    stop() {
      clearInterval(timer);
    },
  };
}
