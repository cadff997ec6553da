/**
 * The demo's running commentary: one line per session event, per workbook, and a tally per workbook
 * for the summary. Everything here comes from the manager's public events.
 */
import type { SessionManager } from '../../src/index.js';

export interface WorkbookTally {
  opened: number;
  reopened: number;
  closed: number;
  /** Closed sessions by reason: disposed, idle, shutdown, ... */
  closedBy: Record<string, number>;
  expired: number;
  retried: number;
  closeFailed: number;
}

export class Progress {
  readonly #quiet: boolean;
  readonly #started = Date.now();
  // Short names for workbook paths, set by label(); used in every line.
  readonly #labels = new Map<string, string>();
  // Per workbook (by path), filled by the event listeners.
  readonly #tallies = new Map<string, WorkbookTally>();

  constructor(options: { quiet: boolean }) {
    this.#quiet = options.quiet;
  }

  /** Names a workbook in the output. */
  label(workbook: string, name: string): void {
    this.#labels.set(workbook, name);
  }

  /** A workbook's name in the output: its label, or its path when it has none. */
  labelOf(workbook: string): string {
    return this.#labels.get(workbook) ?? workbook;
  }

  /** A phase of the demo. */
  step(title: string): void {
    this.#print(`\n${title}`);
  }

  /** A remark inside a phase. */
  note(text: string): void {
    this.#print(`${this.#time()}  ${''.padEnd(8)}  ${text}`);
  }

  /** Prints and counts what `sessions` does. */
  watch(sessions: SessionManager): void {
    sessions.on('opened', ({ id, workbook, persistChanges }) => {
      this.#tally(workbook).opened++;
      this.#line(workbook, 'opened', `${id}  ${persistChanges ? 'persistent' : 'non-persistent'}`);
    });
    sessions.on('reopened', ({ id, workbook, previousId, reason }) => {
      this.#tally(workbook).reopened++;
      this.#line(
        workbook,
        'reopened',
        `${id}  (${previousId} was ${reason}; a persistent session is reopened on its next call)`,
      );
    });
    sessions.on('closed', ({ id, workbook, reason, alreadyExpired }) => {
      const t = this.#tally(workbook);
      t.closed++;
      t.closedBy[reason] = (t.closedBy[reason] ?? 0) + 1;
      this.#line(
        workbook,
        'closed',
        `${id}  reason: ${reason}${alreadyExpired ? ' (already gone on the server)' : ''}`,
      );
    });
    sessions.on('expired', ({ id, workbook }) => {
      this.#tally(workbook).expired++;
      this.#line(workbook, 'expired', `${id}  the server no longer knows it`);
    });
    sessions.on('retried', ({ workbook, method, path, status, code, delayMs, cooldown, attempt }) => {
      this.#tally(workbook).retried++;
      const call = `${method} ${path.slice(path.indexOf('/workbook/') + '/workbook'.length)}`;
      const wait = cooldown ? `lane paused ${delayMs} ms for Retry-After` : `backoff ${delayMs} ms`;
      this.#line(
        workbook,
        'retried',
        `${call} after ${status ?? code ?? 'a network error'}; ${wait} (attempt ${attempt + 1} next)`,
      );
    });
    sessions.on('closeFailed', ({ id, workbook, error }) => {
      this.#tally(workbook).closeFailed++;
      this.#line(workbook, 'FAILED', `${id}  close failed: ${error instanceof Error ? error.message : String(error)}`);
    });
  }

  tallies(): Record<string, WorkbookTally> {
    return Object.fromEntries([...this.#tallies].map(([workbook, tally]) => [this.labelOf(workbook), tally]));
  }

  #tally(workbook: string): WorkbookTally {
    let tally = this.#tallies.get(workbook);
    if (tally === undefined) {
      tally = { opened: 0, reopened: 0, closed: 0, closedBy: {}, expired: 0, retried: 0, closeFailed: 0 };
      this.#tallies.set(workbook, tally);
    }
    return tally;
  }

  #line(workbook: string, what: string, detail: string): void {
    this.#print(`${this.#time()}  ${this.labelOf(workbook).padEnd(8)}  ${what.padEnd(8)}  ${detail}`);
  }

  #time(): string {
    return `${((Date.now() - this.#started) / 1000).toFixed(2).padStart(6)}s`;
  }

  #print(text: string): void {
    if (!this.#quiet) console.log(text);
  }
}
