// An exclusive lock between processes: a file created with `wx` that holds its holder's stamp. A lock
// whose holder is gone is taken over; takeovers take turns so that two cannot both win.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { abortableDelay } from '../util/abort.js';
import { isCode, readIfExists, writeNewFile } from './durable-file.js';
import { startHeartbeat } from './heartbeat.js';
import { HOST, ownStamp, parseStamp, probeProcess } from './liveness.js';

// A lock older than this whose holder cannot be identified (unreadable content) is taken over.
const UNREADABLE_LOCK_STALE_MS = 30_000;
// A lock held from another host, untouched for this long, is taken over; holders touch it every
// LOCK_TOUCH_MS while they hold it.
const FOREIGN_LOCK_STALE_MS = 300_000;
const LOCK_TOUCH_MS = 60_000;

/** Releases a lock; removes the file only while it is still this holder's. */
export type ReleaseLock = () => Promise<void>;

/**
 * Takes the lock at `lockPath`. A lock whose holder process is gone is taken over. With `wait: false`
 * resolves `undefined` when another live process holds it; otherwise polls (with backoff) until it is
 * free or `signal` aborts, then rejects with the signal's reason.
 */
export async function acquireLockFile(
  lockPath: string,
  options: { readonly wait?: boolean; readonly signal?: AbortSignal } = {},
): Promise<ReleaseLock | undefined> {
  const token = randomBytes(9).toString('base64url');
  const content = await ownStamp({ token });
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      await writeNewFile(lockPath, content);
      return heldLock(lockPath, token);
    } catch (error) {
      if (!isCode(error, 'EEXIST')) throw error;
    }
    const stale = await staleLockText(lockPath);
    if (stale !== undefined && (await takeOverStaleLock(lockPath, stale))) continue;
    if (options.wait === false) return undefined;
    await abortableDelay(Math.min(500, 20 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random()), options.signal);
  }
}

function heldLock(lockPath: string, token: string): ReleaseLock {
  // Keeps the lock fresh for other hosts' eyes while it is held; stopped on release.
  const stopHeartbeat = startHeartbeat(lockPath, LOCK_TOUCH_MS);
  return async () => {
    stopHeartbeat();
    // Remove the lock only if it is still ours (a holder presumed dead may have had it taken over).
    const now = await readIfExists(lockPath);
    if (now.includes(`"token":"${token}"`)) await fs.rm(lockPath, { force: true });
  };
}

/** The lock file's text when its holder is gone (so it may be taken over), else undefined. */
async function staleLockText(lockPath: string): Promise<string | undefined> {
  let text: string;
  let mtimeMs: number;
  try {
    text = await fs.readFile(lockPath, 'utf8');
    mtimeMs = (await fs.stat(lockPath)).mtimeMs;
  } catch (error) {
    if (isCode(error, 'ENOENT')) return undefined; // released meanwhile
    throw error;
  }
  const holder = parseStamp(text);
  let stale: boolean;
  if (holder === undefined) stale = Date.now() - mtimeMs > UNREADABLE_LOCK_STALE_MS;
  else if (holder.host !== undefined && holder.host !== HOST) stale = Date.now() - mtimeMs > FOREIGN_LOCK_STALE_MS;
  else {
    const probe = await probeProcess(holder.pid);
    stale =
      !probe.alive || (holder.startId !== undefined && probe.startId !== undefined && holder.startId !== probe.startId);
  }
  return stale ? text : undefined;
}

/**
 * Removes a lock judged stale, if it is still the very lock that was judged (`staleText`); false
 * when another takeover is under way (wait, then look again). Takeovers take turns through
 * `<lock>.takeover` (created with `wx`), so two processes that both judged one dead holder's lock
 * stale cannot both remove a lock: the second finds a fresh holder's text and leaves it. Between the
 * read and the remove nothing else can change the file: a holder is gone, a new one cannot create it
 * while it exists, and other takeovers wait for the guard.
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
