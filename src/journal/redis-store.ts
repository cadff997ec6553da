import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { NOW, REFUSAL_MARKER, RedisScript, type RedisClient } from '../coordination/redis/scripts.js';
import { abortReason } from '../util/abort.js';
import { shortId } from '../util/ids.js';
import { checkKeys, checkNumber, describe } from '../util/validate.js';
import { checkCloseReason, checkId, checkRecord } from './format.js';
import type { FleetRedisClient } from '../manager/fleet-types.js';
import { HEARTBEAT_MS } from './owner-markers.js';
import type {
  JournalCloseReason,
  JournalCorruption,
  JournalEntry,
  JournalRecord,
  JournalScan,
  OrphanClaim,
  SessionStore,
} from './session-store.js';

/**
 * The session store of a fleet: open sessions kept in Redis per owner (one store instance, in one
 * process, on one host), each owner with a heartbeat key that expires. An owner whose heartbeat key
 * is gone is dead wherever it ran, and any replica may claim and close its sessions.
 *
 * Keys, under `keyPrefix`:
 * - `owners`: a set of every owner id with keys here, the index `scan()` and `claimOrphans()` walk;
 * - `{owner:<id>}:alive`: the heartbeat, set for `heartbeatTtlMs` and renewed every `heartbeatMs`;
 * - `{owner:<id>}:meta`: a hash of the owner's host, pid, heartbeat interval and `lastSeenAt`, the
 *   server's time of its last heartbeat;
 * - `{owner:<id>}:sessions`: a hash of its open sessions, id to JSON;
 * - `{owner:<id>}:claim`: a recoverer's claim on a dead owner's sessions, its token, with a TTL.
 * One owner's keys share a hash tag, so each script (which touches several) runs in one Cluster slot.
 *
 * Durability is Redis's: without AOF (`appendonly yes`) a Redis restart forgets the sessions it
 * held, and what was open then is left to Graph's expiry.
 */
export interface RedisSessionStoreOptions {
  /**
   * An ioredis 5 client the commands run on; its owner connects and quits it. Create it to fail fast.
   * Typed by shape, so that this package's types never need ioredis installed.
   */
  readonly client: FleetRedisClient;
  /**
   * Put in front of every key, outside the hash tag.
   * @default 'wbs:'
   */
  readonly keyPrefix?: string;
  /**
   * How often this owner renews its heartbeat, once it has recorded a session.
   * @default 10000
   */
  readonly heartbeatMs?: number;
  /**
   * How long a heartbeat lasts unless renewed: once it has passed, the owner is dead and its sessions
   * are reaped. At most `HEARTBEAT_MS` (60 s), which recovery adds to `lastSeenAt` to bound a
   * session's last use.
   * @default 3 x heartbeatMs
   */
  readonly heartbeatTtlMs?: number;
  /**
   * How long a recoverer's claim on a dead owner lasts unless renewed (it is renewed every third of
   * it while held). A claim whose holder died expires, and its sessions are orphans again.
   * @default 60000
   */
  readonly claimTtlMs?: number;
  /**
   * Called with errors nobody waits for: a heartbeat or a claim renewal that failed.
   * @default nothing
   */
  readonly onError?: (error: unknown) => void;
}

const OPTION_KEYS = ['client', 'keyPrefix', 'heartbeatMs', 'heartbeatTtlMs', 'claimTtlMs', 'onError'];

// A TTL argument, checked on the server too (see REFUSAL_MARKER).
const checkTtl = (index: number): string => `local ttl = tonumber(ARGV[${index}])
if not ttl or ttl < 1 or ttl % 1 ~= 0 then
  return redis.error_reply('${REFUSAL_MARKER} ttl ' .. tostring(ARGV[${index}]))
end`;

/**
 * The owner's heartbeat, and with ARGV[5..6] a session recorded with it. KEYS alive, meta, sessions;
 * ARGV ttl, host, pid, heartbeatMs[, id, json]. Answers 1 when the heartbeat was still there, 0 when
 * it had gone (first beat, or the owner was taken for dead).
 */
const BEAT = `${NOW}
${checkTtl(1)}
local was = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], '1', 'PX', ttl)
redis.call('HSET', KEYS[2], 'host', ARGV[2], 'pid', ARGV[3], 'heartbeatMs', ARGV[4],
  'lastSeenAt', string.format('%.0f', now))
if ARGV[5] then redis.call('HSET', KEYS[3], ARGV[5], ARGV[6]) end
return was`;

