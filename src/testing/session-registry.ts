import type { SeededRandom } from './random.js';
import type { WorkbookData } from './workbook-model.js';

export type SessionState = 'open' | 'closed' | 'expired';

/** What `WorkbookService.sessions()` reports about one session. */
export interface SessionSnapshot {
  readonly id: string;
  readonly workbook: string;
  readonly persistChanges: boolean;
  readonly createdAt: number;
  readonly lastActivity: number;
  readonly state: SessionState;
}

export interface SessionRecord {
  readonly id: string;
  /** The key in `sessionInfoResource(key='...')`. */
  readonly infoKey: string;
  readonly workbook: string;
  readonly persistChanges: boolean;
  readonly createdAt: number;
  lastActivity: number;
  state: SessionState;
  // Cleared when the answer that would carry the id is replaced by a fault; no client knows the session then.
  delivered: boolean;
  // The workbook's data for a persistent session, its own copy for a non-persistent one; dropped when it ends.
  data: WorkbookData | undefined;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Every session ever created, with lazy expiry: a session past its inactivity timeout becomes
 * `expired` the first time anything looks at it (`sweep`).
 */
export class SessionRegistry {
  // Every session by id, in creation order; entries stay after close/expiry (their data is dropped).
  readonly #byId = new Map<string, SessionRecord>();
  // The open ones only, so a sweep costs what is open, not everything ever created; left on end.
  readonly #open = new Set<SessionRecord>();
  // sessionInfoResource keys to session ids; filled with #byId.
  readonly #byInfoKey = new Map<string, string>();
  readonly #rng: SeededRandom;
  readonly #timeoutMs: (persistChanges: boolean) => number;
  readonly #onEnd: (session: SessionRecord) => void;
  readonly #onCreate: (session: SessionRecord) => void;
  // Numbers the ids; only grows.
  #serial = 0;

  constructor(
    rng: SeededRandom,
    timeoutMs: (persistChanges: boolean) => number,
    onEnd: (session: SessionRecord) => void,
    onCreate: (session: SessionRecord) => void = () => undefined,
  ) {
    this.#rng = rng;
    this.#timeoutMs = timeoutMs;
    this.#onEnd = onEnd;
    this.#onCreate = onCreate;
  }

  /**
   * Graph's ids are long and full of `=`, `.`, `%` and `&`; these are too, so callers learn to
   * treat them as opaque.
   */
  #newId(): string {
    this.#serial += 1;
    const r = this.#rng;
    const digits = (n: number): string => r.string(n, '0123456789');
    return (
      `cluster=EMU1&session=${this.#serial}.EMU${digits(4)}.A${digits(3)}.1.V24.` +
      `${r.string(28, B64)}%2F${r.string(10, B64)}==`
    );
  }

  create(workbook: string, persistChanges: boolean, data: WorkbookData, now: number): SessionRecord {
    const record: SessionRecord = {
      id: this.#newId(),
      infoKey: this.#rng.string(24, ALNUM),
      workbook,
      persistChanges,
      createdAt: now,
      lastActivity: now,
      state: 'open',
      delivered: true,
      data,
    };
    this.#byId.set(record.id, record);
    this.#byInfoKey.set(record.infoKey, record.id);
    this.#open.add(record);
    this.#onCreate(record);
    return record;
  }

  get(id: string): SessionRecord | undefined {
    return this.#byId.get(id);
  }

  byInfoKey(key: string): SessionRecord | undefined {
    const id = this.#byInfoKey.get(key);
    return id === undefined ? undefined : this.#byId.get(id);
  }

  /** Open sessions on one workbook, now (call `sweep` first). */
  openOn(workbook: string): number {
    let n = 0;
    for (const s of this.#open) if (s.workbook === workbook) n += 1;
    return n;
  }

  /** Marks open sessions past their timeout as expired. */
  sweep(now: number): void {
    for (const s of this.#open) {
      if (now - s.lastActivity >= this.#timeoutMs(s.persistChanges)) this.end(s, 'expired');
    }
  }

  end(session: SessionRecord, state: 'closed' | 'expired'): void {
    if (session.state !== 'open') return;
    this.#open.delete(session);
    session.state = state;
    session.data = undefined;
    this.#onEnd(session);
  }

  all(): IterableIterator<SessionRecord> {
    return this.#byId.values();
  }
}
