import { setMaxListeners } from 'node:events';
import type { ShutdownReport } from '../types.js';
import { settledBefore } from '../util/abort.js';
import { errorText } from '../util/redact.js';
import { MAX_TIMER_MS } from '../util/timers.js';

/**
 * What the process hooks need from a manager. Every registered participant is shut down, in
 * parallel with the others, when the process is asked to stop or its event loop empties.
 */
export interface ExitHookParticipant {
  /**
   * Close every session. Resolves by the deadline with a report; aborting `signal` stops waiting
   * at once (resolves with what settled).
   */
  shutdown(options: {
    timeoutMs: number;
    signal: AbortSignal;
    reason: 'signal' | 'beforeExit';
  }): Promise<ShutdownReport>;
  /** Sessions still open or closing right now (synchronous, for the `'exit'` warning). */
  openSessionCount(): number;
  /** The participant's deadline for a shutdown, in ms. */
  readonly shutdownTimeoutMs: number;
}

type ShutdownReason = 'signal' | 'beforeExit';

/** How a participant's part of a round ended. */
type RoundOutcome =
  | { readonly kind: 'report'; readonly report: ShutdownReport }
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'cut-short'; readonly why: CutShortWhy };

type CutShortWhy = 'backstop' | 'second-signal' | 'loop-emptied';

/** One shutdown of every participant, started by a signal or by `beforeExit`. */
interface Round {
  readonly reason: ShutdownReason;
  /**
   * The signal to re-raise when the round ends; set by the first signal, even one arriving during a
   * `beforeExit` round.
   */
  signal: NodeJS.Signals | undefined;
  /** Aborted by a second signal, the backstop timer, or the event loop emptying while a signal round waits. */
  readonly abort: AbortController;
  /** Why waiting stopped early; set just before `abort` is aborted. */
  cutShort: CutShortWhy | undefined;
  /** Who takes part; reported on even if one unregisters while the round runs. */
  readonly participants: readonly ExitHookParticipant[];
  /** How each participant's part ended, filled in as each settles. */
  readonly outcomes: Map<ExitHookParticipant, RoundOutcome>;
}

/** The process-wide state, shared by every copy of this module loaded in the process. */
interface ExitHooksState {
  readonly version: 1;
  /** Registered participants; the listeners exist while this is not empty (or a round still runs). */
  readonly participants: Set<ExitHookParticipant>;
  /** Our installed listeners; set on the first registration, cleared with the last. */
  listeners: InstalledListeners | undefined;
  /** The shutdown under way; set when a signal or `beforeExit` starts one, cleared when it settles. */
  round: Round | undefined;
  /** How each participant's last round ended, for the `'exit'` warning; entries go with their participant. */
  readonly lastOutcome: Map<ExitHookParticipant, RoundOutcome>;
  /**
   * Sessions still open after the last `beforeExit` round; a new round runs only if the count changed,
   * so `beforeExit` cannot loop.
   */
  openAfterBeforeExit: number | undefined;
}

interface InstalledListeners {
  readonly signals: ReadonlyMap<NodeJS.Signals, (signal: NodeJS.Signals) => void>;
  readonly beforeExit: () => void;
  readonly exit: () => void;
}

const STATE_KEY = Symbol.for('workbook-sessions.exit-hooks');

/** Time the backstop timer allows past the longest participant deadline. */
const BACKSTOP_GRACE_MS = 1000;

function getState(): ExitHooksState {
  const holder = globalThis as { [STATE_KEY]?: unknown };
  const existing = holder[STATE_KEY] as Partial<ExitHooksState> | undefined;
  if (existing?.version === 1) return existing as ExitHooksState;
  const state: ExitHooksState = {
    version: 1,
    participants: new Set(),
    listeners: undefined,
    round: undefined,
    lastOutcome: new Map(),
    openAfterBeforeExit: undefined,
  };
  // A state of another shape (a future major version) is left alone; this copy keeps its own.
  if (existing === undefined) holder[STATE_KEY] = state;
  return state;
}

