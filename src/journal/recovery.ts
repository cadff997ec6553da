import PQueue from 'p-queue';
import { hostname } from 'node:os';
import { abortReason } from '../util/abort.js';
import { shortId } from '../util/ids.js';
import { errorText } from '../util/redact.js';
import { tracedRecovery } from '../telemetry/spans.js';
import { checkBoolean, checkKeys, checkNumber, checkSignal, describe } from '../util/validate.js';
import { HEARTBEAT_MS } from './owner-markers.js';
import type { JournalCorruption, JournalEntry, JournalScan, OrphanClaim, SessionStore } from './session-store.js';

/** One session in a recovery report. The id is shortened: a whole session id is never reported. */
export interface RecoveredSession {
  /** The session id, shortened. */
  readonly id: string;
  readonly workbook: string;
  readonly persistChanges: boolean;
  /** When the session was created, epoch ms. */
  readonly createdAt: number;
  /** The process that created it. */
  readonly pid: number;
  /** Set when the session was recorded on another host (its liveness cannot be judged here). */
  readonly host?: string;
  /** For `expired`: `age` (past Graph's expiry, nothing sent) or `graph` (Graph no longer knew it). */
  readonly expiredBy?: 'age' | 'graph';
  /** For `failed`: why, without secrets. The session stays in the journal for the next recovery. */
  readonly error?: string;
}

/** What `recoverOrphans()` did, or with `dryRun` would do. */
export interface RecoveryReport {
  readonly dryRun: boolean;
  /** Orphans Graph confirmed closed. */
  readonly closed: RecoveredSession[];
  /** Orphans that needed no close: past Graph's expiry by age, or unknown to Graph. Dropped from the journal. */
  readonly expired: RecoveredSession[];
  /** Orphans whose close failed; they stay in the journal. */
  readonly failed: RecoveredSession[];
  /** Sessions of live processes, or recorded on another host, left alone. */
  readonly skippedLive: RecoveredSession[];
  /** With `dryRun`: the orphans a real run would close. */
  readonly wouldClose: RecoveredSession[];
  /** Journal lines that could not be read; skipped. */
  readonly corrupt: JournalCorruption[];
}

/** Closes one session: `closed`, or `expired` when Graph no longer knew it; rejects on failure. */
export type SessionCloser = (workbook: string, id: string, entry: JournalEntry) => Promise<'closed' | 'expired'>;

