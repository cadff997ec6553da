import { EventEmitter, setMaxListeners } from 'node:events';
import type { Client } from '@microsoft/microsoft-graph-client';
import { abortReason } from '../util/abort.js';
import {
  ManagerShutDownError,
  isGraphRequestError,
  type GraphRequestError,
  isSessionClosedError,
  suppressedError,
} from '../errors.js';
import { registerExitHooks, type ExitHookParticipant } from '../lifecycle/exit-hooks.js';
import { shortId } from '../util/ids.js';
import { IdleReaper } from '../lifecycle/idle-reaper.js';
import { SessionJournal } from '../journal/journal.js';
import { recoverOrphans, type RecoverOptions, type RecoveryReport } from '../journal/recovery.js';
import { Priority, Scheduler } from '../coordination/scheduler.js';
import type { CloseReason, ShutdownReport, ShutdownSessionOutcome } from '../types.js';
import { checkBoolean, checkKeys, checkNumber, checkSignal, describe } from '../util/validate.js';
import { MAX_TIMER_MS } from '../util/timers.js';
import {
  GraphTransport,
  type CreatedSession,
  type RetryEvent,
  type TransportOptions,
} from '../transport/graph-transport.js';
import { WorkbookResolver, parseWorkbookRef } from '../transport/workbook-ref.js';
import { SessionCore, closeConfirmed, type SessionHost, type WorkbookSession } from '../session/workbook-session.js';

/** Where the manager writes what it does. Any of `console`, pino or winston fits. */
export interface Logger {
  debug?(message: string, data?: Record<string, unknown>): void;
  info?(message: string, data?: Record<string, unknown>): void;
  warn?(message: string, data?: Record<string, unknown>): void;
  error?(message: string, data?: Record<string, unknown>): void;
}

export interface SessionManagerOptions {
  /** A `@microsoft/microsoft-graph-client` `Client`. See `createGraphClient()` and `createBearerClient()`. */
  readonly client: Client;
  /**
   * Requests in flight at once across all workbooks.
   * @default 16
   */
  readonly concurrency?: number;
  /**
   * Requests in flight at once on one workbook. Graph advises one: send the next request only after
   * the current one answered.
   * @default 1
   */
  readonly perWorkbookConcurrency?: number;
  /**
   * Retries of one request after its first attempt.
   * @default 5
   */
  readonly retries?: number;
  /**
   * First backoff delay when Graph gives no `Retry-After`; doubles each retry, with jitter.
   * @default 500
   */
  readonly retryBaseDelayMs?: number;
  /**
   * Largest backoff delay.
   * @default 30000
   */
  readonly retryMaxDelayMs?: number;
  /**
   * No retry starts later than this after a request's first attempt.
   * @default 120000
   */
  readonly retryDeadlineMs?: number;
  /**
   * A session with no call for this long is closed. Infinity turns idle closing off.
   * @default 120000 (2 minutes, under Graph's 5-minute expiry)
   */
  readonly idleTimeoutMs?: number;
  /**
   * Refresh sessions that are kept longer than Graph would keep them (see `keepAliveIntervalMs`).
   * @default true
   */
  readonly keepAlive?: boolean;
  /**
   * With `keepAlive`, a session Graph has not heard from for this long is refreshed.
   * @default 240000 (4 minutes, a minute before Graph's 5-minute expiry)
   */
  readonly keepAliveIntervalMs?: number;
  /**
   * How long a shutdown (on a signal, `beforeExit`, or `shutdown()` without `timeoutMs`) waits for closes.
   * @default 10000
   */
  readonly shutdownTimeoutMs?: number;
  /**
   * Close sessions when the process is asked to stop (SIGINT, SIGTERM, SIGHUP, SIGBREAK) or its
   * event loop empties. Turn off when the application runs its own graceful shutdown and calls `shutdown()`.
   * @default true
   */
  readonly exitHooks?: boolean;
  /**
   * First wait before polling a long-running createSession; doubles up to 30 s. At least 10.
   * @default 1000
   */
  readonly pollIntervalMs?: number;
  /**
   * How long a long-running createSession may take.
   * @default 240000
   */
  readonly operationTimeoutMs?: number;
  /**
   * How long one request may wait for its answer; then it is cut off and counts as a network
   * failure (retried only where idempotent). A close's wait is also cut off by a shutdown's deadline.
   * Infinity turns the limit off.
   * @default 60000
   */
  readonly requestTimeoutMs?: number;
  /**
   * A journal of open sessions, so that a crash's leftovers are closed on the next start: a file
   * or directory path, or a `SessionJournal`.
   */
  readonly journal?: { readonly path: string } | SessionJournal;
  /**
   * With a journal, close the sessions of processes that are gone when the manager starts.
   * @default false
   */
  readonly recoverOnStart?: boolean;
  /** Where to write what the manager does. Nothing is written without one. */
  readonly logger?: Logger;
  /**
   * Before the first session on a workbook reference, ask Graph which file it names
   * (`GET {item}?$select=id,parentReference`, once per reference per manager), so that every name
   * of one file (`/me/drive/items/X`, `/drives/D/items/X`, its `root:` path) shares one lane and
   * one cooldown. A reference Graph cannot resolve fails `open()` and no session is created. Off,
   * only spellings of one reference share a lane.
   * @default true
   */
  readonly resolveWorkbooks?: boolean;
}

