import { randomBytes } from 'node:crypto';
import { type Stats, promises as fs, statSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { abortableDelay } from '../util/abort.js';
import { checkBoolean, checkKeys, checkSignal, describe } from '../util/validate.js';

/** One open session as the journal knows it. */
export interface JournalEntry {
  readonly workbook: string;
  /**
   * The file the workbook reference names, as the manager resolved it (its lane key, `/drives/{d}/items/{i}`):
   * recovery then closes the sessions of every name of one file in one lane. Absent when not resolved.
   */
  readonly file?: string;
  readonly id: string;
  readonly persistChanges: boolean;
  /** When the session was created, epoch ms: its last known activity. */
  readonly createdAt: number;
  /** The process that created it. */
  readonly pid: number;
  /** A random token of the creating process: tells a live owner from a process that reused its pid. */
  readonly owner: string;
  /**
   * The creating process's host name. A pid means nothing on another host (or in another container
   * with its own pid namespace), so sessions recorded elsewhere are never judged orphans here.
   */
  readonly host?: string;
  /**
   * Set by `scan()` for orphans: when the owner process was last known alive (its owner marker's
   * heartbeat), epoch ms. No session of it can have been used after this plus {@link HEARTBEAT_MS}.
   * Absent when the owner left no marker.
   */
  readonly lastSeenAt?: number;
}

/** What the manager records right after a createSession succeeds. */
export interface JournalRecord {
  readonly workbook: string;
  /**
   * The file the workbook reference names, as the manager resolved it (its lane key, `/drives/{d}/items/{i}`):
   * recovery then closes the sessions of every name of one file in one lane. Absent when not resolved.
   */
  readonly file?: string;
  readonly id: string;
  readonly persistChanges: boolean;
  /** Epoch ms. */
  readonly createdAt: number;
}

/** A journal line that could not be used; it is skipped, nothing else is lost. */
export interface JournalCorruption {
  /** 1-based line number in the journal file. */
  readonly line: number;
  readonly reason: string;
}

/** Every session the journal still holds, split by whether its owner process is alive. */
export interface JournalScan {
  /** Sessions whose owner process is gone: candidates for recovery. */
  readonly orphans: JournalEntry[];
  /**
   * Sessions of a live process (this one included), or of another host, where liveness cannot be
   * judged: never touched.
   */
  readonly live: JournalEntry[];
  readonly corrupt: JournalCorruption[];
}

/** Why a session left the journal. */
export type JournalCloseReason = 'closed' | 'recovered' | 'expired';

/** What `compact()` did. */
export interface CompactionResult {
  /** False when the journal was not worth rewriting or another process held the lock. */
  readonly compacted: boolean;
  /** Open records kept. */
  readonly kept: number;
  /** Lines dropped: closed pairs, duplicates and corrupt lines (those are moved to `<file>.corrupt`). */
  readonly dropped: number;
}

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

/**
 * How often a process with sessions in the journal touches its owner marker. Recovery reads the
 * marker's time as "alive until at least then": Graph expires sessions after inactivity, and a
 * dead process's sessions were last used no later than its last heartbeat plus this.
 */
export const HEARTBEAT_MS = 60_000;

const OPTION_KEYS = new Set(['path', 'compactAfterRemoves']);
/** One token for the whole process: every journal this process writes names it as the owner. */
const PROCESS_OWNER = randomBytes(12).toString('base64url');
const HOST = hostname();
/** Owner markers this process holds, by marker path, with how many journal instances use each. */
const heldMarkers = new Map<string, { count: number; ready: Promise<void>; heartbeat?: NodeJS.Timeout }>();
// A lock older than this whose holder cannot be identified (unreadable content) is taken over.
const UNREADABLE_LOCK_STALE_MS = 30_000;
// A lock held from another host, untouched for this long, is taken over; holders touch it every
// LOCK_TOUCH_MS while they hold it.
const FOREIGN_LOCK_STALE_MS = 300_000;
const LOCK_TOUCH_MS = 60_000;

/**
 * An append-only file of open sessions, so that the next start can close what a crash left open.
 *
 * Each create appends one `{"op":"open",...}` line and each close one `{"op":"close",...}` line,
 * flushed to disk with `fdatasync` before the call returns; nothing is written per request. Several
 * processes may share one journal: each line is one `O_APPEND` write, each process announces itself
 * with an owner marker file (`<file>.owner-<token>.lock`, holding its pid and start time), and
 * recovery and compaction run under an exclusive lock file (`<file>.lock`).
 */
export class SessionJournal {
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
  #markerPath: string | undefined;
  // Set while an automatic compaction runs, so removes do not start a second one.
  #compacting: Promise<unknown> | undefined;

  constructor(options: SessionJournalOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected \`options\` to be an object with a \`path\`, got ${describe(options)}`);
    }
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.has(key)) throw new TypeError(`Unknown SessionJournal option \`${key}\``);
    }
    if (typeof options.path !== 'string' || options.path.trim() === '') {
      throw new TypeError(`Expected \`path\` to be a non-empty string, got ${describe(options.path)}`);
    }
    const every = options.compactAfterRemoves ?? 1000;
    if (!Number.isInteger(every) || every < 1) {
      throw new TypeError(
        `Expected \`compactAfterRemoves\` to be an integer >= 1, got ${describe(options.compactAfterRemoves)}`,
      );
    }
    this.#path = options.path;
    this.#compactAfterRemoves = every;
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

  /** This process's owner token, as written in its records. */
  static get processOwner(): string {
    return PROCESS_OWNER;
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
    const line: OpenLine = {
      op: 'open',
      workbook: entry.workbook,
      ...(entry.file === undefined ? {} : { file: entry.file }),
      id: entry.id,
      persistChanges: entry.persistChanges,
      createdAt: entry.createdAt,
      pid: process.pid,
      owner: PROCESS_OWNER,
      host: HOST,
    };
    try {
      await appendLine(file, JSON.stringify(line));
    } catch (error) {
      this.#recorded.delete(entry.id);
      throw error;
    }
  }

  /** Records that a session was closed or is known expired. A no-op for ids this journal did not record. */
  async remove(id: string): Promise<void> {
    if (typeof id !== 'string' || id === '') {
      throw new TypeError(`Expected \`id\` to be a non-empty string, got ${describe(id)}`);
    }
    if (!this.#recorded.has(id)) return;
    await this.markClosed(id, 'closed');
    this.#recorded.delete(id);
    if (++this.#removesSinceCheck >= this.#compactAfterRemoves && this.#compacting === undefined) {
      this.#removesSinceCheck = 0;
      // A compaction that cannot take the lock at once is skipped; a failed one only costs disk space.
      this.#compacting = this.compact({ wait: false })
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
   * Appends a close record for any session, also one recorded by another process. Used by recovery;
   * the manager calls `remove()`.
   */
  async markClosed(id: string, reason: JournalCloseReason): Promise<void> {
    if (typeof id !== 'string' || id === '')
      throw new TypeError(`Expected \`id\` to be a non-empty string, got ${describe(id)}`);
    if (!CLOSE_REASONS.includes(reason))
      throw new TypeError(`Expected \`reason\` to be one of ${CLOSE_REASONS.join(', ')}, got ${describe(reason)}`);
    const line: CloseLine = { op: 'close', id, at: Date.now(), reason };
    await appendLine(await this.#fileForWriting(), JSON.stringify(line));
  }

  /**
   * Takes the journal's exclusive lock (`<file>.lock`, created with `wx`), which recovery and
   * compaction hold. A lock whose holder process is gone is taken over. With `wait: false` resolves
   * `undefined` when another live process holds it; otherwise polls until it is free or `signal`
   * aborts. Resolves a function that releases the lock.
   */
  async lock(
    options: { readonly wait?: boolean; readonly signal?: AbortSignal } = {},
  ): Promise<(() => Promise<void>) | undefined> {
    checkLockOptions('lock', options, ['wait', 'signal']);
    const file = await this.#fileForWriting();
    const lockPath = `${file}.lock`;
    const token = randomBytes(9).toString('base64url');
    const content = JSON.stringify({
      pid: process.pid,
      owner: PROCESS_OWNER,
      host: HOST,
      token,
      startId: await ownStartId(),
      at: Date.now(),
    });
    for (let attempt = 0; ; attempt++) {
      options.signal?.throwIfAborted();
      try {
        await writeNewFile(lockPath, content);
        // Set while the lock is held, cleared on release: keeps the lock fresh for other hosts' eyes.
        const touch = setInterval(() => {
          const now = new Date();
          fs.utimes(lockPath, now, now).catch(() => undefined);
        }, LOCK_TOUCH_MS);
        touch.unref();
        return async () => {
          clearInterval(touch);
          // Remove the lock only if it is still ours (a holder presumed dead may have had it taken over).
          const now = await readIfExists(lockPath);
          if (now.includes(`"token":"${token}"`)) await fs.rm(lockPath, { force: true });
        };
      } catch (error) {
        if (!isCode(error, 'EEXIST')) throw error;
      }
      const stale = await this.#staleLockText(lockPath);
      if (stale !== undefined && (await takeOverStaleLock(lockPath, stale))) continue;
      if (options.wait === false) return undefined;
      await abortableDelay(Math.min(500, 20 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random()), options.signal);
    }
  }

  /**
   * Rewrites the journal with its open records only (temp file + rename, under the lock), when closed
   * pairs make up at least half of it, or always with `force`. Lines appended by other processes
   * while it runs are carried over.
   */
  async compact(
    options: { readonly force?: boolean; readonly wait?: boolean; readonly signal?: AbortSignal } = {},
  ): Promise<CompactionResult> {
    checkLockOptions('compact', options, ['force', 'wait', 'signal']);
    const release = await this.lock({
      wait: options.wait ?? true,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    if (release === undefined) return { compacted: false, kept: 0, dropped: 0 };
    try {
      return await this.compactLocked(options.force ?? false);
    } finally {
      await release();
    }
  }

  /** `compact()` for a caller that already holds the lock (recovery). */
  async compactLocked(force = false): Promise<CompactionResult> {
    const file = await this.file();
    let old: FileHandle;
    try {
      old = await fs.open(file, 'r');
    } catch (error) {
      if (isCode(error, 'ENOENT')) return { compacted: false, kept: 0, dropped: 0 };
      throw error;
    }
    try {
      const text = (await old.readFile()).toString('utf8');
      // Only whole lines are rewritten; an unfinished last line is carried over with the tail below.
      const end = text.lastIndexOf('\n') + 1;
      const whole = text.slice(0, end);
      const parsed = parseJournal(whole);
      const kept = [...parsed.open.values()];
      const dropped = parsed.lines - kept.length;
      if (!force && (parsed.lines < 8 || dropped * 2 < parsed.lines))
        return { compacted: false, kept: kept.length, dropped: 0 };
      if (parsed.corrupt.length > 0) {
        const lines = whole.split('\n');
        const bad = parsed.corrupt.map((c) => lines[c.line - 1] ?? '').join('\n');
        await appendLine(`${file}.corrupt`, bad);
      }
      const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
      const body = kept.map((entry) => JSON.stringify({ op: 'open', ...entry } satisfies OpenLine)).join('\n');
      await writeNewFile(tmp, body === '' ? '' : `${body}\n`);
      await fs.rename(tmp, file);
      await syncDirectory(path.dirname(file));
      // Appenders that wrote to the old file after it was read: copy their lines over. Those who wrote
      // after this copy see the file changed under them and append again (see appendLine).
      const tailBytes = (await old.stat()).size - Buffer.byteLength(whole);
      if (tailBytes > 0) {
        const buffer = Buffer.alloc(tailBytes);
        await old.read(buffer, 0, tailBytes, Buffer.byteLength(whole));
        const tail = buffer.toString('utf8').replace(/\n$/, '');
        if (tail !== '') await appendLine(file, tail);
      }
      return { compacted: true, kept: kept.length, dropped };
    } finally {
      await old.close();
    }
  }

  /**
   * Removes owner markers of processes that are gone. Recovery calls it; a marker only matters while
   * its process lives.
   */
  async dropDeadOwnerMarkers(): Promise<number> {
    const file = await this.file();
    const dir = path.dirname(file);
    const prefix = `${path.basename(file)}.owner-`;
    const liveness = new OwnerLiveness(file);
    let dropped = 0;
    for (const name of await readDirectory(dir)) {
      if (!name.startsWith(prefix) || !name.endsWith('.lock')) continue;
      const owner = name.slice(prefix.length, -'.lock'.length);
      const marker = await liveness.marker(owner);
      if (marker !== undefined && marker.host !== undefined && marker.host !== HOST) continue;
      if (marker === undefined || !(await liveness.isAlive(owner, marker.pid, marker.host))) {
        await fs.rm(path.join(dir, name), { force: true });
        dropped++;
      }
    }
    return dropped;
  }

  /**
   * Releases this instance's share of the process's owner marker (removed when no other journal
   * instance of this process on the same file uses it). Call it on clean shutdown, after the last
   * `remove()`. A later `record()` takes the marker again.
   */
  async close(): Promise<void> {
    await this.#compacting;
    const markerPath = this.#markerPath;
    if (markerPath === undefined) return;
    // Sessions of this process are still recorded (another manager shares this instance): the
    // marker is what tells other processes they are alive, so it stays.
    if (this.#recorded.size > 0) return;
    this.#markerPath = undefined;
    const held = heldMarkers.get(markerPath);
    if (held === undefined) return;
    if (--held.count > 0) return;
    heldMarkers.delete(markerPath);
    await held.ready.catch(() => undefined);
    if (held.heartbeat !== undefined) clearInterval(held.heartbeat);
    await fs.rm(markerPath, { force: true });
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
      await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      return file;
    });
    return this.#writable;
  }

  async #holdMarker(file: string): Promise<void> {
    const markerPath = `${file}.owner-${PROCESS_OWNER}.lock`;
    if (this.#markerPath === markerPath) {
      await heldMarkers.get(markerPath)?.ready;
      return;
    }
    let held = heldMarkers.get(markerPath);
    if (held === undefined) {
      const ready = (async () => {
        const content = JSON.stringify({
          pid: process.pid,
          owner: PROCESS_OWNER,
          host: HOST,
          startId: await ownStartId(),
          at: Date.now(),
        });
        const tmp = `${markerPath}.tmp-${randomBytes(6).toString('hex')}`;
        await writeNewFile(tmp, content);
        await fs.rename(tmp, markerPath);
        await syncDirectory(path.dirname(markerPath));
      })();
      held = { count: 0, ready };
      const entry = held;
      void ready.then(
        () => {
          // Set once the marker exists, cleared when it is released: the owner's "alive until" time.
          entry.heartbeat = setInterval(() => {
            const now = new Date();
            fs.utimes(markerPath, now, now).catch(() => undefined);
          }, HEARTBEAT_MS);
          entry.heartbeat.unref();
        },
        () => undefined,
      );
      heldMarkers.set(markerPath, held);
      ready.catch(() => {
        if (heldMarkers.get(markerPath) === held) heldMarkers.delete(markerPath);
      });
    }
    held.count++;
    this.#markerPath = markerPath;
    try {
      await held.ready;
    } catch (error) {
      this.#markerPath = undefined;
      throw error;
    }
  }

  /** The lock file's text when its holder is gone (so it may be taken over), else undefined. */
  async #staleLockText(lockPath: string): Promise<string | undefined> {
    let text: string;
    let mtimeMs: number;
    try {
      text = await fs.readFile(lockPath, 'utf8');
      mtimeMs = (await fs.stat(lockPath)).mtimeMs;
    } catch (error) {
      if (isCode(error, 'ENOENT')) return undefined; // released meanwhile
      throw error;
    }
    const holder = parseLockContent(text);
    const stale = await (async (): Promise<boolean> => {
      if (holder === undefined) return Date.now() - mtimeMs > UNREADABLE_LOCK_STALE_MS;
      if (holder.host !== undefined && holder.host !== HOST) return Date.now() - mtimeMs > FOREIGN_LOCK_STALE_MS;
      const probe = await probeProcess(holder.pid);
      if (!probe.alive) return true;
      return holder.startId !== undefined && probe.startId !== undefined && holder.startId !== probe.startId;
    })();
    return stale ? text : undefined;
  }

  /** For messages: the configured path. */
  toString(): string {
    return `SessionJournal(${this.#file ?? this.#path})`;
  }
}

interface OpenLine {
  op: 'open';
  workbook: string;
  file?: string;
  id: string;
  persistChanges: boolean;
  createdAt: number;
  pid: number;
  owner: string;
  /** Absent in lines written by hand or by older versions: then taken as this host. */
  host?: string;
}

interface CloseLine {
  op: 'close';
  id: string;
  at: number;
  reason: JournalCloseReason;
}

interface ParsedJournal {
  /** Open records without a close, in file order. */
  open: Map<string, JournalEntry>;
  corrupt: JournalCorruption[];
  /** Non-empty lines seen. */
  lines: number;
}

/**
 * Reads journal text. A close wins over an open of the same id wherever it appears: ids are never
 * reused, and compaction may carry an open line over after its close.
 */
export function parseJournal(text: string): ParsedJournal {
  const open = new Map<string, JournalEntry>();
  const closed = new Set<string>();
  const corrupt: JournalCorruption[] = [];
  const lines = text.split('\n');
  let count = 0;
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    count++;
    const lineNo = index + 1;
    const truncated = index === lines.length - 1;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      corrupt.push({
        line: lineNo,
        reason: truncated ? 'truncated line (no newline at end of file)' : 'not valid JSON',
      });
      return;
    }
    const problem = checkLine(value);
    if (problem !== undefined) {
      corrupt.push({ line: lineNo, reason: problem });
      return;
    }
    const record = value as OpenLine | CloseLine;
    if (record.op === 'close') {
      closed.add(record.id);
      open.delete(record.id);
    } else if (!closed.has(record.id) && !open.has(record.id)) {
      const { workbook, file, id, persistChanges, createdAt, pid, owner, host } = record;
      open.set(id, {
        workbook,
        ...(file === undefined ? {} : { file }),
        id,
        persistChanges,
        createdAt,
        pid,
        owner,
        ...(host === undefined ? {} : { host }),
      });
    }
  });
  return { open, corrupt, lines: count };
}