/** The signals that ask a process to stop on this platform. */
function stopSignals(): NodeJS.Signals[] {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  if (process.platform === 'win32') signals.push('SIGBREAK');
  return signals;
}

/**
 * Registers a participant with the process-wide shutdown hooks, installing the listeners on the
 * first registration. Returns a function that unregisters it (idempotent); the listeners are
 * removed with the last participant.
 */
export function registerExitHooks(participant: ExitHookParticipant): () => void {
  const state = getState();
  state.participants.add(participant);
  if (state.listeners === undefined) install(state);
  let registered = true;
  return () => {
    if (!registered) return;
    registered = false;
    state.participants.delete(participant);
    state.lastOutcome.delete(participant);
    // A participant may leave from inside the shutdown we asked of it; the listeners then stay until
    // the round ends, so a second signal is still ours to handle.
    if (state.participants.size === 0 && state.round === undefined) uninstall(state);
  };
}

/** How many participants are registered in this process (every copy of the library counted). */
export function exitHookParticipantCount(): number {
  return getState().participants.size;
}

function install(state: ExitHooksState): void {
  const signals = new Map<NodeJS.Signals, (signal: NodeJS.Signals) => void>();
  for (const name of stopSignals()) {
    const listener = (signal: NodeJS.Signals): void => onSignal(state, signal);
    signals.set(name, listener);
    process.on(name, listener);
  }
  const beforeExit = (): void => onBeforeExit(state);
  const exit = (): void => onExit(state);
  process.on('beforeExit', beforeExit);
  process.on('exit', exit);
  state.listeners = { signals, beforeExit, exit };
}

function uninstall(state: ExitHooksState): void {
  const listeners = state.listeners;
  if (listeners === undefined) return;
  state.listeners = undefined;
  for (const [name, listener] of listeners.signals) process.removeListener(name, listener);
  process.removeListener('beforeExit', listeners.beforeExit);
  process.removeListener('exit', listeners.exit);
}

/** Listeners for `signal` other than ours. */
function otherListenerCount(state: ExitHooksState, signal: NodeJS.Signals): number {
  const ours = state.listeners?.signals.get(signal);
  const all = process.listeners(signal);
  return all.filter((listener) => listener !== ours).length;
}

function onSignal(state: ExitHooksState, signal: NodeJS.Signals): void {
  const round = state.round;
  if (round === undefined) {
    startRound(state, 'signal', signal);
    return;
  }
  if (round.signal === undefined) {
    // The loop emptied and a beforeExit round is closing sessions; finish it, then end as the signal asks.
    round.signal = signal;
    return;
  }
  // A second signal: stop waiting. With nobody else listening, end now.
  abortRound(round, 'second-signal', `Shutdown cut short by a second signal (${signal})`);
  if (otherListenerCount(state, signal) === 0) {
    state.round = undefined;
    for (const participant of round.participants) {
      if (!round.outcomes.has(participant))
        round.outcomes.set(participant, { kind: 'cut-short', why: 'second-signal' });
    }
    recordOutcomes(state, round);
    reRaise(state, signal, round);
  }
}

function onBeforeExit(state: ExitHooksState): void {
  const round = state.round;
  if (round !== undefined) {
    // Nothing left that could settle the round (its backstop timer is unref'd): stop waiting.
    if (round.signal !== undefined) abortRound(round, 'loop-emptied', 'The event loop emptied during shutdown');
    return;
  }
  const open = totalOpen(state);
  if (open === 0) {
    state.openAfterBeforeExit = undefined;
    return;
  }
  // The same sessions are still open after our last try: they cannot be closed, let the process end.
  if (open === state.openAfterBeforeExit) return;
  startRound(state, 'beforeExit', undefined);
}

function onExit(state: ExitHooksState): void {
  const message = leftOpenMessage(state, 'at exit');
  if (message !== undefined) writeStderr(message);
}

function totalOpen(state: ExitHooksState): number {
  let open = 0;
  for (const participant of state.participants) open += safeOpenCount(participant);
  return open;
}

