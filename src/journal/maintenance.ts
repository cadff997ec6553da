// Upkeep of a journal file, for recovery and for the journal itself, not for users: closing any
// process's record, the journal's lock, compaction, dropping the markers of owners that are gone, and
// recovery's claim built from them. Not exported by the package.
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { checkBoolean, checkKeys, checkSignal, describe } from '../util/validate.js';
import { appendLine, isCode, makeParentDirectory, replaceFile } from './durable-file.js';
import { checkCloseReason, checkId, formatClose, formatOpen, parseJournal } from './format.js';
import { HOST } from './liveness.js';
import { acquireLockFile, type ReleaseLock } from './lock-file.js';
import { OwnerLiveness, markerOwners, markerPath } from './owner-markers.js';
import type { JournalCloseReason, JournalCorruption, OrphanClaim, SessionStore } from './session-store.js';

/** What upkeep needs of a journal: where its file is (a `SessionJournal`). */
export interface JournalFileSource {
  file(): Promise<string>;
}

/** What `compact()` did. */
export interface CompactionResult {
  /** False when the journal was not worth rewriting or another process held the lock. */
  readonly compacted: boolean;
  /** Open records kept. */
  readonly kept: number;
  /** Lines dropped: closed pairs, duplicates and corrupt lines (those are moved to `<file>.corrupt`). */
  readonly dropped: number;
}

const NOT_COMPACTED: CompactionResult = { compacted: false, kept: 0, dropped: 0 };

/** The journal's file, with its directory created (as `record()` creates it: mode 0o700). */
async function writableFile(journal: JournalFileSource): Promise<string> {
  const file = await journal.file();
  await makeParentDirectory(file);
  return file;
}

/**
 * Appends a close record for any session, also one recorded by another process. Recovery's claim
 * settles sessions with it; the manager calls the journal's `remove()`.
 */
export async function markClosed(journal: JournalFileSource, id: string, reason: JournalCloseReason): Promise<void> {
  checkId(id);
  checkCloseReason(reason);
  await appendLine(await writableFile(journal), formatClose(id, reason, Date.now()));
}

/**
 * Takes the journal's exclusive lock (`<file>.lock`), which recovery and compaction hold. A lock
 * whose holder process is gone is taken over. With `wait: false` resolves `undefined` when another
 * live process holds it; otherwise waits until it is free or `signal` aborts. Resolves a function that
 * releases the lock.
 */
export async function lock(
  journal: JournalFileSource,
  options: { readonly wait?: boolean; readonly signal?: AbortSignal } = {},
): Promise<ReleaseLock | undefined> {
  checkLockOptions('lock', options, ['wait', 'signal']);
  return acquireLockFile(`${await writableFile(journal)}.lock`, options);
}

/**
 * Rewrites the journal with its open records only (temp file + rename, under the lock), when closed
 * pairs make up at least half of it, or always with `force`. Lines appended by other processes
 * while it runs are carried over.
 */