function checkLine(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const record = value as Record<string, unknown>;
  if (record.op === 'close') {
    return typeof record.id === 'string' && record.id !== '' ? undefined : 'close record without an `id` string';
  }
  if (record.op !== 'open') return `unknown \`op\` ${describe(record.op)}`;
  if (typeof record.id !== 'string' || record.id === '') return 'open record without an `id` string';
  if (typeof record.workbook !== 'string' || record.workbook === '') return 'open record without a `workbook` string';
  if (typeof record.persistChanges !== 'boolean') return 'open record without a boolean `persistChanges`';
  if (typeof record.createdAt !== 'number' || !Number.isFinite(record.createdAt))
    return 'open record without a numeric `createdAt`';
  // A pid <= 0 would address process groups when probed: refuse it.
  if (typeof record.pid !== 'number' || !Number.isSafeInteger(record.pid) || record.pid <= 0)
    return 'open record without a positive integer `pid`';
  if (typeof record.owner !== 'string' || !/^[\w-]{1,64}$/.test(record.owner))
    return 'open record without a valid `owner` token';
  if (record.host !== undefined && typeof record.host !== 'string') return 'open record with a non-string `host`';
  if (record.file !== undefined && (typeof record.file !== 'string' || record.file === ''))
    return 'open record with a `file` that is not a non-empty string';
  return undefined;
}

