// The session store: where open sessions are recorded, so that after a crash another process can
// close them. The manager records and removes; recovery scans, reads each owner's liveness, and claims
// a dead owner's sessions. `SessionJournal` (an append-only file) implements it in one host.
//
// Every method is async and nothing in it relies on this process's memory to be right: a store
// shared by many hosts fits the same shape (owners with heartbeats that expire, claims taken
// atomically on the server, each dead owner's sessions claimed once).

/** One open session as the store knows it. */
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
   * Set by `scan()` for orphans: when the owner process was last known alive (its heartbeat),
   * epoch ms. No session of it can have been used after this plus one heartbeat interval
   * (`HEARTBEAT_MS`). Absent when the owner left no heartbeat.
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

/** A stored record that could not be used; it is skipped, nothing else is lost. */
export interface JournalCorruption {
  /** 1-based line number in the journal file. */
  readonly line: number;
  readonly reason: string;
}

/** Every session the store still holds, split by whether its owner process is alive. */
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

/** Why a session left the store: closed by its owner, closed by recovery, or known expired. */
export type JournalCloseReason = 'closed' | 'recovered' | 'expired';

/**
 * A recoverer's claim on the sessions of owners that are gone. While it is held no other recoverer
 * claims them, so each orphan is closed once. Its lists are read under the claim.
 */
export interface OrphanClaim extends JournalScan {
  /** Marks a claimed session done: closed by this recovery, or found expired. */
  settle(id: string, reason: Exclude<JournalCloseReason, 'closed'>): Promise<void>;
  /**
   * Every claimed session was dealt with: the store may drop what the dead owners left (their
   * heartbeats, settled records). Not called when the recovery stopped early.
   */
  complete(): Promise<void>;
  /** Ends the claim (always, in a `finally`); sessions not settled stay for the next recovery. */
  release(): Promise<void>;
}

/** The seam between the manager (and recovery) and where open sessions are kept. */
export interface SessionStore {
  /** Records a session just created; resolves once it is durable, so a crash right after leaves it. */
  record(entry: JournalRecord): Promise<void>;
  /** Records that a session of this process ended. A no-op for ids this store did not record. */
  remove(id: string): Promise<void>;
  /** Lets go of this process's heartbeat once none of its sessions remains; called on clean shutdown. */
  close(): Promise<void>;
  /**
   * Every session held, with its owner (pid, token, host), split by the owner's liveness: `live`,
   * or `orphans` with `lastSeenAt`, the owner's last heartbeat. Reads only: claims nothing.
   */
  scan(): Promise<JournalScan>;
  /**
   * Claims the sessions of owners that are gone, waiting while another recoverer holds them; rejects
   * with the signal's reason when `signal` aborts first.
   */
  claimOrphans(options?: { readonly signal?: AbortSignal }): Promise<OrphanClaim>;
}