export interface OpenOptions {
  /**
   * Whether the session's changes are saved to the file. A non-persistent session works on its
   * own copy, which is dropped when it ends.
   * @default true
   */
  readonly persistChanges?: boolean;
  /** Aborts the open. A session Graph creates anyway is closed in the background. */
  readonly signal?: AbortSignal;
}

export interface ShutdownOptions {
  /** @default the manager's `shutdownTimeoutMs` */
  readonly timeoutMs?: number;
  /** Stop waiting at once; closes already sent go on. */
  readonly signal?: AbortSignal;
}

export interface SessionStats {
  /** Sessions open now. */
  readonly open: number;
  readonly opening: number;
  readonly closing: number;
  /** Sessions whose close failed and that are still kept for another try. */
  readonly closeFailed: number;
  readonly queued: number;
  readonly inFlight: number;
  /** Workbooks with work queued, running or cooling down. */
  readonly lanes: number;
  readonly totals: {
    readonly opened: number;
    readonly closed: number;
    readonly expired: number;
    readonly reopened: number;
    readonly retries: number;
    readonly closeFailures: number;
  };
}

export interface SessionEventInfo {
  /** The session id, shortened. */
  readonly id: string;
  /** The workbook reference in its canonical spelling, as the handle's `workbook` shows it. */
  readonly workbook: string;
}

/** The events a manager emits, with what each carries. Ids are always shortened. */
export interface SessionEvents {
  opened: [SessionEventInfo & { readonly persistChanges: boolean }];
  closed: [SessionEventInfo & { readonly reason: CloseReason; readonly alreadyExpired: boolean }];
  closeFailed: [SessionEventInfo & { readonly reason: CloseReason; readonly error: unknown }];
  retried: [RetryEvent];
  expired: [SessionEventInfo];
  reopened: [SessionEventInfo & { readonly previousId: string; readonly reason: CloseReason }];
  /**
   * A handle that ended for good with the reason `failed`: Graph refused to go on with its session
   * (an `invalidSession*` code other than ReCreatable, `internalServerErrorUncategorized`), or
   * `MAX_RECREATES_IN_A_ROW` sessions in a row faulted.
   */
  ended: [SessionEventInfo & { readonly reason: CloseReason }];
  /**
   * Graph created a session that cannot be closed, and it stays open on the server until Graph
   * expires it: its id cannot be sent in a header, or its id never arrived (a long-running create
   * succeeded and its session's details could not be read). The open (or reopen) fails with this error.
   */
  unclosable: [{ readonly workbook: string; readonly error: GraphRequestError }];
}

const OPTION_KEYS = [
  'client',
  'concurrency',
  'perWorkbookConcurrency',
  'retries',
  'retryBaseDelayMs',
  'retryMaxDelayMs',
  'retryDeadlineMs',
  'idleTimeoutMs',
  'keepAlive',
  'keepAliveIntervalMs',
  'shutdownTimeoutMs',
  'exitHooks',
  'pollIntervalMs',
  'operationTimeoutMs',
  'requestTimeoutMs',
  'journal',
  'recoverOnStart',
  'logger',
  'resolveWorkbooks',
] as const;

const DEFAULTS = {
  concurrency: 16,
  perWorkbookConcurrency: 1,
  retries: 5,
  retryBaseDelayMs: 500,
  retryMaxDelayMs: 30_000,
  retryDeadlineMs: 120_000,
  idleTimeoutMs: 120_000,
  keepAlive: true,
  keepAliveIntervalMs: 240_000,
  shutdownTimeoutMs: 10_000,
  exitHooks: true,
  pollIntervalMs: 1_000,
  operationTimeoutMs: 240_000,
  requestTimeoutMs: 60_000,
  recoverOnStart: false,
  resolveWorkbooks: true,
} as const;

/** The shortest first wait between polls of a long-running createSession. */
const MIN_POLL_INTERVAL_MS = 10;

type Settings = { -readonly [K in keyof typeof DEFAULTS]: (typeof DEFAULTS)[K] extends boolean ? boolean : number };

/**
 * Opens workbook sessions and makes sure each one is closed: when its scope ends, when it goes
 * idle, when the process is asked to stop, and (with a journal) after a crash.
 */