const CLOSE_REASONS: readonly unknown[] = ['closed', 'recovered', 'expired'] satisfies readonly JournalCloseReason[];

/** The options of lock() and compact(): booleans and an AbortSignal, or a TypeError naming the bad one. */
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

function checkRecord(entry: JournalRecord): void {
  if (typeof entry !== 'object' || entry === null) {
    throw new TypeError(`Expected \`entry\` to be an object, got ${describe(entry)}`);
  }
  if (typeof entry.workbook !== 'string' || entry.workbook === '') {
    throw new TypeError(`Expected \`workbook\` to be a non-empty string, got ${describe(entry.workbook)}`);
  }
  if (typeof entry.id !== 'string' || entry.id === '') {
    throw new TypeError(`Expected \`id\` to be a non-empty string, got ${describe(entry.id)}`);
  }
  if (entry.file !== undefined && (typeof entry.file !== 'string' || entry.file === '')) {
    throw new TypeError(`Expected \`file\` to be a non-empty string when given, got ${describe(entry.file)}`);
  }
  if (typeof entry.persistChanges !== 'boolean') {
    throw new TypeError(`Expected \`persistChanges\` to be a boolean, got ${describe(entry.persistChanges)}`);
  }
  if (typeof entry.createdAt !== 'number' || !Number.isFinite(entry.createdAt)) {
    throw new TypeError(`Expected \`createdAt\` to be a finite number (epoch ms), got ${describe(entry.createdAt)}`);
  }
}

