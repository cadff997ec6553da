import { EventEmitter, setMaxListeners } from 'node:events';
import { abortReason } from '../util/abort.js';
import { ManagerShutDownError, suppressedError } from '../errors.js';
import { registerExitHooks, type ExitHookParticipant } from '../lifecycle/exit-hooks.js';
import { shortId } from '../util/ids.js';
import { decide, nextDue, type IdleClocks, type IdlePolicy } from '../lifecycle/idle-policy.js';
import { IdleReaper } from '../lifecycle/idle-reaper.js';
import { Shutdown } from '../lifecycle/shutdown.js';
import type { SessionJournal } from '../journal/journal.js';
import { recoverOrphans, type RecoverOptions, type RecoveryReport } from '../journal/recovery.js';
import { Priority, Scheduler } from '../coordination/scheduler.js';
import type { ShutdownReport } from '../types.js';
import { Pending } from '../util/pending.js';
import { errorText } from '../util/redact.js';
import { describe } from '../util/validate.js';
import { GraphTransport, type CreatedSession } from '../transport/graph-transport.js';
import { WorkbookResolver, parseWorkbookRef } from '../transport/workbook-ref.js';
import { closeConfirmed } from '../session/close.js';
import type { SessionLife } from '../session/life.js';
import { SessionCore, type SessionHost } from '../session/session-core.js';
import type { WorkbookSession } from '../session/workbook-session.js';
import type { SessionEvents, SessionStats } from './events.js';
import { JournalWrites } from './journal-writes.js';
import { logTo, type Log } from './log.js';
import {
  checkLogger,
  journalFrom,
  openSettings,
  settingsFrom,
  shutdownSettings,
  type OpenOptions,
  type SessionManagerOptions,
  type Settings,
  type ShutdownOptions,
} from './options.js';