export async function compact(
  journal: JournalFileSource,
  options: { readonly force?: boolean; readonly wait?: boolean; readonly signal?: AbortSignal } = {},
): Promise<CompactionResult> {
  checkLockOptions('compact', options, ['force', 'wait', 'signal']);
  const release = await lock(journal, {
    wait: options.wait ?? true,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  if (release === undefined) return NOT_COMPACTED;
  try {
    return await compactLocked(journal, options.force ?? false);
  } finally {
    await release();
  }
}

/** `compact()` for a caller that already holds the lock (recovery). */
export async function compactLocked(journal: JournalFileSource, force = false): Promise<CompactionResult> {
  const file = await journal.file();
  let old: FileHandle;
  try {
    old = await fs.open(file, 'r');
  } catch (error) {
    if (isCode(error, 'ENOENT')) return NOT_COMPACTED;
    throw error;
  }
  try {
    const text = (await old.readFile()).toString('utf8');
    // Only whole lines are rewritten; an unfinished last line is carried over with the tail below.
    const whole = text.slice(0, text.lastIndexOf('\n') + 1);
    const parsed = parseJournal(whole);
    const kept = [...parsed.open.values()];
    const dropped = parsed.lines - kept.length;
    if (!force && (parsed.lines < 8 || dropped * 2 < parsed.lines))
      return { compacted: false, kept: kept.length, dropped: 0 };
    if (parsed.corrupt.length > 0) await setCorruptAside(file, whole, parsed.corrupt);
    await replaceFile(file, kept.map((entry) => `${formatOpen(entry)}\n`).join(''));
    await copyTail(old, file, Buffer.byteLength(whole));
    return { compacted: true, kept: kept.length, dropped };
  } finally {
    await old.close();
  }
}

/** Keeps the corrupt lines for an operator in `<file>.corrupt` instead of dropping them silently. */
async function setCorruptAside(file: string, text: string, corrupt: readonly JournalCorruption[]): Promise<void> {
  const lines = text.split('\n');
  await appendLine(`${file}.corrupt`, corrupt.map((c) => lines[c.line - 1] ?? '').join('\n'));
}

/**
 * Appenders that wrote to the old file after it was read (from byte `from` on): copies their lines
 * over. Those who wrote after this copy see the file changed under them and append again (see
 * appendLine).
 */
async function copyTail(old: FileHandle, file: string, from: number): Promise<void> {
  const tailBytes = (await old.stat()).size - from;
  if (tailBytes <= 0) return;
  const buffer = Buffer.alloc(tailBytes);
  await old.read(buffer, 0, tailBytes, from);
  const tail = buffer.toString('utf8').replace(/\n$/, '');
  if (tail !== '') await appendLine(file, tail);
}

/**
 * Removes owner markers of processes that are gone (on this host). Recovery calls it; a marker only
 * matters while its process lives.
 */
export async function dropDeadOwnerMarkers(journal: JournalFileSource): Promise<number> {
  const file = await journal.file();
  const liveness = new OwnerLiveness(file);
  let dropped = 0;
  for (const owner of await markerOwners(file)) {
    const marker = await liveness.marker(owner);
    if (marker !== undefined && marker.host !== undefined && marker.host !== HOST) continue;
    if (marker === undefined || !(await liveness.isAlive(owner, marker.pid, marker.host))) {
      await fs.rm(markerPath(file, owner), { force: true });
      dropped++;
    }
  }
  return dropped;
}

/**
 * Recovery's claim on a journal: its lock, waited for, with the journal read again under it (a
 * recoverer that ran before has marked its closes by then). Settling appends a close record;
 * completing drops dead owners' markers and compacts, still under the lock.
 */
export async function claimOrphans(
  journal: JournalFileSource & Pick<SessionStore, 'scan'>,
  options: { readonly signal?: AbortSignal } = {},
): Promise<OrphanClaim> {
  checkLockOptions('claimOrphans', options, ['signal']);
  const release = await lock(journal, options.signal === undefined ? {} : { signal: options.signal });
  if (release === undefined) throw new Error('The journal lock resolved no lock while waiting');
  try {
    const scan = await journal.scan();
    return {
      ...scan,
      settle: (id, reason) => markClosed(journal, id, reason),
      complete: async () => {
        await dropDeadOwnerMarkers(journal);
        await compactLocked(journal);
      },
      release,
    };
  } catch (error) {
    await release();
    throw error;
  }
}

/** The options of lock(), compact() and claimOrphans(): booleans and a signal, or a TypeError naming the bad one. */
function checkLockOptions(fn: string, options: unknown, keys: readonly string[]): void {
  if (typeof options !== 'object' || options === null)
    throw new TypeError(`Expected ${fn}() options to be an object, got ${describe(options)}`);
  checkKeys(`${fn}() option`, options, keys);
  const given = options as Record<string, unknown>;
  for (const key of ['force', 'wait']) {
    if (given[key] !== undefined) checkBoolean(key, given[key]);
  }
  checkSignal('signal', given['signal']);
}
