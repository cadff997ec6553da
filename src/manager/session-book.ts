import type { EventEmitter } from 'node:events';
import { ManagerShutDownError } from '../errors.js';
import { decide, nextDue, type IdleClocks, type IdlePolicy } from '../lifecycle/idle-policy.js';
import { IdleReaper } from '../lifecycle/idle-reaper.js';
import type { SessionSlot } from '../coordination/coordination.js';
import type { Shutdown } from '../lifecycle/shutdown.js';
import type { SessionLife } from '../session/life.js';
import { SessionCore, type SessionHost } from '../session/session-core.js';
import type { CreatedSession, GraphTransport } from '../transport/graph-transport.js';
import { shortId } from '../util/ids.js';
import { Pending } from '../util/pending.js';
import { errorText } from '../util/redact.js';
import { detached } from '../telemetry/tracing.js';
import type { SessionEvents } from './events.js';
import type { JournalWrites } from './journal-writes.js';
import type { Log } from './log.js';

/** What the book needs from its manager. */
export interface BookDeps {
  readonly transport: GraphTransport;
  /** Aborted when a shutdown gives up on creates still under way. */
  readonly creates: AbortSignal;
  /** A persistent session may be reopened (the manager is not shutting down). */
  readonly mayReopen: () => boolean;
  /** Waits for a place in a workbook's session budget (a reopen's). */
  readonly reserve: (workbook: string, signal: AbortSignal) => Promise<SessionSlot>;
  /** Counts a session that exists already against its workbook's budget. */
  readonly forceSlot: (workbook: string) => SessionSlot;
  readonly policy: IdlePolicy;
  readonly emit: EventEmitter<SessionEvents>['emit'];
  readonly log: Log;
  readonly journal: JournalWrites;
  /** The file a workbook reference names, once resolved. */
  readonly fileOf: (workbook: string) => string | undefined;
  /** Journal writes and background closes: a shutdown waits for them. */
  readonly background: Pending;
  /** The shutdown under way, once one began. */
  readonly shutdown: () => Shutdown | undefined;
}

/**
 * The manager's books on its sessions, from create until Graph confirmed the end: what is open,
 * the totals, and what every change of a session's phase means (events, journal writes, the
 * reaper). A session whose close failed stays for another try.
 */
export class SessionBook {
  readonly sessions = new Set<SessionCore>();
  readonly totals = { opened: 0, closed: 0, expired: 0, reopened: 0, retries: 0, closeFailures: 0 };
  // Creates (and reopens) under way, with their workbook; each settles into `sessions` or into a background close.
  readonly creating = new Pending<string>();
  /** Creates and reopens whose createSession has not answered yet. */
  opening = 0;
  readonly reaper: IdleReaper<SessionCore>;
  readonly host: SessionHost;
  readonly #d: BookDeps;