export class SessionManager extends EventEmitter<SessionEvents> implements AsyncDisposable, ExitHookParticipant {
  readonly #settings: Settings;
  readonly #transport: GraphTransport;
  readonly #scheduler: Scheduler;
  readonly #resolver: WorkbookResolver;
  readonly #reaper: IdleReaper<SessionCore>;
  readonly #host: SessionHost;
  readonly #logger: Logger | undefined;
  readonly #journal: SessionJournal | undefined;
  // Every session from create until Graph confirmed its end; a session whose close failed stays for another try.
  readonly #sessions = new Set<SessionCore>();
  // Creates (and reopens) under way, with their workbook; each settles into #sessions or into a background close.
  readonly #creating = new Map<Promise<unknown>, string>();
  // Aborted when a shutdown has made its report: creates still under way then stop waiting (a
  // polling long-running create included), and whatever Graph still gives for them is closed on
  // arrival; a look-up and the recovery begun at start stop too.
  readonly #stopCreates = new AbortController();
  // Journal records being written, by session id; a remove waits for the record of its id.
  readonly #recording = new Map<string, Promise<void>>();
  // Journal writes and background closes under way, awaited by shutdown.
  readonly #background = new Set<Promise<unknown>>();
  // Set by registerExitHooks when exitHooks is on; cleared by uninstallExitHooks or shutdown.
  #uninstallHooks: (() => void) | undefined;
  // Set by the first shutdown and returned to every later caller.
  #shutdown: Promise<ShutdownReport> | undefined;
  // Set when a shutdown starts closing sessions (its deadline, each session's outcome); never cleared.
  #shutdownCloses: ShutdownClosing | undefined;
  #opening = 0;
  readonly #totals = { opened: 0, closed: 0, expired: 0, reopened: 0, retries: 0, closeFailures: 0 };

