import type { Client } from '@microsoft/microsoft-graph-client';
import { EventEmitter, setMaxListeners } from 'node:events';
import { abortReason, raceAbort } from '../util/abort.js';
import { ManagerShutDownError, suppressedError } from '../errors.js';
import {
  registerExitHooks,
  shutdownLeftOpenMessage,
  writeStderr,
  type ExitHookParticipant,
} from '../lifecycle/exit-hooks.js';
import { Shutdown } from '../lifecycle/shutdown.js';
import { recoverOrphans, type RecoverOptions, type RecoveryReport } from '../journal/recovery.js';
import { startOrphanReaper, type OrphanReaper } from '../journal/redis-reaper.js';
import { RedisSessionStore } from '../journal/redis-store.js';
import type { JournalEntry, SessionStore } from '../journal/session-store.js';
import { Priority, Scheduler } from '../coordination/scheduler.js';
import type { SessionBudget, SessionSlot } from '../coordination/coordination.js';
import { Fleet } from '../coordination/fleet.js';
import { LocalSessionBudget } from '../coordination/session-budget.js';
import type { ShutdownReport } from '../types.js';
import { Pending } from '../util/pending.js';
import { errorText } from '../util/redact.js';
import { ManagerMetrics } from '../telemetry/metrics.js';
import { tracedOpen, tracedShutdown } from '../telemetry/spans.js';
import { detached } from '../telemetry/tracing.js';
import { describe } from '../util/validate.js';
import { GraphTransport, type CreatedSession } from '../transport/graph-transport.js';
import { WorkbookResolver, parseWorkbookRef, type WorkbookRef } from '../transport/workbook-ref.js';
import { closeConfirmed } from '../session/close.js';
import { SessionCore } from '../session/session-core.js';
import { WorkbookSession } from '../session/workbook-session.js';
import type { SessionEvents, SessionStats } from './events.js';
import { FleetSharedSessions } from './fleet-shared.js';
import { JournalWrites } from './journal-writes.js';
import { SessionBook } from './session-book.js';
import { logTo, type Log } from './log.js';
import {
  acquireSettings,
  checkLogger,
  journalFrom,
  openSettings,
  settingsFrom,
  shutdownSettings,
  type AcquireOptions,
  type OpenOptions,
  type SessionManagerOptions,
  type Settings,
  type ShutdownOptions,
} from './options.js';

export type {
  AcquireOptions,
  FleetOptions,
  Logger,
  OpenOptions,
  SessionManagerOptions,
  ShutdownOptions,
} from './options.js';
export type { SessionEventInfo, SessionEvents, SessionStats } from './events.js';

/**
 * Opens workbook sessions and makes sure each one is closed: when its scope ends, when it goes
 * idle, when the process is asked to stop, and (with a journal) after a crash.
 */
export class SessionManager extends EventEmitter<SessionEvents> implements AsyncDisposable, ExitHookParticipant {
  readonly #settings: Settings;
  readonly #transport: GraphTransport;
  readonly #scheduler: Scheduler;
  readonly #resolver: WorkbookResolver;
  readonly #book: SessionBook;
  readonly #budget: SessionBudget;
  // Set with the `fleet` option: lanes, cooldowns and budgets shared on Redis.
  readonly #fleet: Fleet | undefined;
  // The shared session of each file (by its lane), while it can serve leases.
  readonly #shared = new Map<string, SharedEntry>();
  // Set with the `fleet` option: one shared session per file for the whole fleet.
  readonly #fleetShared: FleetSharedSessions | undefined;
  // Aborted when a shutdown begins: waits for a place in a session budget end then.
  readonly #shutdownBegun = new AbortController();
  readonly #log: Log;
  readonly #metrics: ManagerMetrics;
  readonly #journal: SessionStore | undefined;
  // Set in fleet mode with a journal in Redis: closes the sessions of dead owners, wherever they ran.
  #reaper: OrphanReaper | undefined;
  // Journal writes and background closes under way, awaited by shutdown.
  readonly #background = new Pending();
  // Aborted when a shutdown has made its report: creates still under way then stop waiting (a
  // polling long-running create included), and whatever Graph still gives for them is closed on
  // arrival; a look-up and the recovery begun at start stop too.
  readonly #stopCreates = new AbortController();
  // Set by registerExitHooks when exitHooks is on; cleared by uninstallExitHooks or shutdown.
  #uninstallHooks: (() => void) | undefined;
  // Set by the first shutdown and returned to every later caller.
  #shutdown: Promise<ShutdownReport> | undefined;
  // Set when a shutdown starts closing sessions; never cleared.
  #closing: Shutdown | undefined;
  // Set when the exit hooks ask for the shutdown: they then warn of what it leaves open, not the manager.
  #hooksWarn = false;

