import { cooldownMs } from './faults.js';

/**
 * The `Retry-After` cooldowns the emulator has announced, per workbook, on the service clock: what a
 * request arriving inside one is counted as (a violation) and, with `strictCooldowns`, refused with.
 */
export class Cooldowns {
  // Per workbook, when the last announced Retry-After ends; only ever lengthened.
  readonly #until = new Map<string, number>();

  /** Starts (or lengthens) the workbook's cooldown for a `Retry-After` value as sent. */
  announce(workbook: string | undefined, retryAfter: string, now: number): void {
    const ms = cooldownMs(retryAfter, now);
    // A shorter Retry-After does not shorten a cooldown already announced.
    if (workbook === undefined || ms <= 0) return;
    this.#until.set(workbook, Math.max(this.#until.get(workbook) ?? -Infinity, now + ms));
  }

  /** How long the workbook's cooldown still runs; 0 or less when there is none. */
  leftMs(workbook: string, now: number): number {
    return (this.#until.get(workbook) ?? -Infinity) - now;
  }
}
