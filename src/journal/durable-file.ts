// File primitives that survive a crash or a power cut: each write is flushed before it resolves, and
// new directory entries are synced. Every file is created readable by its owner only.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';

/** Whether `error` is a Node system error with this `code` (`ENOENT`, `EEXIST`, ...). */
export function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

/**
 * Appends one line with a single `O_APPEND` write and `fdatasync`. If the file ends in an unfinished
 * line (a writer died mid-write), a newline goes first so that line does not swallow this one. If the
 * file was replaced (by a compaction) while we wrote, the line is appended again to the new file: a
 * duplicate is harmless, a lost line is not.
 */
export async function appendLine(file: string, line: string): Promise<void> {
  for (;;) {
    const handle = await fs.open(file, 'a+', 0o600);
    let written: number;
    try {
      const before = await handle.stat();
      const prefix = before.size > 0 && !(await endsInNewline(handle, before.size)) ? '\n' : '';
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

async function endsInNewline(handle: FileHandle, size: number): Promise<boolean> {
  const last = Buffer.alloc(1);
  await handle.read(last, 0, 1, size - 1);
  return last[0] === 0x0a;
}

/** Creates a file that must not exist yet (`wx`, mode 0o600), with its content flushed. */
export async function writeNewFile(file: string, content: string): Promise<void> {
  const handle = await fs.open(file, 'wx', 0o600);
  try {
    await handle.writeFile(content);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `file` with `content` atomically: written to a temp file beside it, flushed, renamed over
 * it, and the directory synced. A reader sees the old content or the new, never a part.
 */
export async function replaceFile(file: string, content: string): Promise<void> {
  const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  await writeNewFile(tmp, content);
  await fs.rename(tmp, file);
  await syncDirectory(path.dirname(file));
}

/** Makes a new or renamed entry survive a power cut; best effort (not possible on every platform: Windows). */
export async function syncDirectory(dir: string): Promise<void> {
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

/** Creates the directories above `file` that are missing, with mode 0o700. */
export async function makeParentDirectory(file: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
}

/** The file's text, or `''` when it does not exist. */
export async function readIfExists(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if (isCode(error, 'ENOENT')) return '';
    throw error;
  }
}

/** The directory's entry names, or none when it does not exist. */
export async function readDirectory(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (error) {
    if (isCode(error, 'ENOENT')) return [];
    throw error;
  }
}