  constructor(options: SessionManagerOptions) {
    super();
    this.#settings = settingsFrom(options);
    this.#log = logTo(checkLogger(options.logger));
    this.#metrics = new ManagerMetrics(() => this.stats().open);
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
    this.#fleet = s.fleet === undefined ? undefined : this.#makeFleet();
    this.#scheduler = new Scheduler({
      concurrency: s.concurrency,
      perWorkbookConcurrency: s.perWorkbookConcurrency,
      laneOf: (workbook) => this.#resolver.laneOf(workbook),
      ...(this.#fleet === undefined ? {} : { gate: this.#fleet }),
    });
    this.#transport = this.#makeTransport(options.client);
    // Every create under way listens to it (its queue wait, its polling): many listeners are expected.
    setMaxListeners(0, this.#stopCreates.signal);
    this.#journal = journalFrom(options.journal);
    this.#budget = this.#fleet?.budget ?? new LocalSessionBudget(s.maxSessionsPerWorkbook);
    this.#book = new SessionBook({
      transport: this.#transport,
      creates: this.#stopCreates.signal,
      mayReopen: () => this.#shutdown === undefined,
      reserve: (workbook, signal) => this.#reserve(workbook, signal),
      forceSlot: (workbook) => this.#budget.force(this.#resolver.laneOf(workbook)),
      policy: s,
      emit: this.#metrics.counting(this.emit.bind(this)),
      log: this.#log,
      journal: new JournalWrites(this.#journal, this.#log),
      fileOf: (workbook) => this.#resolver.fileOf(workbook),
      background: this.#background,
      shutdown: () => this.#closing,
    });
    this.#fleetShared = this.#fleet === undefined ? undefined : this.#makeFleetShared(this.#fleet);
    // Refused before the hooks go in: a constructor that throws must leave no process listener behind.
    if (s.recoverOnStart && this.#journal === undefined) throw new TypeError('`recoverOnStart` needs a `journal`');
    const reaps = s.fleet !== undefined && this.#journal instanceof RedisSessionStore;
    if (s.fleet?.reapIntervalGiven === true && !reaps)
      throw new TypeError('`fleet.reapIntervalMs` needs a `RedisSessionStore` as `journal`');
    if (s.exitHooks) this.#uninstallHooks = registerExitHooks(this);
    if (s.recoverOnStart) {
      // Stopped with the creates when a shutdown has made its report: its closes are this
      // manager's work, and none may be resent after shutdown() resolved.
      const recovering = this.recover({ signal: this.#stopCreates.signal }).catch((error: unknown) =>
        this.#log('warn', 'recovering sessions left by earlier processes failed', { error: errorText(error) }),
      );
      this.#background.add(recovering);
    }
    if (reaps && this.#journal !== undefined && s.fleet !== undefined) this.#startReaper(this.#journal, s.fleet);
  }

  /**
   * Every replica runs one: the store's claims make each dead owner's sessions closed once, by
   * whichever replica claims them first, through this manager's lanes (shared with the fleet).
   */
  #startReaper(store: SessionStore, fleet: NonNullable<Settings['fleet']>): void {
    // Its passes are no part of whatever the caller who made this manager was doing.
    this.#reaper = detached(() =>
      startOrphanReaper({
        store,
        // Cut off with the creates when a shutdown has made its report, like the recovery at start.
        closer: (workbook, id, entry) => this.#closeOrphan(workbook, id, entry, this.#stopCreates.signal),
        // A dead owner's shared session that live replicas still use is theirs: left to them.
        ...(this.#fleetShared === undefined ? {} : { inUse: (entry) => this.#fleetShared?.inUse(entry) ?? false }),
        intervalMs: fleet.reapIntervalMs,
        onReport: (report) =>
          this.#log('info', 'closed sessions left by processes that are gone', {
            closed: report.closed.length,
            expired: report.expired.length,
            failed: report.failed.length,
          }),
        onError: (error) => this.#log('warn', 'reaping orphaned sessions failed', { error: errorText(error) }),
      }),
    );
  }

  /** Closes a session another process left, in the lane of its file as that process resolved it. */
  #closeOrphan(
    workbook: string,
    id: string,
    entry: JournalEntry,
    signal: AbortSignal | undefined,
  ): Promise<'closed' | 'expired'> {
    // The file as the process that opened the session resolved it: one lane for all its names.
    if (entry.file !== undefined) this.#resolver.learn(workbook, entry.file);
    return closeConfirmed(this.#transport, workbook, id, signal);
  }

  /** The fleet's coordination on Redis, wired to this manager's log and events. */
  #makeFleet(): Fleet {
    const s = this.#settings;
    if (s.fleet === undefined) throw new TypeError('No `fleet` option');
    const limits = {
      perWorkbookConcurrency: s.perWorkbookConcurrency,
      maxSessionsPerWorkbook: s.maxSessionsPerWorkbook,
      idleTimeoutMs: s.idleTimeoutMs,
    };
    return new Fleet(s.fleet, limits, {
      degraded: (error) => {
        this.#log('warn', 'Redis cannot be reached: coordinating in this process alone', { error: errorText(error) });
        this.emit('fleetDegraded', { error });
      },
      restored: () => {
        this.#log('info', 'Redis answers again: coordinating with the fleet');
        this.emit('fleetRestored');
      },
      leaseLost: (workbook) => {
        this.#log('warn', 'a lane lease expired while its request ran', { workbook });
        this.emit('leaseLost', { workbook });
      },
      error: (error) => this.#log('debug', 'fleet work on Redis failed', { error: errorText(error) }),
    });
  }

  /** The fleet's shared sessions (`acquire()`), wired to this manager's lanes, budget and reaper. */
  #makeFleetShared(fleet: Fleet): FleetSharedSessions {
    return new FleetSharedSessions({
      sharing: fleet.sharing,
      transport: this.#transport,
      lanes: this.#scheduler,
      reserve: (workbook, signal) => this.#reserve(workbook, signal),
      creates: this.#stopCreates.signal,
      rearm: (core, at) => this.#book.reaper.track(core, at),
      closeLate: (workbook, created) => this.#book.closeLate(workbook, created),
      laneOfEntry: (entry) => {
        if (entry.file !== undefined) this.#resolver.learn(entry.workbook, entry.file);
        return this.#resolver.laneOf(entry.workbook);
      },
      idleTimeoutMs: this.#settings.idleTimeoutMs,
      log: this.#log,
    });
  }

  /** The Graph calls, wired to this manager's lanes, retry policy, totals and events. */
  #makeTransport(client: Client): GraphTransport {
    const s = this.#settings;
    return new GraphTransport({
      // A session Graph gave for a create nobody waits for any more (aborted, timed out) is closed at once.
      onLateSession: (workbook, created) => this.#book.closeLate(workbook, created),
      client,
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
      metrics: this.#metrics,
      now: () => Date.now(),
      random: Math.random,
      onRetry: (event) => {
        this.#book.totals.retries++;
        this.#metrics.retried(event);
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
    });
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
    const { persistChanges, signal, shared } = openSettings(options);
    if (shared) return this.acquire(workbook, signal === undefined ? {} : { signal });
    if (this.#shutdown !== undefined) throw new ManagerShutDownError();
    if (signal?.aborted) throw abortReason(signal);
    const core = new SessionCore(this.#book.host, ref.path, persistChanges);
    return tracedOpen(ref.path, persistChanges, () => this.#handOut(this.#create(core, ref, signal), signal));
  }

  /**
   * A lease on the workbook's shared session: many callers use one warm persistent session at once,
   * and their calls share the workbook's lane, so Graph still sees one request at a time. The first
   * lease creates the session; leaving the scope (`await using`, `close()`) gives the lease back and
   * leaves the session open. It closes after `idleTimeoutMs` with no lease and no call, at shutdown,
   * or when Graph ends it; when Graph expires or faults it, every lease moves on to one new session
   * (or fails, with `onNewSession: 'fail'`).
   */
  async acquire(workbook: string, options: AcquireOptions = {}): Promise<WorkbookSession> {
    const ref = parseWorkbookRef(workbook);
    const { signal, onNewSession } = acquireSettings(options);
    if (this.#shutdown !== undefined) throw new ManagerShutDownError();
    if (signal?.aborted) throw abortReason(signal);
    // Which file it is decides which shared session serves it: every name of one file shares one.
    if (this.#settings.resolveWorkbooks) await raceAbort(this.#resolved(ref), signal);
    if (this.#shutdown !== undefined) throw new ManagerShutDownError();
    const lane = this.#resolver.laneOf(ref.path);
    let entry = this.#shared.get(lane);
    if (entry === undefined || !entry.core.serviceable) {
      const core =
        this.#fleetShared?.core(this.#book.host, ref.path, lane) ?? new SessionCore(this.#book.host, ref.path, true);
      // Not tied to this caller's signal: other callers may be waiting for the same session. Its wait
      // for a place in the budget is given up once no lease is held or waited for.
      const created = this.#create(core, ref, core.waitForPlace());
      const made: SharedEntry = { core, created };
      created.catch(() => {
        if (this.#shared.get(lane) === made) this.#shared.delete(lane);
      });
      this.#shared.set(lane, made);
      entry = made;
    }
    const { core, created } = entry;
    // Counted from now: the session is not idle while someone waits for it.
    core.lease();
    try {
      await raceAbort(created, signal);
      // A session that went idle or expired since: reopened for this lease.
      await core.ready(signal);
    } catch (error) {
      core.unlease();
      throw error;
    }
    this.#fleetShared?.leased(core);
    return new WorkbookSession(core, { pinned: onNewSession === 'fail' ? core.id : undefined });
  }

  /** The file a reference names, looked up once per reference; a look-up cut off by the shutdown says so. */
  #resolved(ref: WorkbookRef): Promise<unknown> {
    return this.#resolver.resolve(ref).catch((error: unknown) => {
      // The look-up was cut off by the shutdown, not refused by Graph.
      if (this.#stopCreates.signal.aborted) throw new ManagerShutDownError();
      throw error;
    });
  }

  /**
   * Creates `core`'s first session: the file looked up, a place in its budget, then createSession.
   * The create is not tied to `signal`: if the caller gives up, the answer must still arrive, so the
   * session it names can be closed rather than leaked; only a shutdown stops waiting for it (and
   * closes what it yields later). The budget wait is: nothing is created while it waits.
   */
  #create(core: SessionCore, ref: WorkbookRef, signal: AbortSignal | undefined): Promise<SessionCore> {
    const path = ref.path;
    const resolved = this.#settings.resolveWorkbooks ? this.#resolved(ref) : Promise.resolve();
    // Counted as opening from now, as it may soon be open on the server; not while it waits for the budget.
    this.#book.opening++;
    let counted = true;
    const count = (opening: boolean): void => {
      if (counted !== opening) this.#book.opening += opening ? 1 : -1;
      counted = opening;
    };
    const work = async (): Promise<SessionCore> => {
      let slot: SessionSlot | undefined;
      let session: CreatedSession;
      try {
        await resolved;
        // Given up while the file was looked up: nothing was created, so nothing needs closing.
        if (signal?.aborted === true) throw abortReason(signal);
        if (this.#shutdown !== undefined) throw new ManagerShutDownError();
        if (core.seat === undefined) {
          slot = core.keepPlace(await this.#reserve(path, signal, () => count(false)), signal);
          count(true);
          if (this.#shutdown !== undefined) throw new ManagerShutDownError();
          session = await this.#transport.createSession(path, core.persistChanges, this.#stopCreates.signal);
        } else {
          // The fleet's session, taken up or created under the lane (with its own place in the budget).
          ({ created: session, slot } = await core.seat.create(undefined, signal));
        }
      } catch (error) {
        slot?.release();
        throw error;
      } finally {
        core.placeWaitOver();
        count(false);
      }
      // Rejects, and closes the session, when a shutdown began meanwhile.
      await core.opened(session, slot);
      return core;
    };
    return this.#book.creating.add(work(), path);
  }

  /**
   * A place in the workbook's session budget: at once while it has room, else first come first
   * served as its sessions end. A shutdown ends the wait.
   */
  async #reserve(workbook: string, signal: AbortSignal | undefined, waits?: () => void): Promise<SessionSlot> {
    const lane = this.#resolver.laneOf(workbook);
    const stop = this.#shutdownBegun.signal;
    try {
      return await this.#budget.reserve(lane, {
        signal: signal === undefined ? stop : AbortSignal.any([signal, stop]),
        timeoutMs: this.#settings.sessionBudgetTimeoutMs,
        onWait: () => {
          waits?.();
          const info = { workbook, limit: this.#budget.limit, waiting: this.#budget.waiting + 1 };
          this.#log('debug', 'waiting for a place in the session budget', info);
          this.emit('budgetWait', info);
        },
      });
    } catch (error) {
      if (stop.aborted && signal?.aborted !== true) throw new ManagerShutDownError();
      throw error;
    }
  }

  /**
   * The one place an open's outcome is decided: whichever comes first, the session or the abort,
   * wins. A session that arrives after the caller gave up is closed; once the handle is handed out,
   * a later abort changes nothing (the caller owns it).
   */
  #handOut(created: Promise<SessionCore>, signal: AbortSignal | undefined): Promise<WorkbookSession> {
    return raceAbort(created, signal).then(
      (core) => core.handle,
      (error: unknown) => {
        if (signal?.aborted === true) {
          // Given up first: a session that still arrives is closed.
          const close = (core: SessionCore): unknown =>
            this.#background.add(core.close('disposed').catch(() => undefined));
          created.then(close, () => undefined);
        }
        throw error;
      },
    );
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
    if (typeof options === 'object' && options !== null && 'reason' in options && options.reason !== undefined)
      this.#hooksWarn = true;
    if (this.#shutdown !== undefined) return this.#shutdown;
    const { timeoutMs, signal } = shutdownSettings(options, this.#settings.shutdownTimeoutMs);
    this.#shutdown = tracedShutdown(timeoutMs, () => this.#runShutdown(timeoutMs, signal));
    this.#shutdownBegun.abort(new ManagerShutDownError());
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
      (workbook, id, entry) => this.#closeOrphan(workbook, id, entry, options.signal),
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
    let count = this.#book.opening;
    for (const core of this.#book.sessions) if (core.state !== 'closed' || core.closeError !== undefined) count++;
    return count;
  }

  stats(): SessionStats {
    let open = 0;
    let closing = 0;
    let closeFailed = 0;
    for (const core of this.#book.sessions) {
      if (core.state === 'open') open++;
      else if (core.state === 'closing') closing++;
      else if (core.closeError !== undefined) closeFailed++;
    }
    return {
      open,
      opening: this.#book.opening,
      closing,
      closeFailed,
      queued: this.#scheduler.queued,
      inFlight: this.#scheduler.running,
      lanes: this.#scheduler.lanes,
      budgetWaiting: this.#budget.waiting,
      shared: this.#shared.size,
      leases: [...this.#shared.values()].reduce((sum, entry) => sum + entry.core.leases, 0),
      fleet: this.#fleet === undefined ? 'off' : this.#fleet.degraded ? 'degraded' : 'shared',
      lostLeases: this.#fleet?.lostLeases ?? 0,
      totals: { ...this.#book.totals },
    };
  }

  async #runShutdown(timeoutMs: number, signal: AbortSignal | undefined): Promise<ShutdownReport> {
    this.#log('info', 'shutting down', { sessions: this.#book.sessions.size, timeoutMs });
    const shutdown = new Shutdown(timeoutMs, signal);
    this.#closing = shutdown;
    // No reaper pass starts now; the one under way is waited for like the rest of our work.
    if (this.#reaper !== undefined) this.#background.add(this.#reaper.close());
    this.#fleetShared?.dispose();
    for (const core of this.#book.sessions) void shutdown.close(core);
    // Sessions still being created (or reopened) are closed as soon as they exist, and join the
    // shutdown then: wait until nothing of ours is left under way.
    const finished = await shutdown.settle([this.#book.creating, this.#background], async () => this.#journal?.close());
    // A journal in Redis marks this owner gone even when the deadline passed: the fleet's reapers
    // then close what is left at once, instead of after the heartbeat expires.
    if (!finished && this.#journal instanceof RedisSessionStore) {
      await this.#journal
        .close()
        .catch((error: unknown) =>
          this.#log('warn', 'marking this process gone in the session journal failed', { error: errorText(error) }),
        );
    }
    // Uninstalled only now: while the closes run, a second signal must still reach the hooks.
    this.uninstallExitHooks();
    this.#book.reaper.dispose();
    // Not finished: a cooldown may still pause a lane (its closes gave up waiting), but whatever
    // still waits there must not hold the process for as long as Graph asked to wait.
    if (finished) this.#scheduler.dispose();
    else this.#scheduler.release();
    // Leases and reservations still held expire on Redis; the pub/sub connection is ours to end.
    await this.#fleet?.close().catch(() => undefined);
    const report = shutdown.report(finished, this.#book.creating.labels());
    this.#metrics.dispose();
    this.#stopCreates.abort(new ManagerShutDownError());
    this.#log(report.leftOpen === 0 ? 'info' : 'warn', 'shut down', { ...report, sessions: undefined });
    // The exit hooks' warning, when the application asked for this shutdown: the hooks are gone now.
    if (!this.#hooksWarn) {
      const message = shutdownLeftOpenMessage(report, {
        open: this.openSessionCount(),
        when: 'after shutdown()',
        timedOutBecause:
          signal?.aborted === true
            ? "the shutdown's signal was aborted"
            : `the ${String(timeoutMs)} ms shutdown deadline passed`,
      });
      if (message !== undefined) writeStderr(message);
    }
    return report;
  }
}

/** A workbook's shared session, and its first create (which every lease waits for). */
interface SharedEntry {
  readonly core: SessionCore;
  readonly created: Promise<SessionCore>;
}
