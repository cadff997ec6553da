import type { Client } from '@microsoft/microsoft-graph-client';
import type { FleetSettings } from './fleet-types.js';
import { SessionJournal } from '../journal/journal.js';
import type { SessionStore } from '../journal/session-store.js';
import { MAX_TIMER_MS } from '../util/timers.js';
import { checkBoolean, checkKeys, checkNumber, checkSignal, describe } from '../util/validate.js';
import { fleetFrom, fleetRequestTimeout } from './fleet-options.js';
import type { FleetOptions } from './fleet-types.js';

export type { FleetOptions } from './fleet-types.js';

/**
 * Where the manager writes what it does: `console`, winston, pino, or any object with some of these
 * methods. They are called `(message, data)`, as console and winston take them; a pino logger
 * (recognized by pino's own mark, children and other copies of pino included) is called
 * `(data, message)`, as pino takes them.
 */
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
   * Infinity turns the limit off. With `fleet`, it must stay below `fleet.leaseTtlMs`.
   * @default 60000; with `fleet`, two thirds of `fleet.leaseTtlMs` (20000)
   */
  readonly requestTimeoutMs?: number;
  /**
   * A journal of open sessions, so that a crash's leftovers are closed on the next start: a file
   * or directory path, a `SessionJournal`, or any `SessionStore` (a `RedisSessionStore` keeps it in
   * Redis for a whole fleet; with `fleet` on, every replica then reaps the sessions of dead owners).
   */
  readonly journal?: { readonly path: string } | SessionStore;
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
  /**
   * Sessions one workbook may have open (or being created) at once, counted per file. An `open()`
   * beyond it waits, first come first served, until one of them ends. Graph advises few sessions
   * per file (concurrent sessions can conflict; the cap is about 25). Infinity turns it off.
   * @default 8
   */
  readonly maxSessionsPerWorkbook?: number;
  /**
   * How long an `open()` or `acquire()` waits for a place in its workbook's session budget before it
   * fails with a SessionBudgetTimeoutError. Infinity waits as long as it takes (its signal still aborts it).
   * An `acquire()` that joins a shared session still waiting for its place shares that wait, and its end.
   * @default 60000
   */
  readonly sessionBudgetTimeoutMs?: number;
  /**
   * Fleet mode: every process on one Redis shares each workbook's lane, its cooldowns and its
   * session budget (see the README's "Fleet mode").
   * @default none (coordination stays in this process)
   */
  readonly fleet?: FleetOptions;
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
  /**
   * A lease on the workbook's shared session instead of a session of its own (see `acquire()`).
   * Only persistent sessions are shared.
   * @default false
   */
  readonly shared?: boolean;
}

export interface AcquireOptions {
  /** Aborts the wait for the shared session. The session itself goes on for the other leases. */
  readonly signal?: AbortSignal;
  /**
   * What the lease does when the shared session is replaced (Graph expired or faulted it):
   * `follow` moves on to the new session; `fail` fails the lease's calls with a SessionClosedError
   * instead, for work that must not continue in a new session (its earlier writes may not have
   * reached the file yet).
   * @default 'follow'
   */
  readonly onNewSession?: 'follow' | 'fail';
}

export interface ShutdownOptions {
  /** @default the manager's `shutdownTimeoutMs` */
  readonly timeoutMs?: number;
  /** Stop waiting at once; closes already sent go on. */
  readonly signal?: AbortSignal;
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
  'maxSessionsPerWorkbook',
  'sessionBudgetTimeoutMs',
  'fleet',
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
  maxSessionsPerWorkbook: 8,
  sessionBudgetTimeoutMs: 60_000,
} as const;

/** The shortest first wait between polls of a long-running createSession. */
const MIN_POLL_INTERVAL_MS = 10;

export type Settings = {
  -readonly [K in keyof typeof DEFAULTS]: (typeof DEFAULTS)[K] extends boolean ? boolean : number;
} & { readonly fleet: FleetSettings | undefined };

/**
 * The manager's options checked, with defaults filled in. Throws a TypeError or RangeError naming
 * the bad option, before anything is created.
 */