  constructor(deps: BookDeps) {
    this.#d = deps;
    // Not under the span of whichever open set the reaper's timer.
    this.reaper = new IdleReaper((core, now) => detached(() => this.#due(core, now)));
    this.host = {
      transport: deps.transport,
      creates: deps.creates,
      mayReopen: deps.mayReopen,
      reserve: deps.reserve,
      changed: (core, from, to) => this.changed(core, from, to),
    };
  }

  /** Every change of a session's phase, turned into events, totals, journal writes and reaper calls. */
  async changed(core: SessionCore, from: SessionLife, to: SessionLife): Promise<void> {
    switch (to.phase) {
      case 'open':
        return this.#tookIn(core, from);
      case 'reopening': {
        // Counted as opening, and waited for by a shutdown, until it settles.
        this.opening++;
        const settled = (): void => void this.opening--;
        void this.creating.add(to.reopen.done.then(settled, settled), core.workbook);
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
    this.sessions.add(core);
    const info = { id: shortId(core.id), workbook: core.workbook };
    if (from.phase === 'reopening') {
      this.totals.reopened++;
      this.#d.emit('reopened', { ...info, previousId: shortId(from.previousId), reason: from.previous });
    } else {
      this.totals.opened++;
      this.#d.log('debug', 'session opened', info);
      this.#d.emit('opened', { ...info, persistChanges: core.persistChanges });
    }
    await this.#record(core);
    const shutdown = this.#d.shutdown();
    if (shutdown !== undefined) {
      // Created after the shutdown began: closed at once, within its deadline, and reported.
      this.#d.background.add(shutdown.close(core));
      throw new ManagerShutDownError();
    }
    this.reaper.track(core, nextDue(clocksOf(core), this.#d.policy, Date.now()));
  }

  /** Graph confirmed the session's end, or it was already gone, or it ended for good. */
  #ended(core: SessionCore, outcome: 'closed' | 'expired' | 'ended' | 'released'): Promise<void> {
    this.sessions.delete(core);
    this.reaper.untrack(core);
    const info = { id: shortId(core.id), workbook: core.workbook };
    const reason = core.reason ?? 'disposed';
    if (outcome === 'closed') {
      this.totals.closed++;
      this.#d.emit('closed', { ...info, reason, alreadyExpired: false });
    } else if (outcome === 'expired') {
      this.totals.expired++;
      this.#d.emit('expired', info);
      if (reason !== 'expired') this.#d.emit('closed', { ...info, reason, alreadyExpired: true });
    } else if (outcome === 'ended') {
      this.#d.emit('ended', { ...info, reason });
    }
    // `released`: another process of the fleet retired it; this one closed nothing, and tells nothing.
    this.#d.log('debug', `session ${outcome}`, { ...info, reason });
    return this.#d.background.add(this.#d.journal.remove(core.id));
  }

  #closeFailed(core: SessionCore, error: unknown): void {
    this.totals.closeFailures++;
    const info = { id: shortId(core.id), workbook: core.workbook };
    this.#d.log('warn', 'closing a session failed', { ...info, error: errorText(error) });
    this.#d.emit('closeFailed', { ...info, reason: core.reason ?? 'disposed', error });
  }

  /**
   * The handle gave up its session after a fault and goes on without it: a stand-in takes the
   * session's place (its journal record too) and closes it, best effort, reported like any other
   * session until Graph confirms its end.
   */
  #handedOver(core: SessionCore, id: string): void {
    this.sessions.delete(core);
    this.reaper.untrack(core);
    const standIn = SessionCore.adopt(this.host, core.workbook, core.persistChanges, id, core.takeSlot());
    this.sessions.add(standIn);
    const reason = core.reason ?? 'expired';
    const info = { id: shortId(id), workbook: core.workbook };
    this.#d.log('debug', 'session given up', { ...info, reason });
    if (reason === 'failed') this.#d.emit('ended', { ...info, reason });
    const shutdown = this.#d.shutdown();
    this.#d.background.add(
      shutdown === undefined ? standIn.close(reason).catch(() => undefined) : shutdown.close(standIn),
    );
  }

  /** The reaper's timer reached a session: close it if idle, refresh it if Graph would soon forget it. */
  #due(core: SessionCore, now: number): void {
    const decision = decide(clocksOf(core), this.#d.policy, now);
    switch (decision.action) {
      case 'forget':
        return this.reaper.untrack(core);
      case 'close':
        this.reaper.untrack(core);
        this.#d.log('debug', 'closing an idle session', { id: shortId(core.id), workbook: core.workbook });
        this.#d.background.add(core.close('idle').catch(() => undefined));
        return;
      case 'refresh':
        this.#d.background.add(
          core.keepAlive(now).catch((error: unknown) => {
            const info = { id: shortId(core.id), workbook: core.workbook };
            this.#d.log('warn', 'keep-alive refresh failed', { ...info, error: errorText(error) });
          }),
        );
        return this.reaper.reschedule(core, decision.next);
      case 'wait':
        return this.reaper.reschedule(core, decision.next);
    }
  }

  /** Records `core`'s session in the journal, with its file once resolved; a remove of the same id waits for it. */
  #record(core: SessionCore): Promise<void> {
    const file = this.#d.fileOf(core.workbook);
    return this.#d.journal.record({
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
  closeLate(workbook: string, created: CreatedSession): void {
    const slot = this.#d.forceSlot(workbook);
    const core = SessionCore.adopt(this.host, workbook, created.persistChanges, created.id, slot);
    this.sessions.add(core);
    this.#d.log('warn', 'closing a session created after its open was given up', { id: shortId(core.id), workbook });
    const close = async (): Promise<void> => {
      await this.#record(core);
      const shutdown = this.#d.shutdown();
      await (shutdown === undefined ? core.close('disposed') : shutdown.close(core));
    };
    this.#d.background.add(close().catch(() => undefined));
  }
}

function clocksOf(core: SessionCore): IdleClocks {
  return {
    open: core.state === 'open',
    inFlight: core.inFlight,
    leases: core.leases,
    lastActivity: core.lastActivity,
    lastContact: core.lastContact,
  };
}