/**
 * Appends one line with a single `O_APPEND` write and `fdatasync`. If the file ends in an unfinished
 * line (a writer died mid-write), a newline goes first so that line does not swallow this one. If the
 * file was replaced by a compaction while we wrote, the line is appended again to the new file: a
 * duplicate is harmless, a lost line is not.
 */
async function appendLine(file: string, line: string): Promise<void> {
  for (;;) {
    const handle = await fs.open(file, 'a+', 0o600);
    let written: number;
    try {
      const before = await handle.stat();
      let prefix = '';
      if (before.size > 0) {
        const last = Buffer.alloc(1);
        await handle.read(last, 0, 1, before.size - 1);
        if (last[0] !== 0x0a) prefix = '\n';
      }
      await handle.write(`${prefix}${line}\n`);
      await handle.datasync();
      if (before.size === 0) await syncDirectory(path.dirname(file));
      written = before.ino;
    } finally {
      await handle.close();
    }
    let now: number;
    try {
      now = (await fs.stat(file)).ino;
    } catch (error) {
      if (isCode(error, 'ENOENT')) continue;
      throw error;
    }
    if (now === written) return;
  }
}

/** Creates a file that must not exist yet (`wx`, mode 0o600), with its content flushed. */
async function writeNewFile(file: string, content: string): Promise<void> {
  const handle = await fs.open(file, 'wx', 0o600);
  try {
    await handle.writeFile(content);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

async function syncDirectory(dir: string): Promise<void> {
  // Makes a new or renamed entry survive a power cut; not possible on every platform (Windows).
  let handle: FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // Best effort.
  } finally {
    await handle?.close();
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

async function readIfExists(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if (isCode(error, 'ENOENT')) return '';
    throw error;
  }
}

async function readDirectory(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (error) {
    if (isCode(error, 'ENOENT')) return [];
    throw error;
  }
}

/** Moves a stale lock aside and removes it; if it turns out to be a fresh lock, puts it back. */
/**
 * Removes a lock judged stale, if it is still the very lock that was judged (`staleText`); false
 * when another takeover is under way (wait, then look again). Takeovers
 * take turns through `<lock>.takeover` (created with `wx`), so two processes that both judged one
 * dead holder's lock stale cannot both remove a lock: the second finds a fresh holder's text and
 * leaves it. Between the read and the remove nothing else can change the file: a holder is gone, a
 * new one cannot create it while it exists, and other takeovers wait for the guard.
 */
async function takeOverStaleLock(lockPath: string, staleText: string): Promise<boolean> {
  const guard = `${lockPath}.takeover`;
  try {
    await writeNewFile(guard, JSON.stringify({ pid: process.pid, at: Date.now() }));
  } catch (error) {
    if (!isCode(error, 'EEXIST')) throw error;
    // Another takeover is under way; one left by a process that died mid-takeover goes after a while.
    const age = await fs.stat(guard).then(
      (st) => Date.now() - st.mtimeMs,
      () => 0,
    );
    if (age > UNREADABLE_LOCK_STALE_MS) await fs.rm(guard, { force: true });
    return false;
  }
  try {
    if ((await readIfExists(lockPath)) === staleText) await fs.rm(lockPath, { force: true });
  } finally {
    await fs.rm(guard, { force: true });
  }
  return true;
}

interface LockContent {
  pid: number;
  host?: string;
  startId?: string;
  at?: number;
}

function parseLockContent(text: string): LockContent | undefined {
  try {
    const value = JSON.parse(text) as Record<string, unknown>;
    if (typeof value.pid !== 'number' || !Number.isSafeInteger(value.pid) || value.pid <= 0) return undefined;
    return {
      pid: value.pid,
      ...(typeof value.host === 'string' ? { host: value.host } : {}),
      ...(typeof value.startId === 'string' ? { startId: value.startId } : {}),
      ...(typeof value.at === 'number' ? { at: value.at } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * Decides whether the process that wrote a record still runs: its pid must be alive, its owner marker
 * must exist and name that pid, and the pid's start time must match the marker's (where the platform
 * tells start times: Linux). Without start times, a newer marker naming the same pid wins.
 */
class OwnerLiveness {
  readonly #file: string;
  readonly #markers = new Map<string, Promise<LockContent | undefined>>();
  readonly #results = new Map<string, Promise<boolean>>();
  #byPid: Promise<Map<number, LockContent[]>> | undefined;

  constructor(file: string) {
    this.#file = file;
  }

  marker(owner: string): Promise<LockContent | undefined> {
    let marker = this.#markers.get(owner);
    if (marker === undefined) {
      marker = readIfExists(`${this.#file}.owner-${owner}.lock`).then((text) =>
        text === '' ? undefined : parseLockContent(text),
      );
      this.#markers.set(owner, marker);
    }
    return marker;
  }

  /** When the owner's marker was last touched (its heartbeat), or undefined without a marker. */
  async lastSeen(owner: string): Promise<number | undefined> {
    try {
      return (await fs.stat(`${this.#file}.owner-${owner}.lock`)).mtimeMs;
    } catch {
      return undefined;
    }
  }

  isAlive(owner: string, pid: number, host: string | undefined): Promise<boolean> {
    // Another host's pids cannot be probed from here: count its sessions as live.
    if (host !== undefined && host !== HOST) return Promise.resolve(true);
    const key = `${owner}:${pid}`;
    let result = this.#results.get(key);
    if (result === undefined) {
      result = this.#decide(owner, pid);
      this.#results.set(key, result);
    }
    return result;
  }

  async #decide(owner: string, pid: number): Promise<boolean> {
    if (owner === PROCESS_OWNER && pid === process.pid) return true;
    const probe = await probeProcess(pid);
    if (!probe.alive) return false;
    const marker = await this.marker(owner);
    if (marker === undefined || marker.pid !== pid) return false;
    if (marker.startId !== undefined && probe.startId !== undefined) return marker.startId === probe.startId;
    const rivals = (await this.#markersByPid()).get(pid) ?? [];
    return !rivals.some((other) => other !== marker && (other.at ?? 0) > (marker.at ?? 0));
  }

  #markersByPid(): Promise<Map<number, LockContent[]>> {
    this.#byPid ??= (async () => {
      const dir = path.dirname(this.#file);
      const prefix = `${path.basename(this.#file)}.owner-`;
      const byPid = new Map<number, LockContent[]>();
      for (const name of await readDirectory(dir)) {
        if (!name.startsWith(prefix) || !name.endsWith('.lock')) continue;
        const marker = await this.marker(name.slice(prefix.length, -'.lock'.length));
        if (marker === undefined) continue;
        byPid.set(marker.pid, [...(byPid.get(marker.pid) ?? []), marker]);
      }
      return byPid;
    })();
    return this.#byPid;
  }
}

let bootId: Promise<string> | undefined;
let selfStartId: Promise<string | undefined> | undefined;

function ownStartId(): Promise<string | undefined> {
  selfStartId ??= probeProcess(process.pid).then((probe) => probe.startId);
  return selfStartId;
}

/**
 * Whether a pid runs, and on Linux an id of that process's start (boot id + start time in clock
 * ticks) that changes when the pid is reused. A zombie counts as gone.
 */
export async function probeProcess(pid: number): Promise<{ alive: boolean; startId?: string }> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return { alive: false };
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (!isCode(error, 'EPERM')) return { alive: false };
  }
  if (process.platform !== 'linux') return { alive: true };
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: state is field 3,
    // starttime field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return { alive: false };
    bootId ??= fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
      (text) => text.trim(),
      () => '',
    );
    const start = fields[19];
    return start === undefined ? { alive: true } : { alive: true, startId: `${await bootId}:${start}` };
  } catch (error) {
    if (isCode(error, 'ENOENT')) return { alive: false };
    return { alive: true };
  }
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