/**
 * The owner leaves: its heartbeat goes at once, so its remaining sessions are orphans now. KEYS
 * alive, meta, sessions. Answers 1 when nothing of it is left (its meta went too), else 0.
 */
const GONE = `redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
return 1`;

/** An owner as it stands. KEYS alive, meta, sessions. Answers `{alive 0|1, meta, sessions}`. */
const READ = `return {redis.call('EXISTS', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3])}`;

/**
 * Claims a dead owner's sessions, atomically: only while its heartbeat is absent and nobody else
 * holds a claim. KEYS alive, meta, sessions, claim; ARGV token, ttl. Answers `{status, meta,
 * sessions}`: 1 claimed, 0 alive (its sessions, to report), 2 claimed by another, 3 nothing left.
 */
const CLAIM = `${checkTtl(2)}
local meta = redis.call('HGETALL', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, meta, redis.call('HGETALL', KEYS[3])} end
local sessions = redis.call('HGETALL', KEYS[3])
if #meta == 0 and #sessions == 0 then return {3, meta, sessions} end
local holder = redis.call('GET', KEYS[4])
if holder and holder ~= ARGV[1] then return {2, meta, {}} end
redis.call('SET', KEYS[4], ARGV[1], 'PX', ttl)
return {1, meta, sessions}`;

/** Renews a claim, only one's own. KEYS claim; ARGV token, ttl. Answers 1 when still held. */
const RENEW_CLAIM = `${checkTtl(2)}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ttl)
return 1`;