export type { Logger, OpenOptions, SessionManagerOptions, ShutdownOptions } from './options.js';
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
  readonly #reaper: IdleReaper<SessionCore>;
  readonly #host: SessionHost;
  readonly #log: Log;
  readonly #journal: SessionJournal | undefined;
  readonly #journalWrites: JournalWrites;
  // Every session from create until Graph confirmed its end; a session whose close failed stays for another try.
  readonly #sessions = new Set<SessionCore>();
  // Creates (and reopens) under way, with their workbook; each settles into #sessions or into a background close.
  readonly #creating = new Pending<string>();
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
  // Creates and reopens whose createSession has not answered yet.
  #opening = 0;
  readonly #totals = { opened: 0, closed: 0, expired: 0, reopened: 0, retries: 0, closeFailures: 0 };

  constructor(options: SessionManagerOptions) {
    super();
    this.#settings = settingsFrom(options);
    this.#log = logTo(checkLogger(options.logger));
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
    this.#transport = new GraphTransport({
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
    });
    // Every create under way listens to it (its queue wait, its polling): many listeners are expected.
    setMaxListeners(0, this.#stopCreates.signal);
    this.#reaper = new IdleReaper((core, now) => this.#due(core, now));
    this.#host = {
      transport: this.#transport,
      creates: this.#stopCreates.signal,
      mayReopen: () => this.#shutdown === undefined,
      changed: (core, from, to) => this.#changed(core, from, to),
    };
    this.#journal = journalFrom(options.journal);
    this.#journalWrites = new JournalWrites(this.#journal, this.#log);
    // Refused before the hooks go in: a constructor that throws must leave no process listener behind.
    if (s.recoverOnStart && this.#journal === undefined) throw new TypeError('`recoverOnStart` needs a `journal`');
    if (s.exitHooks) this.#uninstallHooks = registerExitHooks(this);
    if (s.recoverOnStart) {
      // Stopped with the creates when a shutdown has made its report: its closes are this
      // manager's work, and none may be resent after shutdown() resolved.
      const recovering = this.recover({ signal: this.#stopCreates.signal }).catch((error: unknown) =>
        this.#log('warn', 'recovering sessions left by earlier processes failed', { error: errorText(error) }),
      );
      this.#background.add(recovering);
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
    const { persistChanges, signal } = openSettings(options);
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
    // Rejects, and closes the session, when a shutdown began meanwhile.
    const created = this.#creating.add(
      create.then(
        async (session) => {
          this.#opening--;
          await core.opened(session);
          return core;
        },
        (error: unknown) => {
          this.#opening--;
          throw error;
        },
      ),
      path,
    );
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
          this.#background.add(core.close('disposed').catch(() => undefined));
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
    const { timeoutMs, signal } = shutdownSettings(options, this.#settings.shutdownTimeoutMs);
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
    this.#log('info', 'shutting down', { sessions: this.#sessions.size, timeoutMs });
    const shutdown = new Shutdown(timeoutMs, signal);
    this.#closing = shutdown;
    for (const core of this.#sessions) void shutdown.close(core);
    // Sessions still being created (or reopened) are closed as soon as they exist, and join the
    // shutdown then: wait until nothing of ours is left under way.
    const finished = await shutdown.settle([this.#creating, this.#background], async () => this.#journal?.close());
    // Uninstalled only now: while the closes run, a second signal must still reach the hooks.
    this.uninstallExitHooks();
    this.#reaper.dispose();
    // Not finished: a cooldown may still pause a lane (its closes gave up waiting), but whatever
    // still waits there must not hold the process for as long as Graph asked to wait.
    if (finished) this.#scheduler.dispose();
    else this.#scheduler.release();
    const report = shutdown.report(finished, this.#creating.labels());
    this.#stopCreates.abort(new ManagerShutDownError());
    this.#log(report.leftOpen === 0 ? 'info' : 'warn', 'shut down', { ...report, sessions: undefined });
    return report;
  }

  /** Closes `core` as part of the shutdown under way; after its report, on its own. */
  #closeForShutdown(core: SessionCore): void {
    this.#background.add((this.#closing as Shutdown).close(core));
  }

  /** Every change of a session's phase, turned into events, totals, journal writes and reaper calls. */
  async #changed(core: SessionCore, from: SessionLife, to: SessionLife): Promise<void> {
    switch (to.phase) {
      case 'open':
        return this.#tookIn(core, from);
      case 'reopening': {
        // Counted as opening, and waited for by a shutdown, until it settles.
        this.#opening++;
        const settled = (): void => void this.#opening--;
        void this.#creating.add(to.reopen.done.then(settled, settled), core.workbook);
        return;
      }
      case 'ended':
        // A reopen that created nothing: the session is where it was before it.
        if (from.phase === 'reopening') return;
        if (to.outcome === 'close-failed') return this.#closeFailed(core, to.error);
        if (to.outcome === 'handed-over') return this.#handedOver(core, to.id);
        return this.#ended(core, to.outcome);
      default:
        return;
    }
  }

  /** A session was created (first time or reopened): counted, told, recorded, and given to the reaper. */
  async #tookIn(core: SessionCore, from: SessionLife): Promise<void> {
    this.#sessions.add(core);
    const info = { id: shortId(core.id), workbook: core.workbook };
    if (from.phase === 'reopening') {
      this.#totals.reopened++;
      this.emit('reopened', { ...info, previousId: shortId(from.previousId), reason: from.previous });
    } else {
      this.#totals.opened++;
      this.#log('debug', 'session opened', info);
      this.emit('opened', { ...info, persistChanges: core.persistChanges });
    }
    await this.#record(core);
    if (this.#closing !== undefined) {
      // Created after the shutdown began: closed at once, within its deadline, and reported.
      this.#closeForShutdown(core);
      throw new ManagerShutDownError();
    }
    this.#reaper.track(core, nextDue(clocksOf(core), this.#settings));
  }

  /** Graph confirmed the session's end, or it was already gone, or it ended for good. */
  #ended(core: SessionCore, outcome: 'closed' | 'expired' | 'ended'): Promise<void> {
    this.#sessions.delete(core);
    this.#reaper.untrack(core);
    const info = { id: shortId(core.id), workbook: core.workbook };
    const reason = core.reason ?? 'disposed';
    if (outcome === 'closed') {
      this.#totals.closed++;
      this.emit('closed', { ...info, reason, alreadyExpired: false });
    } else if (outcome === 'expired') {
      this.#totals.expired++;
      this.emit('expired', info);
      if (reason !== 'expired') this.emit('closed', { ...info, reason, alreadyExpired: true });
    } else {
      this.emit('ended', { ...info, reason });
    }
    this.#log('debug', `session ${outcome}`, { ...info, reason });
    return this.#background.add(this.#journalWrites.remove(core.id));
  }

  #closeFailed(core: SessionCore, error: unknown): void {
    this.#totals.closeFailures++;
    const info = { id: shortId(core.id), workbook: core.workbook };
    this.#log('warn', 'closing a session failed', { ...info, error: errorText(error) });
    this.emit('closeFailed', { ...info, reason: core.reason ?? 'disposed', error });
  }

  /**
   * The handle gave up its session after a fault and goes on without it: a stand-in takes the
   * session's place (its journal record too) and closes it, best effort, reported like any other
   * session until Graph confirms its end.
   */
  #handedOver(core: SessionCore, id: string): void {
    this.#sessions.delete(core);
    this.#reaper.untrack(core);
    const standIn = SessionCore.adopt(this.#host, core.workbook, core.persistChanges, id);
    this.#sessions.add(standIn);
    const reason = core.reason ?? 'expired';
    const info = { id: shortId(id), workbook: core.workbook };
    this.#log('debug', 'session given up', { ...info, reason });
    if (reason === 'failed') this.emit('ended', { ...info, reason });
    if (this.#closing !== undefined) return this.#closeForShutdown(standIn);
    this.#background.add(standIn.close(reason).catch(() => undefined));
  }

  /** The reaper's timer reached a session: close it if idle, refresh it if Graph would soon forget it. */
  #due(core: SessionCore, now: number): void {
    const policy: IdlePolicy = this.#settings;
    const decision = decide(clocksOf(core), policy, now);
    switch (decision.action) {
      case 'forget':
        return this.#reaper.untrack(core);
      case 'close':
        this.#reaper.untrack(core);
        this.#log('debug', 'closing an idle session', { id: shortId(core.id), workbook: core.workbook });
        this.#background.add(core.close('idle').catch(() => undefined));
        return;
      case 'refresh':
        this.#background.add(
          core.keepAlive(now).catch((error: unknown) => {
            const info = { id: shortId(core.id), workbook: core.workbook };
            this.#log('warn', 'keep-alive refresh failed', { ...info, error: errorText(error) });
          }),
        );
        return this.#reaper.reschedule(core, decision.next);
      case 'wait':
        return this.#reaper.reschedule(core, decision.next);
    }
  }

  /** Records `core`'s session in the journal, with its file once resolved; a remove of the same id waits for it. */
  #record(core: SessionCore): Promise<void> {
    const file = this.#resolver.fileOf(core.workbook);
    return this.#journalWrites.record({
      workbook: core.workbook,
      ...(file === undefined ? {} : { file }),
      id: core.id,
      persistChanges: core.persistChanges,
      createdAt: Date.now(),
    });
  }

  /**
   * A session Graph gave for a create nobody waits for any more (a shutdown gave up on it, or the
   * transport stopped waiting): closed at once, and kept (and reported) until Graph confirms.
   */
  #closeLate(workbook: string, created: CreatedSession): void {
    const core = SessionCore.adopt(this.#host, workbook, created.persistChanges, created.id);
    this.#sessions.add(core);
    this.#log('warn', 'closing a session created after its open was given up', { id: shortId(core.id), workbook });
    const close = async (): Promise<void> => {
      await this.#record(core);
      if (this.#closing === undefined) await core.close('disposed');
      else await (this.#closing as Shutdown).close(core);
    };
    this.#background.add(close().catch(() => undefined));
  }
}

function clocksOf(core: SessionCore): IdleClocks {
  return {
    open: core.state === 'open',
    inFlight: core.inFlight,
    lastActivity: core.lastActivity,
    lastContact: core.lastContact,
  };
}
