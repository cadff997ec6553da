import { checkNumber } from '../../util/validate.js';
import type { SharedClaim, SharedRetire, SharedSessions } from '../coordination.js';
import {
  sharedAbandon,
  sharedClaim,
  sharedFind,
  sharedRelease,
  sharedRetire,
  sharedStore,
  sharedTouch,
  workbookKeys,
  type RedisClient,
} from './scripts.js';

export interface RedisSharedSessionsOptions {
  readonly client: RedisClient;
  /**
   * Put in front of every key, outside the hash tag.
   * @default 'wbs:'
   */
  readonly keyPrefix?: string;
  /**
   * How long a creating process's claim keeps the others waiting for its session, in ms. One that
   * outlives it (a slow long-running create) is still stored unless another was stored first.
   * @default 30000
   */
  readonly claimTtlMs?: number;
  /**
   * How long a shared session's key outlives its last use, in ms: longer than Graph keeps an
   * unused session, so a key that expires names a session that is gone anyway.
   * @default 420000
   */
  readonly keyTtlMs?: number;
}

/**
 * The fleet's shared sessions on Redis: each workbook's id in a key beside its lane (its hash
 * tag), with the server's time of its last use by any process. Created under the lane with a
 * re-check, replaced only by compare and delete, retired by whoever holds the lane once the whole
 * fleet left it idle.
 */
export class RedisSharedSessions implements SharedSessions {
  readonly claimTtlMs: number;
  readonly keyTtlMs: number;
  readonly #client: RedisClient;
  readonly #prefix: string;

  constructor(options: RedisSharedSessionsOptions) {
    this.#client = options.client;
    this.#prefix = options.keyPrefix ?? 'wbs:';
    this.claimTtlMs = checkNumber('claimTtlMs', options.claimTtlMs ?? 30_000, 1, { integer: true });
    this.keyTtlMs = checkNumber('keyTtlMs', options.keyTtlMs ?? 420_000, 1, { integer: true });
  }

  find(lane: string): Promise<string | undefined> {
    return sharedFind(this.#client, this.#keys(lane), this.keyTtlMs);
  }

  claim(lane: string, token: string, replacing: string | undefined): Promise<SharedClaim> {
    return sharedClaim(this.#client, this.#keys(lane), token, replacing, this);
  }

  async store(lane: string, token: string, id: string): Promise<{ readonly id: string; readonly shared: boolean }> {
    const answer = await sharedStore(this.#client, this.#keys(lane), token, id, this.keyTtlMs);
    return { id: answer.id, shared: true };
  }

  async abandon(lane: string, token: string): Promise<void> {
    await sharedAbandon(this.#client, this.#keys(lane), token);
  }

  async release(lane: string, id: string): Promise<void> {
    await sharedRelease(this.#client, this.#keys(lane), id);
  }

  async touch(lane: string, id: string): Promise<void> {
    await sharedTouch(this.#client, this.#keys(lane), id, this.keyTtlMs);
  }

  retire(lane: string, id: string, idleMs: number): Promise<SharedRetire> {
    return sharedRetire(this.#client, this.#keys(lane), id, Math.max(1, Math.ceil(idleMs)));
  }

  #keys(lane: string): ReturnType<typeof workbookKeys> {
    return workbookKeys(this.#prefix, lane);
  }
}