function safeOpenCount(participant: ExitHookParticipant): number {
  try {
    const count = participant.openSessionCount();
    return Number.isFinite(count) && count > 0 ? count : 0;
  } catch {
    return 0;
  }
}

function startRound(state: ExitHooksState, reason: ShutdownReason, signal: NodeJS.Signals | undefined): void {
  const round: Round = {
    reason,
    signal,
    abort: new AbortController(),
    cutShort: undefined,
    // On beforeExit, only participants that still hold sessions: an idle one must not delay the end.
    participants: [...state.participants].filter(
      (participant) => reason === 'signal' || safeOpenCount(participant) > 0,
    ),
    outcomes: new Map(),
  };
  state.round = round;
  const { participants } = round;
  // Each participant waits on the round's signal, and its shutdown listens to it too: with more
  // than a handful of managers Node would warn of a leak that is not one.
  setMaxListeners(0, round.abort.signal);
  const longest = Math.max(0, ...participants.map((participant) => deadlineOf(participant)));
  // A backstop in case a participant ignores its deadline; unref'd, so it never holds the process.
  const backstop = setTimeout(
    () => {
      abortRound(round, 'backstop', 'Shutdown overran its deadline');
    },
    // setTimeout fires at once for anything past its limit: a longer deadline is cut to it (about 24.8 days).
    Math.min(MAX_TIMER_MS, longest + BACKSTOP_GRACE_MS),
  );
  backstop.unref();

  void Promise.all(
    participants.map(async (participant) => {
      const outcome = await shutdownOne(participant, round);
      round.outcomes.set(participant, outcome);
    }),
  ).then(() => {
    clearTimeout(backstop);
    if (state.round !== round) return; // a second signal already ended the process
    state.round = undefined;
    recordOutcomes(state, round);
    if (reason === 'beforeExit') state.openAfterBeforeExit = totalOpen(state);
    const toRaise = round.signal;
    if (toRaise !== undefined && otherListenerCount(state, toRaise) === 0) {
      reRaise(state, toRaise, round);
      return;
    }
    // Otherwise the application listens to that signal too (or none came): exiting is its call.
    if (state.participants.size === 0) {
      // Everyone left during the round, so no 'exit' warning will come: say now what was left open.
      const message = leftOpenMessage(state, `after the shutdown on ${toRaise ?? 'beforeExit'}`, round);
      if (message !== undefined) writeStderr(message);
      uninstall(state);
    }
  });
}

/** Keeps how each participant's part of `round` ended, for the warnings. */
function recordOutcomes(state: ExitHooksState, round: Round): void {
  for (const [participant, outcome] of round.outcomes) {
    if (state.participants.has(participant)) state.lastOutcome.set(participant, outcome);
  }
}

function deadlineOf(participant: ExitHookParticipant): number {
  const ms = participant.shutdownTimeoutMs;
  return Number.isFinite(ms) && ms >= 0 ? ms : 0;
}

function abortRound(round: Round, why: CutShortWhy, message: string): void {
  if (round.abort.signal.aborted) return;
  round.cutShort = why;
  round.abort.abort(new Error(message));
}

/** Runs one participant's part of `round`; never rejects, and stops waiting when the round is cut short. */
async function shutdownOne(participant: ExitHookParticipant, round: Round): Promise<RoundOutcome> {
  const { signal } = round.abort;
  const work = (async (): Promise<RoundOutcome> => {
    try {
      const report = await participant.shutdown({ timeoutMs: deadlineOf(participant), signal, reason: round.reason });
      return { kind: 'report', report };
    } catch (error) {
      return { kind: 'error', error };
    }
  })();
  if (await settledBefore(work, signal)) return work;
  return { kind: 'cut-short', why: round.cutShort ?? 'backstop' };
}

