import { cooldownMs } from './faults.js';

/**
 * The `Retry-After` cooldowns the emulator has announced, per workbook, on the service clock: what a
 * request arriving inside one is counted as (a violation) and, with `strictCooldowns`, refused with.
 */
export class Cooldowns {
  // Per workbook, when the last announced Retry-After ends; only ever lengthened.
  readonly #until = new Map<string, number>();

  /**
   * Starts (or lengthens) the workbook's cooldown for a `Retry-After` value as sent; returns how long
   * the value announces (0 for none, or for no workbook).
   */
  announce(workbook: string | undefined, retryAfter: string, now: number): number {
    const ms = cooldownMs(retryAfter, now);
    // A shorter Retry-After does not shorten a cooldown already announced.
    if (workbook === undefined || ms <= 0) return 0;
    this.#until.set(workbook, Math.max(this.#until.get(workbook) ?? -Infinity, now + ms));
    return ms;
  }

  /** How long the workbook's cooldown still runs; 0 or less when there is none. */
  leftMs(workbook: string, now: number): number {
    return (this.#until.get(workbook) ?? -Infinity) - now;
  }

  /** How long each workbook's cooldown still runs, for those with one running now. */
  running(now: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const [workbook, until] of this.#until) if (until > now) out.set(workbook, until - now);
    return out;
  }
}
