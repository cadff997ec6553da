import type { JournalRecord, SessionStore } from '../journal/session-store.js';
import { errorText } from '../util/redact.js';
import type { Log } from './log.js';

/**
 * The manager's writes to its journal, in order per session: a remove waits for the record of its
 * id (a remove that overtook the record would leave the session listed, and this process's owner
 * marker held, once both are done). A failed write is logged, never thrown: the journal is a
 * safety net, and a session must not fail because it could not be written down.
 */
export class JournalWrites {
  readonly #journal: SessionStore | undefined;
  readonly #log: Log;
  // Records being written, by session id.
  readonly #recording = new Map<string, Promise<void>>();

  constructor(journal: SessionStore | undefined, log: Log) {
    this.#journal = journal;
    this.#log = log;
  }

  async record(entry: JournalRecord): Promise<void> {
    const { id } = entry;
    const written = this.#write(() => this.#journal?.record(entry));
    this.#recording.set(id, written);
    try {
      await written;
    } finally {
      if (this.#recording.get(id) === written) this.#recording.delete(id);
    }
  }

  remove(id: string): Promise<void> {
    const recorded = this.#recording.get(id) ?? Promise.resolve();
    return recorded.then(() => this.#write(() => this.#journal?.remove(id)));
  }

  async #write(write: () => Promise<void> | undefined): Promise<void> {
    try {
      await write();
    } catch (error) {
      this.#log('warn', 'writing the session journal failed', { error: errorText(error) });
    }
  }
}
