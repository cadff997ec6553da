import { isGraphRequestError } from '../errors.js';
import { isGoneOnClose } from '../session/faults.js';
import { checkKeys, checkNumber, describe } from '../util/validate.js';
import { recoverOrphans, type RecoverOptions, type RecoveryReport, type SessionCloser } from './recovery.js';
import type { JournalEntry, OrphanClaim, SessionStore } from './session-store.js';

export interface OrphanReaperOptions {
  /** The store whose dead owners are reaped: a `RedisSessionStore` shared by the fleet. */
  readonly store: SessionStore;
  /**
   * Closes one orphan (the manager passes a confirmed close through its lanes). A rejection that is
   * a 404 counts as expired: Graph no longer has the session.
   */
  readonly closer: SessionCloser;
  /**
   * Fleet mode: whether a dead owner's session is a shared session live processes still use (the
   * fleet shares that id and used it within the idle timeout). Such a session is not closed under
   * them: it is reported with the live ones, its record stays, and the next pass asks again; once
   * the fleet has left it idle, the answer is no, and it is closed like any orphan. Answering no
   * must also make the fleet forget the session, so that nobody takes it up while it is closed.
   * A question that fails counts as yes (the next pass asks again).
   * @default every orphan is closed
   */
  readonly inUse?: (entry: JournalEntry) => boolean | Promise<boolean>;
  /**
   * The time between the end of one pass and the start of the next; the first pass starts at once.
   * @default 10000
   */
  readonly intervalMs?: number;
  /** Recovery's rules of expiry and concurrency, as `recoverOrphans()` takes them. */
  readonly recover?: Omit<RecoverOptions, 'dryRun' | 'signal'>;
  /** Told after each pass that claimed something. */
  readonly onReport?: (report: RecoveryReport) => void;
  /**
   * Told when a pass failed (Redis unreachable): the next pass tries again.
   * @default nothing
   */
  readonly onError?: (error: unknown) => void;
}

const OPTION_KEYS = ['store', 'closer', 'inUse', 'intervalMs', 'recover', 'onReport', 'onError'];

/**
 * Runs recovery on a timer: every replica of a fleet runs one, and the store's claims make each
 * orphan closed once however many run at once. The timer is unref'd: a reaper never holds the
 * process open.
 */
export class OrphanReaper {
  readonly intervalMs: number;
  readonly #store: SessionStore;
  readonly #closer: SessionCloser;
  readonly #recover: Omit<RecoverOptions, 'dryRun' | 'signal'>;
  readonly #onReport: (report: RecoveryReport) => void;
  readonly #onError: (error: unknown) => void;
  // Aborted by close(): no new close starts, and no pass after it.
  readonly #stop = new AbortController();
  // The pass under way, if any; passes never overlap.
  #running: Promise<RecoveryReport | undefined> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #passes = 0;

  constructor(options: OrphanReaperOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected \`options\` to be an object, got ${describe(options)}`);
    }
    checkKeys('OrphanReaper option', options, OPTION_KEYS);
    if (typeof options.closer !== 'function') {
      throw new TypeError(`Expected \`closer\` to be a function, got ${describe(options.closer)}`);
    }
    const inUse = options.inUse;
    if (inUse !== undefined && typeof inUse !== 'function') {
      throw new TypeError(`Expected \`inUse\` to be a function, got ${describe(inUse)}`);
    }
    this.#store = inUse === undefined ? options.store : leavingInUse(options.store, inUse);
    this.intervalMs = checkNumber('intervalMs', options.intervalMs ?? 10_000, 10, { integer: true });
    const closer = options.closer;
    this.#closer = async (workbook, id, entry) => {
      try {
        return await closer(workbook, id, entry);
      } catch (error) {
        if (isGoneOnClose(error) || (isGraphRequestError(error) && error.status === 404)) return 'expired';
        throw error;
      }
    };
    this.#recover = options.recover ?? {};
    this.#onReport = options.onReport ?? (() => undefined);
    this.#onError = options.onError ?? (() => undefined);
  }

  /** Passes finished, failed ones included. */
  get passes(): number {
    return this.#passes;
  }

  /** Starts the timer, with a first pass at once. */
  start(): this {
    if (this.#timer === undefined && !this.#stop.signal.aborted) this.#schedule(0);
    return this;
  }

  /**
   * One pass now (or the one under way): claims dead owners' sessions and closes them. Resolves
   * its report, or `undefined` when it failed or the reaper is closed.
   */
  runOnce(): Promise<RecoveryReport | undefined> {
    if (this.#stop.signal.aborted) return Promise.resolve(undefined);
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
      this.#passes++;
    });
    return this.#running;
  }

  /** Stops: no pass starts after this; the one under way finishes its closes already sent. */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#stop.abort(new Error('The orphan reaper was closed'));
    await this.#running;
  }

  async #pass(): Promise<RecoveryReport | undefined> {
    try {
      const report = await recoverOrphans(this.#store, this.#closer, { ...this.#recover, signal: this.#stop.signal });
      if (report.closed.length + report.expired.length + report.failed.length > 0) this.#tell(this.#onReport, report);
      return report;
    } catch (error) {
      if (!this.#stop.signal.aborted) this.#tell(this.#onError, error);
      return undefined;
    }
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      void this.runOnce().then(() => {
        if (!this.#stop.signal.aborted) this.#schedule(this.intervalMs);
      });
    }, delayMs);
    this.#timer.unref();
  }

  #tell<T>(listener: (value: T) => void, value: T): void {
    try {
      listener(value);
    } catch {
      // A throwing listener must not stop the reaper.
    }
  }
}

/**
 * `store`, with the orphans of each claim that `inUse` says live processes still use moved to the
 * live ones: recovery leaves them unsettled (their records stay for the next pass) and reports
 * them skipped.
 */
function leavingInUse(store: SessionStore, inUse: (entry: JournalEntry) => boolean | Promise<boolean>): SessionStore {
  const ask = async (entry: JournalEntry): Promise<boolean> => {
    try {
      return await inUse(entry);
    } catch {
      return true;
    }
  };
  return {
    record: (entry) => store.record(entry),
    remove: (id) => store.remove(id),
    close: () => store.close(),
    scan: () => store.scan(),
    claimOrphans: async (options): Promise<OrphanClaim> => {
      const claim = await store.claimOrphans(options);
      const orphans: JournalEntry[] = [];
      const live = [...claim.live];
      for (const entry of claim.orphans) ((await ask(entry)) ? live : orphans).push(entry);
      return { ...claim, orphans, live };
    },
  };
}

/** Starts an {@link OrphanReaper}: a first pass at once, then one every `intervalMs`. */
export function startOrphanReaper(options: OrphanReaperOptions): OrphanReaper {
  return new OrphanReaper(options).start();
}
