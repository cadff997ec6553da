import type { FaultKind } from '../../src/testing/index.js';
import {
  isGraphRequestError,
  isManagerShutDownError,
  isSessionClosedError,
  isSessionExpiredError,
} from '../../src/index.js';

/** mulberry32: a small seeded source, so one seed gives one plan of work. */
export function seeded(seed: number): { next(): number; int(max: number): number; pick<T>(items: readonly T[]): T } {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (max: number): number => Math.floor(next() * max);
  return { next, int, pick: <T>(items: readonly T[]): T => items[int(items.length)] as T };
}

/** The seed of a run: `CHAOS_SEED` to replay one, else a fresh one. */
export function chaosSeed(): number {
  const given = process.env['CHAOS_SEED'];
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!Number.isInteger(seed)) throw new TypeError(`CHAOS_SEED must be an integer, got ${JSON.stringify(given)}`);
    return seed;
  }
  return Math.floor(Math.random() * 2 ** 31);
}

/** `CHAOS_ROUNDS`, else 20 under `npm run chaos` and 1 under `npm test`. */
export function chaosRounds(): number {
  const given = process.env['CHAOS_ROUNDS'];
  if (given !== undefined && given !== '') {
    const rounds = Number(given);
    if (!Number.isInteger(rounds) || rounds < 1)
      throw new TypeError(`CHAOS_ROUNDS must be an integer >= 1, got ${JSON.stringify(given)}`);
    return rounds;
  }
  return process.env['npm_lifecycle_event'] === 'chaos' ? 20 : 1;
}

/** `CHAOS_KINDS` (comma-separated fault kinds) to run another random mix, else `fallback`. */
export function chaosKinds(fallback: readonly FaultKind[]): FaultKind[] {
  const given = process.env['CHAOS_KINDS'];
  if (given === undefined || given === '') return [...fallback];
  // The emulator refuses unknown kinds, naming them.
  return given.split(',').map((k) => k.trim()) as FaultKind[];
}

/** Runs `count` tasks, at most `limit` at a time; resolves when all have settled. */
export async function pool(count: number, limit: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

/** The error a chaos task throws on purpose inside a scope. */
export class ChaosBodyError extends Error {
  override readonly name = 'ChaosBodyError';
}

export type Outcome =
  | 'GraphRequestError'
  | 'SessionClosedError'
  | 'SessionExpiredError'
  | 'ManagerShutDownError'
  | 'ChaosBodyError'
  | 'untyped';

/**
 * What a user saw: one of the library's typed errors, our own body error (as is, or as the
 * `suppressed` of a SuppressedError whose `error` is typed), or something untyped (a failure).
 */
export function classify(error: unknown): Outcome {
  if (error instanceof ChaosBodyError) return 'ChaosBodyError';
  if (isGraphRequestError(error)) return 'GraphRequestError';
  if (isSessionClosedError(error)) return 'SessionClosedError';
  if (isSessionExpiredError(error)) return 'SessionExpiredError';
  if (isManagerShutDownError(error)) return 'ManagerShutDownError';
  if (typeof error === 'object' && error !== null && (error as Error).name === 'SuppressedError') {
    const { error: later, suppressed } = error as { error: unknown; suppressed: unknown };
    const closeFailure = classify(later);
    return suppressed instanceof ChaosBodyError && closeFailure !== 'untyped' && closeFailure !== 'ChaosBodyError'
      ? 'ChaosBodyError'
      : 'untyped';
  }
  return 'untyped';
}