export function settingsFrom(options: SessionManagerOptions): Settings {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected SessionManager options to be an object, got ${describe(options)}`);
  }
  checkKeys('SessionManager option', options, OPTION_KEYS);
  const client = options.client as unknown;
  if (typeof client !== 'object' || client === null || typeof (client as { api?: unknown }).api !== 'function') {
    throw new TypeError(
      `Expected \`client\` to be a Graph Client (from @microsoft/microsoft-graph-client), got ${describe(client)}`,
    );
  }
  const pick = <K extends keyof typeof DEFAULTS>(key: K): (typeof DEFAULTS)[K] | unknown =>
    options[key] === undefined ? DEFAULTS[key] : options[key];
  const fleet = fleetFrom(options.fleet);
  const settings: Settings = {
    fleet,
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
    maxSessionsPerWorkbook: checkNumber('maxSessionsPerWorkbook', pick('maxSessionsPerWorkbook'), 1, {
      integer: true,
      allowInfinity: true,
    }),
    sessionBudgetTimeoutMs: checkNumber('sessionBudgetTimeoutMs', pick('sessionBudgetTimeoutMs'), 0, {
      allowInfinity: true,
    }),
  };
  if (fleet !== undefined) {
    settings.requestTimeoutMs = fleetRequestTimeout(
      fleet,
      options.requestTimeoutMs === undefined ? undefined : settings.requestTimeoutMs,
    );
  }
  if (settings.retryMaxDelayMs < settings.retryBaseDelayMs) {
    throw new RangeError(
      `Expected \`retryMaxDelayMs\` (${settings.retryMaxDelayMs}) to be >= ` +
        `\`retryBaseDelayMs\` (${settings.retryBaseDelayMs})`,
    );
  }
  return settings;
}

export function checkLogger(logger: unknown): Logger | undefined {
  if (logger === undefined) return undefined;
  if (typeof logger !== 'object' || logger === null)
    throw new TypeError(
      `Expected \`logger\` to be an object with debug/info/warn/error methods, got ${describe(logger)}`,
    );
  // Looked up as the manager will call them (inherited methods count, as on a winston or pino logger).
  const methods = logger as Record<string, unknown>;
  for (const level of ['debug', 'info', 'warn', 'error'] as const) {
    const method = methods[level];
    if (method !== undefined && typeof method !== 'function')
      throw new TypeError(`Expected \`logger.${level}\` to be a function, got ${describe(method)}`);
  }
  return logger as Logger;
}

export function journalFrom(journal: SessionManagerOptions['journal']): SessionStore | undefined {
  if (journal === undefined) return undefined;
  if (journal instanceof SessionJournal || isSessionStore(journal)) return journal;
  if (typeof journal !== 'object' || journal === null)
    throw new TypeError(`Expected \`journal\` to be { path } or a SessionJournal, got ${describe(journal)}`);
  checkKeys('journal option', journal, ['path']);
  return new SessionJournal({ path: journal.path });
}

const STORE_METHODS = ['record', 'remove', 'close', 'scan', 'claimOrphans'] as const;

/** A store of another kind (in Redis, in a database) is taken by its shape: every method of the seam. */
function isSessionStore(journal: unknown): journal is SessionStore {
  if (typeof journal !== 'object' || journal === null) return false;
  const methods = journal as Record<string, unknown>;
  return STORE_METHODS.every((method) => typeof methods[method] === 'function');
}

/** The options of one `open()`, checked. */
export function openSettings(options: OpenOptions): {
  persistChanges: boolean;
  signal: AbortSignal | undefined;
  shared: boolean;
} {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected open options to be an object, got ${describe(options)}`);
  }
  checkKeys('open option', options, ['persistChanges', 'signal', 'shared']);
  const persistChanges =
    options.persistChanges === undefined ? true : checkBoolean('persistChanges', options.persistChanges);
  const shared = options.shared === undefined ? false : checkBoolean('shared', options.shared);
  if (shared && !persistChanges) {
    throw new TypeError(
      'Expected `persistChanges` to be true with `shared`: a non-persistent session works on its own copy, ' +
        'which belongs to one piece of work',
    );
  }
  return { persistChanges, signal: checkSignal('signal', options.signal), shared };
}

/** The options of one `acquire()`, checked. */
export function acquireSettings(options: AcquireOptions): {
  signal: AbortSignal | undefined;
  onNewSession: 'follow' | 'fail';
} {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected acquire options to be an object, got ${describe(options)}`);
  }
  checkKeys('acquire option', options, ['signal', 'onNewSession']);
  const onNewSession = options.onNewSession ?? 'follow';
  if (onNewSession !== 'follow' && onNewSession !== 'fail') {
    throw new TypeError(`Expected \`onNewSession\` to be 'follow' or 'fail', got ${describe(onNewSession)}`);
  }
  return { signal: checkSignal('signal', options.signal), onNewSession };
}

/** The options of `shutdown()`, checked; `timeoutMs` defaults to the manager's. */
export function shutdownSettings(
  options: ShutdownOptions,
  defaultTimeoutMs: number,
): { timeoutMs: number; signal: AbortSignal | undefined } {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected shutdown options to be an object, got ${describe(options)}`);
  }
  checkKeys('shutdown option', options, ['timeoutMs', 'signal', 'reason']);
  const timeoutMs = options.timeoutMs === undefined ? defaultTimeoutMs : checkNumber('timeoutMs', options.timeoutMs, 0);
  return { timeoutMs, signal: checkSignal('signal', options.signal) };
}
