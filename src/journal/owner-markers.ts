// Owner markers: each process with sessions in a journal keeps a file beside it,
// `<file>.owner-<token>.lock`, holding its stamp (pid, host, start) and touched as a heartbeat.
// OwnerLiveness reads them to judge whether the process that wrote a record still runs.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { readDirectory, readIfExists, replaceFile } from './durable-file.js';
import { startHeartbeat } from './heartbeat.js';
import { HOST, PROCESS_OWNER, type ProcessStamp, ownStamp, parseStamp, probeProcess } from './liveness.js';

/**
 * How often a process with sessions in the journal touches its owner marker. Recovery reads the
 * marker's time as "alive until at least then": Graph expires sessions after inactivity, and a
 * dead process's sessions were last used no later than its last heartbeat plus this.
 */
export const HEARTBEAT_MS = 60_000;

const MARKER_INFIX = '.owner-';
const MARKER_SUFFIX = '.lock';

/** The marker file of `owner` beside the journal `file`. */
export function markerPath(file: string, owner: string): string {
  return `${file}${MARKER_INFIX}${owner}${MARKER_SUFFIX}`;
}

/** The owner tokens of the markers beside the journal `file`. */
export async function markerOwners(file: string): Promise<string[]> {
  const prefix = `${path.basename(file)}${MARKER_INFIX}`;
  return (await readDirectory(path.dirname(file)))
    .filter((name) => name.startsWith(prefix) && name.endsWith(MARKER_SUFFIX))
    .map((name) => name.slice(prefix.length, -MARKER_SUFFIX.length));
}

interface HeldMarker {
  /** Journal instances of this process using the marker; it is removed when the last lets go. */
  count: number;
  /** Settles once the marker is written. */
  ready: Promise<void>;
  /** Set once the marker is written, called when it is removed. */
  stopHeartbeat?: () => void;
}

/** Owner markers this process holds, by marker path. */
const heldMarkers = new Map<string, HeldMarker>();

/**
 * Takes one share of this process's marker beside the journal `file`, writing it (and starting its
 * heartbeat) for the first share. Resolves once the marker exists. The share is counted at once, so a
 * caller that gets a rejection still lets go of it with {@link releaseOwnMarker}.
 */
export async function holdOwnMarker(file: string): Promise<void> {
  const marker = markerPath(file, PROCESS_OWNER);
  let held = heldMarkers.get(marker);
  if (held === undefined) {
    const entry: HeldMarker = { count: 0, ready: Promise.resolve() };
    entry.ready = (async () => {
      await replaceFile(marker, await ownStamp());
      entry.stopHeartbeat = startHeartbeat(marker, HEARTBEAT_MS);
    })();
    entry.ready.catch(() => {
      if (heldMarkers.get(marker) === entry) heldMarkers.delete(marker);
    });
    heldMarkers.set(marker, entry);
    held = entry;
  }
  held.count++;
  await held.ready;
}

/** Waits until this process's marker beside `file` is written, when a share of it is held. */
export async function ownMarkerReady(file: string): Promise<void> {
  await heldMarkers.get(markerPath(file, PROCESS_OWNER))?.ready;
}

/** Lets go of one share of this process's marker beside `file`; the last share removes it. */
export async function releaseOwnMarker(file: string): Promise<void> {
  const marker = markerPath(file, PROCESS_OWNER);
  const held = heldMarkers.get(marker);
  if (held === undefined) return;
  if (--held.count > 0) return;
  heldMarkers.delete(marker);
  await held.ready.catch(() => undefined);
  held.stopHeartbeat?.();
  await fs.rm(marker, { force: true });
}

/**
 * Decides whether the process that wrote a record still runs: its pid must be alive, its owner marker
 * must exist and name that pid, and the pid's start time must match the marker's (where the platform
 * tells start times: Linux). Without start times, a newer marker naming the same pid wins. Answers are
 * kept for the life of the instance: make one per scan.
 */
export class OwnerLiveness {
  readonly #file: string;
  // Filled as owners are asked about, cleared never: one scan's view of the markers.
  readonly #markers = new Map<string, Promise<ProcessStamp | undefined>>();
  // Filled as owners are judged, cleared never: each owner and pid is probed once per scan.
  readonly #results = new Map<string, Promise<boolean>>();
  // Set when a marker without a start id is judged, cleared never: every marker, by pid.
  #byPid: Promise<Map<number, ProcessStamp[]>> | undefined;

  constructor(file: string) {
    this.#file = file;
  }

  /** The owner's marker as read, or undefined when it has none (or an unreadable one). */
  marker(owner: string): Promise<ProcessStamp | undefined> {
    let marker = this.#markers.get(owner);
    if (marker === undefined) {
      marker = readIfExists(markerPath(this.#file, owner)).then((text) => (text === '' ? undefined : parseStamp(text)));
      this.#markers.set(owner, marker);
    }
    return marker;
  }

  /** When the owner's marker was last touched (its heartbeat), or undefined without a marker. */
  async lastSeen(owner: string): Promise<number | undefined> {
    try {
      return (await fs.stat(markerPath(this.#file, owner))).mtimeMs;
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

  #markersByPid(): Promise<Map<number, ProcessStamp[]>> {
    this.#byPid ??= (async () => {
      const byPid = new Map<number, ProcessStamp[]>();
      for (const owner of await markerOwners(this.#file)) {
        const marker = await this.marker(owner);
        if (marker === undefined) continue;
        byPid.set(marker.pid, [...(byPid.get(marker.pid) ?? []), marker]);
      }
      return byPid;
    })();
    return this.#byPid;
  }
}