  constructor(options: SessionManagerOptions) {
    super();
    if (typeof options !== 'object' || options === null)
      throw new TypeError(`Expected SessionManager options to be an object, got ${describe(options)}`);
    checkKeys('SessionManager option', options, OPTION_KEYS);
    const client = options.client as unknown;
    if (typeof client !== 'object' || client === null || typeof (client as { api?: unknown }).api !== 'function') {
      throw new TypeError(
        `Expected \`client\` to be a Graph Client (from @microsoft/microsoft-graph-client), got ${describe(client)}`,
      );
    }
    this.#settings = settingsFrom(options);
    this.#logger = checkLogger(options.logger);
    const s = this.#settings;
    this.#resolver = new WorkbookResolver(async (path) => {
      const answer = await this.#transport.request(
        path,
        // Cut off when a shutdown has made its report, like the creates it precedes: a look-up changes
        // nothing on the server, and one left hanging would hold the process for requestTimeoutMs.
        { method: 'GET', path, query: { $select: 'id,parentReference' }, deadline: this.#stopCreates.signal },
        { priority: Priority.call, idempotent: true },
      );
      return answer.body;
    });
    this.#scheduler = new Scheduler({
      concurrency: s.concurrency,
      perWorkbookConcurrency: s.perWorkbookConcurrency,
      laneOf: (workbook) => this.#resolver.laneOf(workbook),
    });
    const transportOptions: TransportOptions = {
      // A session Graph gave for a create nobody waits for any more (aborted, timed out) is closed at once.
      onLateSession: (workbook, created) => this.#closeLate(workbook, created),
      client: options.client,
      scheduler: this.#scheduler,
      policy: {
        retries: s.retries,
        baseDelayMs: s.retryBaseDelayMs,
        maxDelayMs: s.retryMaxDelayMs,
        deadlineMs: s.retryDeadlineMs,
      },
      pollIntervalMs: s.pollIntervalMs,
      operationTimeoutMs: s.operationTimeoutMs,
      requestTimeoutMs: s.requestTimeoutMs,
      now: () => Date.now(),
      random: Math.random,
      onRetry: (event) => {
        this.#totals.retries++;
        this.#log('debug', 'retrying a request', { ...event });
        this.emit('retried', event);
      },
      onUnsendableId: (workbook, error) => {
        const why = error.kind === 'unsendable-id' ? 'its id cannot be sent in a header' : 'its id never arrived';
        this.#log('warn', `a session was created that cannot be closed: ${why}; it stays open until Graph expires it`, {
          workbook,
          error: errorText(error),
        });
        this.emit('unclosable', { workbook, error });
      },
    };
    this.#transport = new GraphTransport(transportOptions);
    // Every create under way listens to it (its queue wait, its polling): many listeners are expected.
    setMaxListeners(0, this.#stopCreates.signal);
    this.#reaper = new IdleReaper((core, now) => this.#due(core, now));
    this.#host = this.#makeHost();
    this.#journal = journalFrom(options.journal);
    // Refused before the hooks go in: a constructor that throws must leave no process listener behind.
    if (s.recoverOnStart && this.#journal === undefined) throw new TypeError('`recoverOnStart` needs a `journal`');
    if (s.exitHooks) this.#uninstallHooks = registerExitHooks(this);
    if (s.recoverOnStart) {
      this.#track(
        // Stopped with the creates when a shutdown has made its report: its closes are this
        // manager's work, and none may be resent after shutdown() resolved.
        this.recover({ signal: this.#stopCreates.signal }).catch((error: unknown) =>
          this.#log('warn', 'recovering sessions left by earlier processes failed', { error: errorText(error) }),
        ),
      );
    }
  }

  /** The deadline of a shutdown, in ms. */
  get shutdownTimeoutMs(): number {
    return this.#settings.shutdownTimeoutMs;
  }

  /** True once `shutdown()` began (or the process started stopping): `open()` is refused. */
  get shuttingDown(): boolean {
    return this.#shutdown !== undefined;
  }

  /**
   * Opens a session on a workbook, named by its drive-item path (`/me/drive/items/{id}`,
   * `/drives/{d}/root:/{path}:`, ...). Resolves to a handle; `await using` closes it at the end of
   * the scope. With `resolveWorkbooks`, the first open of a reference asks Graph which file it is.
   */
  async open(workbook: string, options: OpenOptions = {}): Promise<WorkbookSession> {
    const ref = parseWorkbookRef(workbook);
    const path = ref.path;
    if (typeof options !== 'object' || options === null)
      throw new TypeError(`Expected open options to be an object, got ${describe(options)}`);
    checkKeys('open option', options, ['persistChanges', 'signal']);
    const persistChanges =
      options.persistChanges === undefined ? true : checkBoolean('persistChanges', options.persistChanges);
    const signal = checkSignal('signal', options.signal);
    if (this.#shutdown !== undefined) throw new ManagerShutDownError();
    if (signal?.aborted) throw abortReason(signal);

    const core = new SessionCore(this.#host, path, persistChanges);
    this.#opening++;
    // First which file this is (its lane), once per reference. The create is not tied to `signal`:
    // if the caller gives up, the answer must still arrive, so the session it names can be closed
    // rather than leaked; only a shutdown stops waiting for it (and closes what it yields later).
    const resolved = this.#settings.resolveWorkbooks ? this.#resolver.resolve(ref) : Promise.resolve('');
    const create = resolved.then(
      () => {
        // Given up while the file was looked up: nothing was created, so nothing needs closing.
        if (signal?.aborted === true) throw abortReason(signal);
        if (this.#shutdown !== undefined) throw new ManagerShutDownError();
        return this.#transport.createSession(path, persistChanges, this.#stopCreates.signal);
      },
      (error: unknown) => {
        // The look-up was cut off by the shutdown, not refused by Graph.
        if (this.#stopCreates.signal.aborted) throw new ManagerShutDownError();
        throw error;
      },
    );
    const created = create.then(
      async (session) => {
        this.#opening--;
        core.opened(session, Date.now());
        // Rejects, and closes the session, when a shutdown began meanwhile.
        await this.#host.tracked(core, undefined);
        return core;
      },
      (error: unknown) => {
        this.#opening--;
        throw error;
      },
    );
    this.#creating.set(created, path);
    const forget = (): void => void this.#creating.delete(created);
    created.then(forget, forget);
    return this.#handOut(created, signal);
  }

  /**
   * The one place an open's outcome is decided: whichever comes first, the session or the abort,
   * wins. A session that arrives after the caller gave up is closed; once the handle is handed out,
   * a later abort changes nothing (the caller owns it).
   */
  #handOut(created: Promise<SessionCore>, signal: AbortSignal | undefined): Promise<WorkbookSession> {
    return new Promise((resolve, reject) => {
      let decided = false;
      const onAbort = (): void => {
        if (decided) return;
        decided = true;
        reject(abortReason(signal as AbortSignal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      created.then(
        (core) => {
          signal?.removeEventListener('abort', onAbort);
          if (!decided) {
            decided = true;
            return resolve(core.handle);
          }
          this.#track(core.close('disposed').catch(() => undefined));
        },
        (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          if (decided) return;
          decided = true;
          reject(error);
        },
      );
    });
  }

  /**
   * Runs `fn` with an open session and closes it afterwards, whatever `fn` does: the guarantee of
   * `await using`, for code that cannot use it. When `fn` throws and the close fails too, the
   * error is a `SuppressedError` whose `suppressed` is `fn`'s error.
   */
  async withSession<T>(
    workbook: string,
    fn: (session: WorkbookSession) => T | Promise<T>,
    options?: OpenOptions,
  ): Promise<T> {
    if (typeof fn !== 'function') throw new TypeError(`Expected \`fn\` to be a function, got ${describe(fn)}`);
    const session = await this.open(workbook, options);
    let result: T;
    try {
      result = await fn(session);
    } catch (error) {
      try {
        await session.close();
      } catch (closeError) {
        throw suppressedError(closeError, error, 'The workbook session could not be closed after the callback failed');
      }
      throw error;
    }
    await session.close();
    return result;
  }

  /**
   * Closes every session and refuses new ones. Resolves by the deadline with a report of what was
   * closed, what had already expired, what failed and what was left open. Every call returns the
   * same promise.
   */
  shutdown(options: ShutdownOptions = {}): Promise<ShutdownReport> {
    if (this.#shutdown !== undefined) return this.#shutdown;
    if (typeof options !== 'object' || options === null)
      throw new TypeError(`Expected shutdown options to be an object, got ${describe(options)}`);
    checkKeys('shutdown option', options, ['timeoutMs', 'signal', 'reason']);
    const timeoutMs =
      options.timeoutMs === undefined
        ? this.#settings.shutdownTimeoutMs
        : checkNumber('timeoutMs', options.timeoutMs, 0);
    const signal = checkSignal('signal', options.signal);
    this.#shutdown = this.#runShutdown(timeoutMs, signal);
    return this.#shutdown;
  }

  /** Closes every session and refuses new ones; `await using sessions = new SessionManager(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  /**
   * Closes sessions recorded in the journal by processes that are gone. Sessions of live processes
   * are never touched; those past Graph's expiry need nothing and are dropped.
   */
  recover(options: Omit<RecoverOptions, 'now'> = {}): Promise<RecoveryReport> {
    if (this.#journal === undefined) return Promise.reject(new TypeError('`recover()` needs the `journal` option'));
    return recoverOrphans(
      this.#journal,
      (workbook, id, entry) => {
        // The file as the process that opened the session resolved it: one lane for all its names.
        if (entry.file !== undefined) this.#resolver.learn(workbook, entry.file);
        return closeConfirmed(this.#transport, workbook, id, options.signal);
      },
      options,
    );
  }

  /** Removes this manager's process hooks (signals, `beforeExit`); `shutdown()` stays yours to call. */
  uninstallExitHooks(): void {
    this.#uninstallHooks?.();
    this.#uninstallHooks = undefined;
  }

  /** Sessions open or closing now (for the exit warning). */
  openSessionCount(): number {
    let count = this.#opening;
    for (const core of this.#sessions) if (core.state !== 'closed' || core.closeError !== undefined) count++;
    return count;
  }

  stats(): SessionStats {
    let open = 0;
    let closing = 0;
    let closeFailed = 0;
    for (const core of this.#sessions) {
      if (core.state === 'open') open++;
      else if (core.state === 'closing') closing++;
      else if (core.closeError !== undefined) closeFailed++;
    }
    return {
      open,
      opening: this.#opening,
      closing,
      closeFailed,
      queued: this.#scheduler.queued,
      inFlight: this.#scheduler.running,
      lanes: this.#scheduler.lanes,
      totals: { ...this.#totals },
    };
  }

  async #runShutdown(timeoutMs: number, signal: AbortSignal | undefined): Promise<ShutdownReport> {
    const started = Date.now();
    this.#log('info', 'shutting down', { sessions: this.#sessions.size, timeoutMs });
    // Aborted when the deadline passes or the caller's signal fires: closes still waiting (in a lane,
    // a backoff, a cooldown) stop then, so nothing of ours runs on after shutdown() resolves.
    const deadline = new AbortController();
    // Every close listens to it (its queue wait, its backoff, its fetch): many listeners are expected.
    setMaxListeners(0, deadline.signal);
    // setTimeout fires at once past 2^31-1 ms: a longer deadline (about 24.8 days) is cut to that.
    const timer = setTimeout(
      () => deadline.abort(new Error(`shutdown deadline of ${timeoutMs} ms passed`)),
      Math.min(timeoutMs, 2 ** 31 - 1),
    );
    timer.unref();
    const onAbort = (): void => deadline.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const closing: ShutdownClosing = { deadline: deadline.signal, outcomes: new Map(), closes: new Set(), over: false };
    this.#shutdownCloses = closing;
    for (const core of this.#sessions) this.#closeForShutdown(core);
    // Sessions still being created (or reopened) are closed by tracked() as soon as they exist, and
    // join `closing` then: wait until nothing of ours is left under way.
    const work = (async () => {
      for (;;) {
        const pending = [...closing.closes, ...this.#creating.keys(), ...this.#background];
        if (pending.length === 0) break;
        await Promise.allSettled(pending);
      }
      await this.#journal?.close();
    })();
    const finished = await waitUntil(work, deadline.signal);
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    // Uninstalled only now: while the closes run, a second signal must still reach the hooks.
    this.uninstallExitHooks();
    this.#reaper.dispose();
    // Not finished: a cooldown may still pause a lane (its closes gave up waiting), but whatever
    // still waits there must not hold the process for as long as Graph asked to wait.
    if (finished) this.#scheduler.dispose();
    else this.#scheduler.release();
    const sessions: ShutdownSessionOutcome[] = [...closing.outcomes].map(([core, settled]) => {
      const outcome = settled ?? 'pending';
      return {
        id: shortId(core.id),
        workbook: core.workbook,
        outcome,
        ...(outcome === 'failed' ? { error: errorText(core.closeError) } : {}),
      };
    });
    // Creates given up in flight: Graph may still make their sessions (closed on arrival, if the
    // process lives that long), so they are reported as possibly open, without an id yet.
    const creating = [...this.#creating.values()];
    for (const workbook of creating) sessions.push({ id: '(creating)', workbook, outcome: 'pending' });
    closing.over = true;
    this.#stopCreates.abort(new ManagerShutDownError());
    const count = (kind: ShutdownSessionOutcome['outcome']): number =>
      sessions.filter((s) => s.outcome === kind).length;
    const report: ShutdownReport = {
      closed: count('closed'),
      expired: count('expired'),
      failed: count('failed'),
      leftOpen: count('pending') + count('failed'),
      timedOut: !finished,
      durationMs: Date.now() - started,
      sessions,
    };
    this.#log(report.leftOpen === 0 ? 'info' : 'warn', 'shut down', { ...report, sessions: undefined });
    return report;
  }

  // Sessions whose close found them already gone on the server; read by the shutdown report.
  readonly #expiredOnClose = new WeakSet<SessionCore>();

  /** Closes `core` as part of the shutdown under way, within its deadline, and records the outcome. */
  #closeForShutdown(core: SessionCore): Promise<void> {
    const closing = this.#shutdownCloses as ShutdownClosing;
    if (closing.over) {
      // The report is out: a session that turns up now is closed at once, on its own, and within
      // a shutdown's deadline of its own: a close resent for retryDeadlineMs would keep the process
      // alive long after shutdown() resolved. The timer is unref'd: it holds nothing open itself.
      const late = core.close('shutdown', AbortSignal.timeout(this.#settings.shutdownTimeoutMs)).catch(() => undefined);
      this.#track(late);
      return late;
    }
    closing.outcomes.set(core, undefined);
    const done = core.close('shutdown', closing.deadline).then(
      // How the close ended, not why it was begun: a session given up after a fault (reason `expired`)
      // whose close Graph confirmed was closed by us.
      () => void closing.outcomes.set(core, this.#expiredOnClose.has(core) ? 'expired' : 'closed'),
      () => void closing.outcomes.set(core, closing.deadline.aborted ? 'pending' : 'failed'),
    );
    closing.closes.add(done);
    void done.then(() => closing.closes.delete(done));
    return done;
  }

  #makeHost(): SessionHost {
    return {
      transport: this.#transport,
      scheduler: this.#scheduler,
      tracked: async (core, reopened) => {
        // A reopened session is a new session: how the old one ended does not describe it.
        this.#expiredOnClose.delete(core);
        this.#sessions.add(core);
        if (reopened === undefined) {
          this.#totals.opened++;
          this.#log('debug', 'session opened', { id: shortId(core.id), workbook: core.workbook });
          this.emit('opened', { id: shortId(core.id), workbook: core.workbook, persistChanges: core.persistChanges });
        } else {
          this.#totals.reopened++;
          this.emit('reopened', {
            id: shortId(core.id),
            workbook: core.workbook,
            previousId: shortId(reopened.previousId),
            reason: reopened.reason,
          });
        }
        await this.#record(core);
        if (this.#shutdownCloses !== undefined) {
          // Created after the shutdown began: closed at once, within its deadline, and reported.
          void this.#closeForShutdown(core);
          throw new ManagerShutDownError();
        }
        this.#reaper.track(core, this.#nextDue(core));
      },
      untracked: (core, outcome) => {
        this.#sessions.delete(core);
        this.#reaper.untrack(core);
        const info = { id: shortId(core.id), workbook: core.workbook };
        const reason = core.reason ?? 'disposed';
        if (outcome === 'closed') {
          this.#totals.closed++;
          this.emit('closed', { ...info, reason, alreadyExpired: false });
        } else if (outcome === 'expired') {
          this.#totals.expired++;
          this.#expiredOnClose.add(core);
          this.emit('expired', info);
          if (core.reason !== 'expired') this.emit('closed', { ...info, reason, alreadyExpired: true });
        } else {
          this.emit('ended', { ...info, reason });
        }
        this.#log('debug', `session ${outcome}`, { ...info, reason });
        const id = core.id;
        // After its record is on disk: a remove that overtook the record would leave the session
        // listed (and this process's owner marker held) once both are done.
        const recorded = this.#recording.get(id) ?? Promise.resolve();
        const written = recorded.then(() => this.#journalWrite(() => this.#journal?.remove(id)));
        this.#track(written);
        return written;
      },
      closeFailed: (core, error) => {
        this.#totals.closeFailures++;
        this.#log('warn', 'closing a session failed', {
          id: shortId(core.id),
          workbook: core.workbook,
          error: errorText(error),
        });
        this.emit('closeFailed', {
          id: shortId(core.id),
          workbook: core.workbook,
          reason: core.reason ?? 'disposed',
          error,
        });
      },
      gaveUp: (core, old) => {
        // `old` takes the session's place (its journal record too) until Graph confirms its end.
        this.#sessions.delete(core);
        this.#reaper.untrack(core);
        this.#sessions.add(old);
        const reason = core.reason ?? 'expired';
        const info = { id: shortId(old.id), workbook: old.workbook };
        this.#log('debug', 'session given up', { ...info, reason });
        if (reason === 'failed') this.emit('ended', { ...info, reason });
        if (this.#shutdownCloses !== undefined) return void this.#closeForShutdown(old);
        this.#track(old.close(reason).catch(() => undefined));
      },
      mayReopen: () => this.#shutdown === undefined,
      creates: this.#stopCreates.signal,
      reopening: (workbook, done) => {
        this.#opening++;
        this.#creating.set(done, workbook);
        const forget = (): void => {
          this.#opening--;
          this.#creating.delete(done);
        };
        done.then(forget, forget);
      },
    };
  }

  /** The journal's `file` field for a session: its file, once resolved. */
  #fileOf(core: SessionCore): { file?: string } {
    const file = this.#resolver.fileOf(core.workbook);
    return file === undefined ? {} : { file };
  }

  /** When the reaper should next look at a session. */
  #nextDue(core: SessionCore): number {
    const { idleTimeoutMs, keepAlive, keepAliveIntervalMs } = this.#settings;
    const idle = core.lastActivity + idleTimeoutMs;
    const refresh = keepAlive ? core.lastContact + keepAliveIntervalMs : Infinity;
    return Math.min(idle, refresh);
  }

  /** The reaper's timer reached a session: close it if idle, refresh it if Graph would soon forget it. */
  #due(core: SessionCore, now: number): void {
    if (core.state !== 'open') return this.#reaper.untrack(core);
    const { idleTimeoutMs, keepAlive, keepAliveIntervalMs } = this.#settings;
    // Busy: not idle. Look again after the shorter of the two clocks (the keep-alive must go on).
    if (core.inFlight > 0)
      return this.#reaper.reschedule(core, now + Math.min(idleTimeoutMs, keepAlive ? keepAliveIntervalMs : Infinity));
    if (now >= core.lastActivity + this.#settings.idleTimeoutMs) {
      this.#reaper.untrack(core);
      this.#log('debug', 'closing an idle session', { id: shortId(core.id), workbook: core.workbook });
      this.#track(core.close('idle').catch(() => undefined));
      return;
    }
    if (this.#settings.keepAlive && now >= core.lastContact + this.#settings.keepAliveIntervalMs) {
      // Graph would forget the session before our idle deadline: keep it alive.
      core.lastContact = now;
      this.#track(
        this.#transport
          .refreshSession(core.workbook, () => core.idForRefresh())
          .catch((error: unknown) => {
            // Closed while the refresh waited in its lane: nothing to keep alive.
            if (isSessionClosedError(error)) return;
            core.refreshFailed(error);
            this.#log('warn', 'keep-alive refresh failed', {
              id: shortId(core.id),
              workbook: core.workbook,
              error: errorText(error),
            });
          }),
      );
    }
    this.#reaper.reschedule(core, this.#nextDue(core));
  }

  /** Records `core`'s session in the journal; a remove of the same id waits for it. */
  async #record(core: SessionCore): Promise<void> {
    const id = core.id;
    const written = this.#journalWrite(() =>
      this.#journal?.record({
        workbook: core.workbook,
        ...this.#fileOf(core),
        id,
        persistChanges: core.persistChanges,
        createdAt: Date.now(),
      }),
    );
    this.#recording.set(id, written);
    try {
      await written;
    } finally {
      if (this.#recording.get(id) === written) this.#recording.delete(id);
    }
  }

  /**
   * A session Graph gave for a create nobody waits for any more (a shutdown gave up on it, or the
   * transport stopped waiting): closed at once, and kept (and reported) until Graph confirms.
   */
  #closeLate(workbook: string, created: CreatedSession): void {
    const core = new SessionCore(this.#host, workbook, created.persistChanges);
    core.opened(created, Date.now());
    this.#sessions.add(core);
    this.#log('warn', 'closing a session created after its open was given up', { id: shortId(core.id), workbook });
    const close = async (): Promise<void> => {
      await this.#record(core);
      await (this.#shutdownCloses === undefined ? core.close('disposed') : this.#closeForShutdown(core));
    };
    this.#track(close().catch(() => undefined));
  }

  async #journalWrite(write: () => Promise<void> | undefined): Promise<void> {
    try {
      await write();
    } catch (error) {
      this.#log('warn', 'writing the session journal failed', { error: errorText(error) });
    }
  }

  #track(promise: Promise<unknown>): void {
    this.#background.add(promise);
    const forget = (): void => void this.#background.delete(promise);
    promise.then(forget, forget);
  }

  #log(level: keyof Logger, message: string, data?: Record<string, unknown>): void {
    try {
      this.#logger?.[level]?.(`workbook-sessions: ${message}`, data);
    } catch {
      /* a logger that throws must not break the manager */
    }
  }
}

/** A shutdown's closes: its deadline, and each session's outcome (`undefined` while unsettled). */
interface ShutdownClosing {
  readonly deadline: AbortSignal;
  /** Set once the report is out: sessions that turn up later are closed on their own. */
  over: boolean;
  readonly outcomes: Map<SessionCore, ShutdownSessionOutcome['outcome'] | undefined>;
  readonly closes: Set<Promise<void>>;
}

function settingsFrom(options: SessionManagerOptions): Settings {
  const pick = <K extends keyof typeof DEFAULTS>(key: K): (typeof DEFAULTS)[K] | unknown =>
    options[key] === undefined ? DEFAULTS[key] : options[key];
  const settings: Settings = {
    concurrency: checkNumber('concurrency', pick('concurrency'), 1, { integer: true }),
    perWorkbookConcurrency: checkNumber('perWorkbookConcurrency', pick('perWorkbookConcurrency'), 1, { integer: true }),
    retries: checkNumber('retries', pick('retries'), 0, { integer: true }),
    retryBaseDelayMs: checkNumber('retryBaseDelayMs', pick('retryBaseDelayMs'), 0, { max: MAX_TIMER_MS }),
    retryMaxDelayMs: checkNumber('retryMaxDelayMs', pick('retryMaxDelayMs'), 0, { max: MAX_TIMER_MS }),
    retryDeadlineMs: checkNumber('retryDeadlineMs', pick('retryDeadlineMs'), 0),
    // Timer delays stop at Node's timer limit: past it a timer fires at once, again and again.
    idleTimeoutMs: checkNumber('idleTimeoutMs', pick('idleTimeoutMs'), 1000, {
      allowInfinity: true,
      max: MAX_TIMER_MS,
    }),
    keepAlive: checkBoolean('keepAlive', pick('keepAlive')),
    keepAliveIntervalMs: checkNumber('keepAliveIntervalMs', pick('keepAliveIntervalMs'), 1000, { max: MAX_TIMER_MS }),
    shutdownTimeoutMs: checkNumber('shutdownTimeoutMs', pick('shutdownTimeoutMs'), 0),
    exitHooks: checkBoolean('exitHooks', pick('exitHooks')),
    // At 0 the doubling never starts and polls run back to back.
    pollIntervalMs: checkNumber('pollIntervalMs', pick('pollIntervalMs'), MIN_POLL_INTERVAL_MS, { max: MAX_TIMER_MS }),
    operationTimeoutMs: checkNumber('operationTimeoutMs', pick('operationTimeoutMs'), 0),
    requestTimeoutMs: checkNumber('requestTimeoutMs', pick('requestTimeoutMs'), 1, { allowInfinity: true }),
    recoverOnStart: checkBoolean('recoverOnStart', pick('recoverOnStart')),
    resolveWorkbooks: checkBoolean('resolveWorkbooks', pick('resolveWorkbooks')),
  };
  if (settings.retryMaxDelayMs < settings.retryBaseDelayMs) {
    throw new RangeError(
      `Expected \`retryMaxDelayMs\` (${settings.retryMaxDelayMs}) to be >= \`retryBaseDelayMs\` (${settings.retryBaseDelayMs})`,
    );
  }
  return settings;
}

function checkLogger(logger: unknown): Logger | undefined {
  if (logger === undefined) return undefined;
  if (typeof logger !== 'object' || logger === null)
    throw new TypeError(
      `Expected \`logger\` to be an object with debug/info/warn/error methods, got ${describe(logger)}`,
    );
  return logger as Logger;
}

function journalFrom(journal: SessionManagerOptions['journal']): SessionJournal | undefined {
  if (journal === undefined) return undefined;
  if (journal instanceof SessionJournal) return journal;
  if (typeof journal !== 'object' || journal === null)
    throw new TypeError(`Expected \`journal\` to be { path } or a SessionJournal, got ${describe(journal)}`);
  checkKeys('journal option', journal, ['path']);
  return new SessionJournal({ path: journal.path });
}

/** Resolves true when `work` settles, false when `signal` aborts first. */
function waitUntil(work: Promise<unknown>, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (value: boolean): void => {
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const onAbort = (): void => done(false);
    if (signal.aborted) return done(false);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      () => done(true),
      () => done(true),
    );
  });
}

function errorText(error: unknown): string {
  if (isGraphRequestError(error)) return error.message;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