/** Removes our listener for `signal` and raises it again, so the process ends the way it would have without us. */
function reRaise(state: ExitHooksState, signal: NodeJS.Signals, round: Round): void {
  // 'exit' does not run when a signal ends the process, so say now what was left open.
  const message = leftOpenMessage(state, `when ${signal} ended the process`, round);
  if (message !== undefined) writeStderr(message);
  const ours = state.listeners?.signals.get(signal);
  if (ours !== undefined) process.removeListener(signal, ours);
  process.kill(process.pid, signal);
}

/** What a warning about sessions left open says, added up over the participants. */
interface LeftOpenTally {
  left: number;
  pastDeadline: number;
  failed: number;
  readonly reasons: Set<string>;
}

/** The warning for sessions left open, or `undefined` when there are none. */
function leftOpenMessage(state: ExitHooksState, when: string, round?: Round): string | undefined {
  const tally: LeftOpenTally = { left: 0, pastDeadline: 0, failed: 0, reasons: new Set() };
  for (const participant of new Set([...state.participants, ...(round?.participants ?? [])])) {
    const open = safeOpenCount(participant);
    const outcome = round?.outcomes.get(participant) ?? state.lastOutcome.get(participant);
    if (outcome === undefined) {
      tally.left += open;
      if (open > 0) tally.reasons.add('no shutdown ran before the process ended');
      continue;
    }
    switch (outcome.kind) {
      case 'report':
        addReport(tally, outcome.report, open, `the ${String(deadlineOf(participant))} ms shutdown deadline passed`);
        break;
      case 'error':
        tally.left += open;
        if (open > 0) tally.reasons.add(`shutdown threw: ${errorText(outcome.error)}`);
        break;
      case 'cut-short':
        tally.left += open;
        tally.pastDeadline += open;
        if (open > 0) tally.reasons.add(cutShortReason(outcome.why));
        break;
    }
  }
  return tallyText(tally, when);
}

/**
 * The same warning for one shutdown's report, for a `shutdown()` called by the application (the
 * hooks warn of their own): `open` is what the manager still counts open, `timedOutBecause` why
 * waiting stopped when the report says it timed out.
 */
export function shutdownLeftOpenMessage(
  report: ShutdownReport,
  options: { readonly open: number; readonly when: string; readonly timedOutBecause: string },
): string | undefined {
  const tally: LeftOpenTally = { left: 0, pastDeadline: 0, failed: 0, reasons: new Set() };
  addReport(tally, report, options.open, options.timedOutBecause);
  return tallyText(tally, options.when);
}

function addReport(tally: LeftOpenTally, report: ShutdownReport, open: number, timedOutBecause: string): void {
  // `leftOpen` counts the failed closes too.
  tally.left += Math.max(open, report.leftOpen);
  tally.pastDeadline += Math.max(0, report.leftOpen - report.failed);
  tally.failed += report.failed;
  if (report.timedOut && report.leftOpen > report.failed) tally.reasons.add(timedOutBecause);
}

function tallyText(tally: LeftOpenTally, when: string): string | undefined {
  const { left, pastDeadline, failed, reasons } = tally;
  if (left === 0) return undefined;
  const parts: string[] = [];
  if (pastDeadline > 0) parts.push(`${String(pastDeadline)} not closed in time`);
  if (failed > 0) parts.push(`${String(failed)} failed to close`);
  const detail = [...parts, ...reasons].join('; ');
  const noun = left === 1 ? 'session' : 'sessions';
  return (
    `workbook-sessions: ${String(left)} workbook ${noun} left open ${when} (${detail}). ` +
    'Graph expires them after about 5 minutes.'
  );
}

function cutShortReason(why: CutShortWhy): string {
  switch (why) {
    case 'backstop':
      return 'a shutdown overran its deadline';
    case 'second-signal':
      return 'a second signal cut the shutdown short';
    case 'loop-emptied':
      return 'nothing was left to finish the shutdown';
  }
}

/** Writes a warning line to stderr, as the hooks do (also for the warning after an application's `shutdown()`). */
export function writeStderr(message: string): void {
  try {
    // Synchronous for files and pipes on POSIX, which is all an exiting process can count on.
    process.stderr.write(`${message}\n`);
  } catch {
    // Nowhere left to report to.
  }
}
