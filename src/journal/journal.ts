import { type Stats, promises as fs, statSync } from 'node:fs';
import * as path from 'node:path';
import { checkKeys, checkNumber, describe } from '../util/validate.js';
import { appendLine, isCode, makeParentDirectory, readIfExists } from './durable-file.js';
import { checkId, checkRecord, formatClose, formatOpen, parseJournal } from './format.js';
import { HOST, PROCESS_OWNER } from './liveness.js';
import { claimOrphans, compact } from './maintenance.js';
import { OwnerLiveness, holdOwnMarker, ownMarkerReady, releaseOwnMarker } from './owner-markers.js';
import type {
  JournalCorruption,
  JournalEntry,
  JournalRecord,
  JournalScan,
  OrphanClaim,
  SessionStore,
} from './session-store.js';

export interface SessionJournalOptions {
  /**
   * The journal file, or a directory (existing, or given with a trailing `/`) that then holds a file
   * named `sessions.journal`. Missing directories are created with mode 0o700, files with 0o600.
   */
  readonly path: string;
  /**
   * After this many `remove()` calls by this instance, the journal checks whether most of its lines
   * are closed pairs and, if so, rewrites it with the open records only.
   * @default 1000
   */
  readonly compactAfterRemoves?: number;
}

/** The file name used inside a directory given as `path`. */
export const JOURNAL_FILE_NAME = 'sessions.journal';

const OPTION_KEYS = ['path', 'compactAfterRemoves'];

/**
 * An append-only file of open sessions, so that the next start can close what a crash left open:
 * the session store of one host.
 *
 * Each create appends one `{"op":"open",...}` line and each close one `{"op":"close",...}` line,
 * flushed to disk with `fdatasync` before the call returns; nothing is written per request. Several
 * processes may share one journal: each line is one `O_APPEND` write, each process announces itself
 * with an owner marker file (`<file>.owner-<token>.lock`, holding its pid and start time), and
 * recovery and compaction run under an exclusive lock file (`<file>.lock`).
 */
export class SessionJournal implements SessionStore {
  /** The journal file's absolute path; `undefined` until the first operation resolves `path`. */
  #file: string | undefined;
  readonly #path: string;
  readonly #compactAfterRemoves: number;
  // Set on first use, cleared never: the path is resolved once.
  #ready: Promise<string> | undefined;
  // Set by the first write, cleared never: the directory is created once (reading creates nothing).
  #writable: Promise<string> | undefined;
  // Ids recorded by this instance and not yet removed; remove() of any other id is a no-op.
  readonly #recorded = new Set<string>();
  // Counts remove() calls since the last compaction check; reset by each check.
  #removesSinceCheck = 0;
  // Set when this instance takes its share of the process's owner marker; cleared by close().
  #markerFile: string | undefined;
  // Set while an automatic compaction runs, so removes do not start a second one.
  #compacting: Promise<unknown> | undefined;

