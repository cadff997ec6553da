// Process liveness: who this process is (an owner token, its host, its start), whether another
// process still runs, and the stamp a process writes into the files it holds (owner markers, the lock).
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { isCode } from './durable-file.js';

/** One token for the whole process: every journal this process writes names it as the owner. */
export const PROCESS_OWNER = randomBytes(12).toString('base64url');

/** This host's name. A pid means nothing on another host (or in a container with its own pid namespace). */
export const HOST = hostname();

/** What a process writes into a file it holds, to be told apart from a later process with its pid. */
export interface ProcessStamp {
  readonly pid: number;
  /** Absent in files written by hand or by older versions: then taken as this host. */
  readonly host?: string;
  /** See {@link probeProcess}; absent where the platform tells no start times. */
  readonly startId?: string;
  /** When it was written, epoch ms. */
  readonly at?: number;
}

/**
 * This process's stamp as file content: `{ pid, owner, host, ...extra, startId, at }`. `extra` holds
 * what one kind of file adds (the lock's release token).
 */
export async function ownStamp(extra: Readonly<Record<string, string>> = {}): Promise<string> {
  return JSON.stringify({
    pid: process.pid,
    owner: PROCESS_OWNER,
    host: HOST,
    ...extra,
    startId: await ownStartId(),
    at: Date.now(),
  });
}

/** A stamp read back from a file, or undefined when the text is not one (no positive integer pid). */
export function parseStamp(text: string): ProcessStamp | undefined {
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

// Set on first use, cleared never: the boot id and this process's start do not change.
let bootId: Promise<string> | undefined;
let selfStartId: Promise<string | undefined> | undefined;

/** This process's start id (see {@link probeProcess}). */
export function ownStartId(): Promise<string | undefined> {
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
