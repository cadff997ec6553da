import { setMaxListeners } from 'node:events';
import type { SessionCore } from '../session/session-core.js';
import type { ShutdownReport, ShutdownSessionOutcome } from '../types.js';
import { linkAbort, settledBefore } from '../util/abort.js';
import { Pending } from '../util/pending.js';
import { errorText } from '../util/redact.js';
import { shortId } from '../util/ids.js';
import { setLongTimeout } from '../util/timers.js';

type Outcome = ShutdownSessionOutcome['outcome'];

/**
 * One shutdown of a manager: its deadline, the closes it waits for, and each session's outcome.
 * Sessions that turn up while it runs (creates and reopens finishing) join it; once its report is
 * out, a session that turns up is closed on its own, within a deadline of its own.
 */
export class Shutdown {
  readonly started = Date.now();
  // Aborted when the deadline passes or the caller's signal fires: closes still waiting (in a lane,
  // a backoff, a cooldown) stop then, so nothing of ours runs on after shutdown() resolves.
  readonly #deadline = new AbortController();
  readonly #timeoutMs: number;
  readonly #outcomes = new Map<SessionCore, Outcome | undefined>();
  readonly #closes = new Pending();
  readonly #clear: () => void;
  #over = false;

  constructor(timeoutMs: number, signal: AbortSignal | undefined) {
    this.#timeoutMs = timeoutMs;
    // Every close listens to it (its queue wait, its backoff, its fetch): many listeners are expected.
    setMaxListeners(0, this.#deadline.signal);
    // Unref'd: the closes hold the process open while they run, the deadline alone does not.
    const timer = setLongTimeout(
      () => this.#deadline.abort(new Error(`shutdown deadline of ${timeoutMs} ms passed`)),
      timeoutMs,
    );
    timer.unref();
    const unlink = linkAbort(signal, this.#deadline);
    this.#clear = () => {
      timer.clear();
      unlink();
    };
  }

  get deadline(): AbortSignal {
    return this.#deadline.signal;
  }

  /** Closes `core` as part of this shutdown, within its deadline, and records how the close ended. */
  close(core: SessionCore): Promise<void> {
    if (this.#over) {
      // The report is out: closed at once, on its own, and within a shutdown's deadline of its own:
      // a close resent for retryDeadlineMs would keep the process alive long after shutdown() resolved.
      return core.close('shutdown', AbortSignal.timeout(this.#timeoutMs)).catch(() => undefined);
    }
    this.#outcomes.set(core, undefined);
    const deadline = this.#deadline.signal;
    const done = core.close('shutdown', deadline).then(
      // How the close ended, not why it was begun: a session given up after a fault (reason `expired`)
      // whose close Graph confirmed was closed by us.
      () => void this.#outcomes.set(core, endedExpired(core) ? 'expired' : 'closed'),
      () => void this.#outcomes.set(core, deadline.aborted ? 'pending' : 'failed'),
    );
    return this.#closes.add(done);
  }

  /**
   * Waits until this shutdown's closes and every one of `others` has settled (work added meanwhile
   * included), then `last`, or until the deadline; true when everything finished in time.
   */
  async settle(others: ReadonlyArray<Pending<unknown>>, last: () => Promise<void>): Promise<boolean> {
    const work = (async () => {
      await Pending.drained(this.#closes, ...others);
      await last();
    })();
    const finished = await settledBefore(work, this.#deadline.signal);
    this.#clear();
    return finished;
  }

  /**
   * The report; from now on, sessions that turn up are closed on their own. `creating` are the
   * workbooks of creates still under way: Graph may still make their sessions, so they are reported
   * as possibly open, without an id yet.
   */
  report(finished: boolean, creating: readonly string[]): ShutdownReport {
    this.#over = true;
    const sessions: ShutdownSessionOutcome[] = [...this.#outcomes].map(([core, settled]) => {
      const outcome = settled ?? 'pending';
      return {
        id: shortId(core.id),
        workbook: core.workbook,
        outcome,
        ...(outcome === 'failed' ? { error: errorText(core.closeError) } : {}),
      };
    });
    for (const workbook of creating) sessions.push({ id: '(creating)', workbook, outcome: 'pending' });
    const count = (kind: Outcome): number => sessions.filter((s) => s.outcome === kind).length;
    return {
      closed: count('closed'),
      expired: count('expired'),
      failed: count('failed'),
      leftOpen: count('pending') + count('failed'),
      timedOut: !finished,
      durationMs: Date.now() - this.started,
      sessions,
    };
  }
}

/** The session's close found it already gone on the server. */
function endedExpired(core: SessionCore): boolean {
  const life = core.life;
  return life.phase === 'ended' && life.outcome === 'expired';
}