  constructor(options: SessionJournalOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected \`options\` to be an object with a \`path\`, got ${describe(options)}`);
    }
    checkKeys('SessionJournal option', options, OPTION_KEYS);
    if (typeof options.path !== 'string' || options.path.trim() === '') {
      throw new TypeError(`Expected \`path\` to be a non-empty string, got ${describe(options.path)}`);
    }
    this.#path = options.path;
    this.#compactAfterRemoves = checkNumber('compactAfterRemoves', options.compactAfterRemoves ?? 1000, 1, {
      integer: true,
    });
    let found: Stats | undefined;
    try {
      found = statSync(path.resolve(options.path), { throwIfNoEntry: false });
    } catch {
      // Unreadable now (permissions): the first read or write reports it.
    }
    checkJournalTarget(options.path, found);
  }

  /** The journal file's absolute path (resolves a directory `path`). */
  async file(): Promise<string> {
    this.#ready ??= this.#resolve();
    return this.#ready;
  }

  /**
   * Records a session that was just created. Resolves once the line is on disk, so a kill right after
   * still leaves the record for recovery.
   */
  async record(entry: JournalRecord): Promise<void> {
    checkRecord(entry);
    const file = await this.#fileForWriting();
    await this.#holdMarker(file);
    this.#recorded.add(entry.id);
    const { workbook, id, persistChanges, createdAt } = entry;
    const line = formatOpen({
      workbook,
      ...(entry.file === undefined ? {} : { file: entry.file }),
      id,
      persistChanges,
      createdAt,
      pid: process.pid,
      owner: PROCESS_OWNER,
      host: HOST,
    });
    try {
      await appendLine(file, line);
    } catch (error) {
      this.#recorded.delete(entry.id);
      throw error;
    }
  }

  /** Records that a session was closed or is known expired. A no-op for ids this journal did not record. */
  async remove(id: string): Promise<void> {
    checkId(id);
    if (!this.#recorded.has(id)) return;
    await appendLine(await this.#fileForWriting(), formatClose(id, 'closed', Date.now()));
    this.#recorded.delete(id);
    if (++this.#removesSinceCheck >= this.#compactAfterRemoves && this.#compacting === undefined) {
      this.#removesSinceCheck = 0;
      // A compaction that cannot take the lock at once is skipped; a failed one only costs disk space.
      this.#compacting = compact(this, { wait: false })
        .catch(() => undefined)
        .finally(() => {
          this.#compacting = undefined;
        });
      await this.#compacting;
    }
  }

  /** Sessions whose owner process is gone, plus the lines that could not be read. */
  async read(): Promise<{ entries: JournalEntry[]; corrupt: JournalCorruption[] }> {
    const { orphans, corrupt } = await this.scan();
    return { entries: orphans, corrupt };
  }

  /** Every session still open in the journal, split into orphans and those of live processes. */
  async scan(): Promise<JournalScan> {
    const file = await this.file();
    const parsed = parseJournal(await readIfExists(file));
    const liveness = new OwnerLiveness(file);
    const orphans: JournalEntry[] = [];
    const live: JournalEntry[] = [];
    for (const entry of parsed.open.values()) {
      if (await liveness.isAlive(entry.owner, entry.pid, entry.host)) {
        live.push(entry);
        continue;
      }
      const lastSeenAt = await liveness.lastSeen(entry.owner);
      orphans.push(lastSeenAt === undefined ? entry : { ...entry, lastSeenAt });
    }
    return { orphans, live, corrupt: parsed.corrupt };
  }

  /**
   * Recovery's claim: takes the journal's lock (waiting for another recoverer), reads the journal
   * again under it, and settles each session with a close record.
   */
  claimOrphans(options: { readonly signal?: AbortSignal } = {}): Promise<OrphanClaim> {
    return claimOrphans(this, options);
  }

  /**
   * Releases this instance's share of the process's owner marker (removed when no other journal
   * instance of this process on the same file uses it). Call it on clean shutdown, after the last
   * `remove()`. A later `record()` takes the marker again.
   */
  async close(): Promise<void> {
    await this.#compacting;
    const markerFile = this.#markerFile;
    if (markerFile === undefined) return;
    // Sessions of this process are still recorded (another manager shares this instance): the
    // marker is what tells other processes they are alive, so it stays.
    if (this.#recorded.size > 0) return;
    this.#markerFile = undefined;
    await releaseOwnMarker(markerFile);
  }

  /** For messages: the configured path. */
  toString(): string {
    return `SessionJournal(${this.#file ?? this.#path})`;
  }

  async #resolve(): Promise<string> {
    const absolute = path.resolve(this.#path);
    let isDirectory = /[\\/]$/.test(this.#path);
    if (!isDirectory) {
      try {
        const found = await fs.stat(absolute);
        checkJournalTarget(this.#path, found);
        isDirectory = found.isDirectory();
      } catch (error) {
        if (!isCode(error, 'ENOENT')) throw error;
      }
    }
    const file = isDirectory ? path.join(absolute, JOURNAL_FILE_NAME) : absolute;
    this.#file = file;
    return file;
  }

  #fileForWriting(): Promise<string> {
    this.#writable ??= this.file().then(async (file) => {
      await makeParentDirectory(file);
      return file;
    });
    return this.#writable;
  }

  /** Takes this instance's share of the process's owner marker beside `file`, once. */
  async #holdMarker(file: string): Promise<void> {
    if (this.#markerFile === file) {
      await ownMarkerReady(file);
      return;
    }
    this.#markerFile = file;
    try {
      await holdOwnMarker(file);
    } catch (error) {
      this.#markerFile = undefined;
      throw error;
    }
  }
}

/**
 * Refuses a journal path that is neither a file nor a directory: a device such as `/dev/full` or
 * `/dev/zero` reads as an endless stream (a read would grow until the string limit) and takes no writes.
 */
function checkJournalTarget(given: string, found: Stats | undefined): void {
  if (found === undefined || found.isFile() || found.isDirectory()) return;
  const kind = found.isCharacterDevice()
    ? 'a character device'
    : found.isBlockDevice()
      ? 'a block device'
      : found.isFIFO()
        ? 'a FIFO'
        : found.isSocket()
          ? 'a socket'
          : 'not a regular file';
  throw new TypeError(
    `Expected the journal \`path\` to be a file or a directory, got ${describe(given)}, which is ${kind}`,
  );
}