export interface RecoverOptions {
  /**
   * List what would be closed; close nothing, write nothing, take no lock.
   * @default false
   */
  readonly dryRun?: boolean;
  /**
   * The clock used to judge expiry, epoch ms.
   * @default Date.now
   */
  readonly now?: () => number;
  /**
   * A persistent session unused for this long is taken as expired and not closed. Its last use is
   * bounded by its owner's last heartbeat (the owner marker's time, plus `HEARTBEAT_MS`) or its
   * `createdAt`, whichever is later; without an owner marker it is always closed.
   * `Infinity` closes every orphan regardless of age.
   * @default 300_000
   */
  readonly persistentExpiryMs?: number;
  /**
   * The same for a non-persistent session.
   * @default 420_000
   */
  readonly nonPersistentExpiryMs?: number;
  /**
   * How many closes run at once (the closer may queue them further).
   * @default 8
   */
  readonly concurrency?: number;
  /** Stops waiting for the lock and starting closes; rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

const OPTION_KEYS = ['dryRun', 'now', 'persistentExpiryMs', 'nonPersistentExpiryMs', 'concurrency', 'signal'];

/**
 * Closes the sessions a store holds for processes that are gone. Sessions of live processes are
 * never touched; orphans past Graph's expiry (judged by the owner's last heartbeat, the latest the
 * store knows) are dropped without a request. Works under the store's claim on the orphans, whose
 * list is read once the claim is held, so recoverers running at once close each orphan once.
 */
export async function recoverOrphans(
  journal: SessionStore,
  closer: SessionCloser,
  options: RecoverOptions = {},
): Promise<RecoveryReport> {
  if (
    typeof journal !== 'object' ||
    journal === null ||
    typeof journal.scan !== 'function' ||
    typeof journal.claimOrphans !== 'function'
  ) {
    throw new TypeError(`Expected \`journal\` to be a SessionJournal, got ${describe(journal)}`);
  }
  if (typeof closer !== 'function')
    throw new TypeError(`Expected \`closer\` to be a function, got ${describe(closer)}`);
  const settings = checkOptions(options);
  const { signal } = options;
  signal?.throwIfAborted();
  if (settings.dryRun) return dryRunReport(await journal.scan(), settings);

  const claim = await journal.claimOrphans(signal === undefined ? {} : { signal });
  try {
    const report = await tracedRecovery(claim.orphans.length, () => recoverClaimed(claim, closer, settings, signal));
    if (signal?.aborted) throw abortReason(signal);
    await claim.complete();
    return report;
  } finally {
    await claim.release();
  }
}

/** What a real run would do, from a scan: nothing is closed, written or claimed. */
function dryRunReport(scan: JournalScan, settings: Settings): RecoveryReport {
  const report = emptyReport(true, scan.corrupt, scan.live);
  for (const entry of scan.orphans) {
    if (isPastExpiry(entry, settings)) report.expired.push(summary(entry, { expiredBy: 'age' }));
    else report.wouldClose.push(summary(entry));
  }
  return report;
}

type Outcome = { list: 'closed' | 'expired' | 'failed'; session: RecoveredSession };

/**
 * Settles the claimed orphans: those past expiry at once, the others once their close is answered
 * (a failed close is left unsettled for the next recovery). On abort no new close starts; those
 * already sent finish and are settled.
 */
async function recoverClaimed(
  claim: OrphanClaim,
  closer: SessionCloser,
  settings: Settings,
  signal: AbortSignal | undefined,
): Promise<RecoveryReport> {
  // Outcomes by claim position, so the report lists sessions in journal order, not finish order.
  const outcomes: Array<Outcome | undefined> = [];
  const toClose: Array<{ entry: JournalEntry; index: number }> = [];
  for (const [index, entry] of claim.orphans.entries()) {
    if (isPastExpiry(entry, settings)) {
      await claim.settle(entry.id, 'expired');
      outcomes[index] = { list: 'expired', session: summary(entry, { expiredBy: 'age' }) };
    } else {
      toClose.push({ entry, index });
    }
  }
  await eachAtMost(settings.concurrency, toClose, signal, async ({ entry, index }) => {
    outcomes[index] = await closeOne(claim, closer, entry);
  });
  const report = emptyReport(false, claim.corrupt, claim.live);
  for (const outcome of outcomes) if (outcome !== undefined) report[outcome.list].push(outcome.session);
  return report;
}

async function closeOne(claim: OrphanClaim, closer: SessionCloser, entry: JournalEntry): Promise<Outcome> {
  let outcome: 'closed' | 'expired';
  try {
    outcome = await closer(entry.workbook, entry.id, entry);
  } catch (error) {
    return { list: 'failed', session: summary(entry, { error: describeError(error, entry.id) }) };
  }
  await claim.settle(entry.id, outcome === 'expired' ? 'expired' : 'recovered');
  return outcome === 'expired'
    ? { list: 'expired', session: summary(entry, { expiredBy: 'graph' }) }
    : { list: 'closed', session: summary(entry) };
}

/** Runs `work` on each item, at most `limit` at once, starting none after `signal` aborts. */
/** Runs `work` on each item, at most `limit` at once (a p-queue), starting none once `signal` aborted. */
async function eachAtMost<T>(
  limit: number,
  items: readonly T[],
  signal: AbortSignal | undefined,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const queue = new PQueue({ concurrency: limit });
  await Promise.all(
    items.map((item) =>
      queue.add(async () => {
        if (signal?.aborted) return;
        await work(item);
      }),
    ),
  );
}

interface Settings {
  dryRun: boolean;
  now: () => number;
  persistentExpiryMs: number;
  nonPersistentExpiryMs: number;
  concurrency: number;
}

function checkOptions(options: RecoverOptions): Settings {
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`Expected \`options\` to be an object, got ${describe(options)}`);
  checkKeys('recover option', options, OPTION_KEYS);
  const {
    dryRun = false,
    now = Date.now,
    persistentExpiryMs = 300_000,
    nonPersistentExpiryMs = 420_000,
    concurrency = 8,
    signal,
  } = options;
  checkBoolean('dryRun', dryRun);
  if (typeof now !== 'function') throw new TypeError(`Expected \`now\` to be a function, got ${describe(now)}`);
  checkExpiry('persistentExpiryMs', persistentExpiryMs);
  checkExpiry('nonPersistentExpiryMs', nonPersistentExpiryMs);
  checkNumber('concurrency', concurrency, 1, { integer: true });
  checkSignal('signal', signal);
  return { dryRun, now, persistentExpiryMs, nonPersistentExpiryMs, concurrency };
}

/** An expiry: a number >= 0, Infinity included (close every orphan regardless of age). */
function checkExpiry(name: string, value: unknown): void {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new TypeError(`Expected \`${name}\` to be a number >= 0 (or Infinity), got ${describe(value)}`);
  }
}

/**
 * Whether Graph has surely expired the session. Graph counts inactivity, and calls write nothing to
 * the journal, so the last use is bounded by the owner's last heartbeat (plus one interval). An
 * owner that left no marker gives no bound: its sessions are closed, a 404 then says "expired".
 */
function isPastExpiry(entry: JournalEntry, settings: Settings): boolean {
  if (entry.lastSeenAt === undefined) return false;
  const expiry = entry.persistChanges ? settings.persistentExpiryMs : settings.nonPersistentExpiryMs;
  const lastUse = Math.max(entry.createdAt, entry.lastSeenAt + HEARTBEAT_MS);
  return settings.now() - lastUse >= expiry;
}

function emptyReport(dryRun: boolean, corrupt: JournalCorruption[], live: JournalEntry[]): RecoveryReport {
  return {
    dryRun,
    closed: [],
    expired: [],
    failed: [],
    skippedLive: live.map((entry) => summary(entry)),
    wouldClose: [],
    corrupt,
  };
}

function summary(entry: JournalEntry, extra: { expiredBy?: 'age' | 'graph'; error?: string } = {}): RecoveredSession {
  return {
    id: shortId(entry.id),
    workbook: entry.workbook,
    persistChanges: entry.persistChanges,
    createdAt: entry.createdAt,
    pid: entry.pid,
    ...(entry.host === undefined || entry.host === hostname() ? {} : { host: entry.host }),
    ...extra,
  };
}

/** An error's message for a report: no tokens, and the session id shortened wherever it appears. */
function describeError(error: unknown, id: string): string {
  return errorText(error, { sessionIds: [id], max: 300 });
}