/** Ends a claim, only one's own (compare and delete). KEYS claim; ARGV token. */
const RELEASE = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`;

/**
 * Ends a claim whose sessions were all dealt with, and drops the dead owner when nothing of it is
 * left. KEYS alive, meta, sessions, claim; ARGV token. Answers 1 when the owner was dropped.
 */
const DROP = `if redis.call('GET', KEYS[4]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[4])
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
return 1`;

/** The store's scripts, one instance each: their SHA1s are computed once. */
const storeScripts = {
  beat: new RedisScript(BEAT),
  gone: new RedisScript(GONE),
  read: new RedisScript(READ),
  claim: new RedisScript(CLAIM),
  renewClaim: new RedisScript(RENEW_CLAIM),
  release: new RedisScript(RELEASE),
  drop: new RedisScript(DROP),
} as const;

/** The keys of one owner under `prefix`, all in the slot of its hash tag. */
export interface OwnerKeys {
  readonly alive: string;
  readonly meta: string;
  readonly sessions: string;
  readonly claim: string;
}

export function ownerKeys(prefix: string, owner: string): OwnerKeys {
  const base = `${prefix}{owner:${owner}}`;
  return { alive: `${base}:alive`, meta: `${base}:meta`, sessions: `${base}:sessions`, claim: `${base}:claim` };
}

// Owner ids this store makes are base64url; an index member of any other form is not one of ours
// (and could break the hash tag), so it is skipped.
const OWNER_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** What an owner's meta hash says about it. */
interface OwnerMeta {
  readonly host?: string;
  readonly pid: number;
  readonly lastSeenAt?: number;
}

/** One owner's sessions as read under a script, with the records that could not be used. */
interface OwnerSessions {
  readonly entries: JournalEntry[];
  readonly corrupt: JournalCorruption[];
}

/** A claim held on one dead owner. */
interface HeldOwner {
  readonly owner: string;
  readonly keys: OwnerKeys;
}

/**
 * A {@link SessionStore} in Redis, shared by every replica of a fleet. Give each manager its own
 * instance: one instance is one owner, and `close()` ends it.
 */
export class RedisSessionStore implements SessionStore {
  /** This owner's id: random, unique in the fleet. */
  readonly owner = randomBytes(12).toString('base64url');
  readonly heartbeatMs: number;
  readonly heartbeatTtlMs: number;
  readonly claimTtlMs: number;
  readonly #client: RedisClient;
  readonly #prefix: string;
  readonly #keys: OwnerKeys;
  readonly #onError: (error: unknown) => void;
  readonly #host = hostname();
  // Ids recorded by this instance and not yet removed; remove() of any other id is a no-op.
  readonly #recorded = new Set<string>();
  // Set by the first record (and the first after close()), cleared by close(): the heartbeat's timer.
  #beating: NodeJS.Timeout | undefined;
  // Set once a heartbeat was written since the last close(): a later one finding it gone was lost.
  #started = false;
  #lostHeartbeats = 0;

  constructor(options: RedisSessionStoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected \`options\` to be an object with a \`client\`, got ${describe(options)}`);
    }
    checkKeys('RedisSessionStore option', options, OPTION_KEYS);
    const client: unknown = options.client;
    if (typeof client !== 'object' || client === null || typeof (client as RedisClient).evalsha !== 'function') {
      throw new TypeError(`Expected \`client\` to be an ioredis client, got ${describe(client)}`);
    }
    this.#client = options.client as unknown as RedisClient;
    this.#prefix = options.keyPrefix ?? 'wbs:';
    if (typeof this.#prefix !== 'string') throw new TypeError('Expected `keyPrefix` to be a string');
    this.heartbeatMs = checkNumber('heartbeatMs', options.heartbeatMs ?? 10_000, 10, {
      integer: true,
      max: HEARTBEAT_MS / 2,
    });
    this.heartbeatTtlMs = checkNumber(
      'heartbeatTtlMs',
      options.heartbeatTtlMs ?? 3 * this.heartbeatMs,
      2 * this.heartbeatMs,
      {
        integer: true,
        max: HEARTBEAT_MS,
      },
    );
    this.claimTtlMs = checkNumber('claimTtlMs', options.claimTtlMs ?? 60_000, 30, { integer: true });
    this.#onError = options.onError ?? (() => undefined);
    this.#keys = ownerKeys(this.#prefix, this.owner);
  }

  /** The key of the index of owners. */
  get ownersKey(): string {
    return `${this.#prefix}owners`;
  }

  /**
   * Heartbeats found gone when renewed: this owner was taken for dead (paused, or cut off from Redis,
   * past `heartbeatTtlMs`), and its sessions may have been closed by another replica.
   */
  get lostHeartbeats(): number {
    return this.#lostHeartbeats;
  }

  /** Records a session and renews the heartbeat in one script; starts the heartbeat on first use. */
  async record(entry: JournalRecord): Promise<void> {
    checkRecord(entry);
    const { workbook, id, persistChanges, createdAt } = entry;
    const json = JSON.stringify({
      workbook,
      ...(entry.file === undefined ? {} : { file: entry.file }),
      persistChanges,
      createdAt,
    });
    const first = this.#beating === undefined;
    if (first) this.#startHeartbeat();
    this.#recorded.add(id);
    try {
      // Indexed before the record, so a crash right after it leaves the owner findable.
      if (first) await this.#client.sadd(this.ownersKey, this.owner);
      await this.#beat([id, json]);
      // And after it: a recoverer that found this owner empty and dropped it meanwhile may have taken
      // it out of the index.
      await this.#client.sadd(this.ownersKey, this.owner);
    } catch (error) {
      this.#recorded.delete(id);
      throw error;
    }
  }

  /** Records that a session of this owner ended. A no-op for ids this store did not record. */
  async remove(id: string): Promise<void> {
    checkId(id);
    if (!this.#recorded.has(id)) return;
    await this.#client.hdel(this.#keys.sessions, id);
    this.#recorded.delete(id);
  }

  /**
   * This owner leaves, at once: its heartbeat key is deleted, so any sessions it still holds are
   * orphans now and the fleet's reapers close them without waiting for the heartbeat to expire.
   * Call it on shutdown once this process has closed what it could. A later `record()` starts a
   * heartbeat again.
   */
  async close(): Promise<void> {
    if (this.#beating === undefined) return;
    clearInterval(this.#beating);
    this.#beating = undefined;
    this.#started = false;
    const { alive, meta, sessions } = this.#keys;
    const empty = await storeScripts.gone.run(this.#client, [alive, meta, sessions], []);
    if (empty === 1) await this.#client.srem(this.ownersKey, this.owner);
  }

  /** Every session held, by owner: `live` while its heartbeat lasts, else `orphans` with `lastSeenAt`. */
  async scan(): Promise<JournalScan> {
    const orphans: JournalEntry[] = [];
    const live: JournalEntry[] = [];
    const corrupt: JournalCorruption[] = [];
    for (const owner of await this.#owners(corrupt)) {
      const keys = ownerKeys(this.#prefix, owner);
      const reply = await storeScripts.read.run(this.#client, [keys.alive, keys.meta, keys.sessions], []);
      const [alive, meta, sessions] = triple(reply, 'read');
      const found = ownerSessions(owner, meta, sessions, alive === 0);
      (alive === 1 ? live : orphans).push(...found.entries);
      corrupt.push(...found.corrupt);
    }
    return { orphans: byAge(orphans), live: byAge(live), corrupt };
  }

  /**
   * Claims the sessions of every dead owner not claimed by another recoverer, each with one atomic
   * script (its heartbeat still absent, no other claim). Owners another recoverer holds are left to
   * it, not waited for: their sessions are in neither list. A claim lasts `claimTtlMs` and is renewed
   * while held; sessions not settled go back to the orphans on `release()`, or when it expires.
   */
  async claimOrphans(options: { readonly signal?: AbortSignal } = {}): Promise<OrphanClaim> {
    const { signal } = options;
    const token = randomBytes(12).toString('base64url');
    const held: HeldOwner[] = [];
    const ownerOf = new Map<string, HeldOwner>();
    const orphans: JournalEntry[] = [];
    const live: JournalEntry[] = [];
    const corrupt: JournalCorruption[] = [];
    const releaseAll = async (): Promise<void> => {
      await Promise.all(held.map(({ keys }) => storeScripts.release.run(this.#client, [keys.claim], [token])));
    };
    try {
      for (const owner of await this.#owners(corrupt)) {
        if (signal?.aborted) throw abortReason(signal);
        const keys = ownerKeys(this.#prefix, owner);
        const reply = await storeScripts.claim.run(
          this.#client,
          [keys.alive, keys.meta, keys.sessions, keys.claim],
          [token, this.claimTtlMs],
        );
        const [status, meta, sessions] = triple(reply, 'claim');
        if (status === 3) await this.#unindex(owner, keys);
        if (status !== 0 && status !== 1) continue;
        const found = ownerSessions(owner, meta, sessions, status === 1);
        corrupt.push(...found.corrupt);
        if (status === 0) {
          live.push(...found.entries);
          continue;
        }
        const entry = { owner, keys };
        held.push(entry);
        for (const session of found.entries) ownerOf.set(session.id, entry);
        orphans.push(...found.entries);
      }
    } catch (error) {
      await releaseAll().catch(() => undefined);
      throw error;
    }
    return this.#claim(token, held, ownerOf, { orphans: byAge(orphans), live: byAge(live), corrupt }, releaseAll);
  }

  /** For messages. */
  toString(): string {
    return `RedisSessionStore(${this.#prefix}, owner ${this.owner})`;
  }

  #claim(
    token: string,
    held: readonly HeldOwner[],
    ownerOf: ReadonlyMap<string, HeldOwner>,
    scan: JournalScan,
    releaseAll: () => Promise<void>,
  ): OrphanClaim {
    // Renewed while held, so a long recovery keeps its claim; unref'd, the closes hold the process.
    const renewal = setInterval(
      () => {
        for (const { keys } of held) {
          storeScripts.renewClaim
            .run(this.#client, [keys.claim], [token, this.claimTtlMs])
            .catch((error: unknown) => this.#report(error));
        }
      },
      Math.max(10, Math.floor(this.claimTtlMs / 3)),
    );
    renewal.unref();
    let released: Promise<void> | undefined;
    return {
      ...scan,
      settle: async (id: string, reason: Exclude<JournalCloseReason, 'closed'>) => {
        checkId(id);
        if (checkCloseReason(reason) === 'closed') throw new TypeError('Expected `reason` recovered or expired');
        const owner = ownerOf.get(id);
        if (owner === undefined) throw new TypeError(`Session ${shortId(id)} is not in this claim`);
        // The session is closed (or expired): that holds even if the claim was lost meanwhile.
        await this.#client.hdel(owner.keys.sessions, id);
      },
      complete: async () => {
        for (const { owner, keys } of held) {
          const dropped = await storeScripts.drop.run(
            this.#client,
            [keys.alive, keys.meta, keys.sessions, keys.claim],
            [token],
          );
          if (dropped === 1) await this.#unindex(owner, keys);
        }
      },
      release: () => {
        released ??= (async () => {
          clearInterval(renewal);
          await releaseAll();
        })();
        return released;
      },
    };
  }

  /** The owner ids of the index; members that are not owner ids are reported as corrupt. */
  async #owners(corrupt: JournalCorruption[]): Promise<string[]> {
    const members = await this.#client.smembers(this.ownersKey);
    const owners: string[] = [];
    for (const member of members.sort()) {
      if (OWNER_ID.test(member)) owners.push(member);
      else corrupt.push({ line: 0, reason: `an owner index member that is not an owner id: ${describe(member)}` });
    }
    return owners;
  }

  /**
   * Takes a dead owner with nothing left out of the index, then looks again: an owner that came back
   * meanwhile (a paused process) wrote its meta, and is put back.
   */
  async #unindex(owner: string, keys: OwnerKeys): Promise<void> {
    await this.#client.srem(this.ownersKey, owner);
    if ((await this.#client.exists(keys.meta)) === 1) await this.#client.sadd(this.ownersKey, owner);
  }

  #startHeartbeat(): void {
    this.#beating = setInterval(() => {
      this.#beat([])
        .then(() => this.#client.sadd(this.ownersKey, this.owner))
        .catch((error: unknown) => this.#report(error));
    }, this.heartbeatMs);
    // A heartbeat never holds the process open.
    this.#beating.unref();
  }

  /** One heartbeat, with a session to record when given; counts a heartbeat found gone. */
  async #beat(session: readonly [string, string] | readonly []): Promise<void> {
    const { alive, meta, sessions } = this.#keys;
    const renewed = this.#started;
    const was = await storeScripts.beat.run(
      this.#client,
      [alive, meta, sessions],
      [this.heartbeatTtlMs, this.#host, process.pid, this.heartbeatMs, ...session],
    );
    // A beat that was under way when close() ran counts nothing and starts nothing.
    if (this.#beating === undefined) return;
    if (was === 0 && renewed) this.#lostHeartbeats++;
    this.#started = true;
  }

  #report(error: unknown): void {
    try {
      this.#onError(error);
    } catch {
      // A throwing listener must not become an unhandled rejection.
    }
  }
}

/** The three parts of a read or claim answer. */
function triple(reply: unknown, script: string): [number, unknown, unknown] {
  if (Array.isArray(reply) && reply.length === 3 && typeof reply[0] === 'number') {
    return [reply[0], reply[1], reply[2]];
  }
  throw new TypeError(`The ${script} script answered ${JSON.stringify(reply)}, not a status and two lists`);
}

/** A flat `HGETALL` reply as pairs. */
function pairs(flat: unknown): Array<[string, string]> {
  if (!Array.isArray(flat)) return [];
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const [key, value] = [flat[i] as unknown, flat[i + 1] as unknown];
    if (typeof key === 'string' && typeof value === 'string') out.push([key, value]);
  }
  return out;
}

function parseMeta(flat: unknown): OwnerMeta {
  const fields = new Map(pairs(flat));
  const pid = Number(fields.get('pid'));
  const lastSeenAt = Number(fields.get('lastSeenAt'));
  const host = fields.get('host');
  return {
    pid: Number.isSafeInteger(pid) && pid > 0 ? pid : 0,
    ...(host === undefined ? {} : { host }),
    ...(fields.has('lastSeenAt') && Number.isFinite(lastSeenAt) ? { lastSeenAt } : {}),
  };
}

/** One owner's sessions as entries; `orphaned` adds the owner's last heartbeat as `lastSeenAt`. */
function ownerSessions(owner: string, metaReply: unknown, sessionsReply: unknown, orphaned: boolean): OwnerSessions {
  const meta = parseMeta(metaReply);
  const entries: JournalEntry[] = [];
  const corrupt: JournalCorruption[] = [];
  for (const [id, json] of pairs(sessionsReply)) {
    const problem = sessionProblem(json);
    if (typeof problem === 'string') {
      corrupt.push({ line: 0, reason: `session ${shortId(id)} of owner ${owner}: ${problem}` });
      continue;
    }
    entries.push({
      workbook: problem.workbook,
      ...(problem.file === undefined ? {} : { file: problem.file }),
      id,
      persistChanges: problem.persistChanges,
      createdAt: problem.createdAt,
      pid: meta.pid,
      owner,
      ...(meta.host === undefined ? {} : { host: meta.host }),
      ...(orphaned && meta.lastSeenAt !== undefined ? { lastSeenAt: meta.lastSeenAt } : {}),
    });
  }
  return { entries, corrupt };
}

type StoredSession = Pick<JournalEntry, 'workbook' | 'file' | 'persistChanges' | 'createdAt'>;

/** A stored session's fields, or why they cannot be used. */
function sessionProblem(json: string): StoredSession | string {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null) return 'not an object';
  const { workbook, file, persistChanges, createdAt } = value as Record<string, unknown>;
  if (typeof workbook !== 'string' || workbook === '') return 'no `workbook`';
  if (file !== undefined && (typeof file !== 'string' || file === '')) return 'a `file` that is not a string';
  if (typeof persistChanges !== 'boolean') return 'no boolean `persistChanges`';
  if (typeof createdAt !== 'number' || !Number.isFinite(createdAt)) return 'no `createdAt`';
  return { workbook, ...(file === undefined ? {} : { file }), persistChanges, createdAt };
}

/** Oldest first, then by id: a stable order for reports. */
function byAge(entries: JournalEntry[]): JournalEntry[] {
  return entries.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
