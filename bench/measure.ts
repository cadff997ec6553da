import { performance } from 'node:perf_hooks';

/** One line of the bench output. `value` is ours; `baseline` is what it is compared with. */
export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline: number;
  readonly ratio: number;
  /** Which way is better for `ratio`. */
  readonly better: 'lower' | 'higher';
  /** The target for `ratio`, when it sets one. */
  readonly target?: number;
  /** Whether the median ratio meets `target`. */
  readonly met?: boolean;
  /** Smallest and largest per-round ratio. */
  readonly spread?: readonly [number, number];
  readonly rounds?: number;
  /** Anything else a reader needs to judge the figure. */
  readonly [extra: string]: unknown;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function spread(values: readonly number[]): [number, number] {
  return [Math.min(...values), Math.max(...values)];
}

/** Milliseconds `fn` took. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** Whether `ratio` meets `target` in the direction `better`. */
export function meets(ratio: number, target: number, better: 'lower' | 'higher'): boolean {
  return better === 'lower' ? ratio <= target : ratio >= target;
}

/** A result from per-round ratios: the median ratio, its spread, and the target check. */
export function result(fields: {
  name: string;
  value: number;
  unit: string;
  baseline: number;
  ratios: readonly number[];
  better: 'lower' | 'higher';
  target?: number;
  extra?: Record<string, unknown>;
}): BenchResult {
  const ratio = median(fields.ratios);
  return {
    name: fields.name,
    value: round(fields.value),
    unit: fields.unit,
    baseline: round(fields.baseline),
    ratio: round(ratio, 3),
    better: fields.better,
    ...(fields.target === undefined ? {} : { target: fields.target, met: meets(ratio, fields.target, fields.better) }),
    spread: spread(fields.ratios).map((r) => round(r, 3)) as [number, number],
    rounds: fields.ratios.length,
    ...fields.extra,
  };
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Lets pending timers and I/O run, so one measurement does not bleed into the next. */
export function settle(ms = 20): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A full garbage collection (the bench runs with --expose-gc), then the heap in use. */
export async function collectGarbage(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('Run the bench with node --expose-gc (npm run bench does)');
  for (let i = 0; i < 3; i++) {
    gc();
    await settle(5);
  }
  return process.memoryUsage().heapUsed;
}

/** Runs `tasks` with at most `limit` at once. */
export async function inParallel<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await task(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
