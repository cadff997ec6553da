import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/**
 * The Lua scripts a fleet coordinates through. Each runs atomically on the Redis primary and reads
 * the time from the server (`TIME`), so no client's clock decides when a lease or a cooldown ends.
 * Every key of one workbook shares a hash tag, `{wb:<lane>}`, so Redis Cluster keeps them in one
 * slot, as a script's keys must be.
 *
 * A token set is a sorted set of tokens scored by their expiry in server milliseconds: a lane's
 * leases, or a workbook's session reservations. A token nobody renews expires and is purged by the
 * next script that looks at the set; the key itself expires with its last token.
 */

/** A connected ioredis client (a single node or a cluster); only its commands are used. */
export type RedisClient = Redis | Cluster;

// The server's clock in milliseconds. Lua numbers are doubles: exact for epoch milliseconds.
export const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// Arguments are checked on the server too: a refusal carries this marker, whatever prefix the
// server puts in front of it (Redis 7 adds `ERR `, older servers did not).
export const REFUSAL_MARKER = 'WBS_BADARG';

const CHECK_TTL = `local ttl = tonumber(ARGV[3])
if not ttl or ttl < 1 or ttl % 1 ~= 0 then return redis.error_reply('${REFUSAL_MARKER} ttl ' .. tostring(ARGV[3])) end`;

// Keeps a token set's key alive exactly as long as its longest-lived token.
const EXPIRE_WITH_LAST = `local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end`;

/**
 * Takes a place in a token set. KEYS[1] the set, KEYS[2] (lanes only) the cooldown; ARGV token,
 * limit (0: no limit, for a session that exists already), ttl ms. Answers `{1, ttl}` when taken,
 * `{0, ms until the earliest token expires}` when full, `{-1, ms left}` while a cooldown runs.
 * Taking a token already held renews it.
 */
const TAKE = `${NOW}
local limit = tonumber(ARGV[2])
if not limit or limit < 0 or limit % 1 ~= 0 then
  return redis.error_reply('${REFUSAL_MARKER} limit ' .. tostring(ARGV[2]))
end
${CHECK_TTL}
if KEYS[2] then
  local cool = tonumber(redis.call('GET', KEYS[2]))
  if cool and cool > now then return {-1, cool - now} end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if limit > 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= limit then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(first[2]) - now}
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
${EXPIRE_WITH_LAST}
return {1, ttl}`;

/**
 * Renews a token for ttl ms. KEYS[1] the set; ARGV token, readd ('1': put it back even if it had
 * expired, for a session that still exists), ttl. Answers 1 when the token was still held, 0 when
 * it was gone (lost; put back only with readd).
 */
const RENEW = `${NOW}
${CHECK_TTL}
local score = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
local held = score ~= nil and score > now
if not held and ARGV[2] ~= '1' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
${EXPIRE_WITH_LAST}
if held then return 1 end
return 0`;

/**
 * Gives a token back, only one's own. KEYS[1] the set; ARGV token, the channel told of a free
 * place. Answers 1 when the token was held.
 */
const GIVE_BACK = `local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed == 1 then redis.call('PUBLISH', ARGV[2], '1') end
return removed`;

/**
 * Pauses a lane for ms from the server's now; a cooldown only grows. KEYS[1] the cooldown; ARGV
 * ms. Answers `{1, ms}` when it grew, `{0, ms left}` when a longer one already runs.
 */
const COOL_DOWN = `${NOW}
local ms = tonumber(ARGV[1])
if not ms or ms < 1 or ms % 1 ~= 0 then return redis.error_reply('${REFUSAL_MARKER} ms ' .. tostring(ARGV[1])) end
local cool = tonumber(redis.call('GET', KEYS[1]))
if cool and cool >= now + ms then return {0, cool - now} end
redis.call('SET', KEYS[1], string.format('%.0f', now + ms), 'PX', ms)
return {1, ms}`;

/** A script run by its SHA1, loaded again by `EVAL` when the server's script cache lost it. */
export class RedisScript {
  readonly lua: string;
  readonly sha: string;

  constructor(lua: string) {
    this.lua = lua;
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(client: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      // After SCRIPT FLUSH, a restart or a failover: EVAL runs it and caches it again.
      if (!isNoScript(error)) throw error;
      return await client.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}

/** The scripts, one instance each: their SHA1s are computed once. */
export const scripts = {
  take: new RedisScript(TAKE),
  renew: new RedisScript(RENEW),
  giveBack: new RedisScript(GIVE_BACK),
  coolDown: new RedisScript(COOL_DOWN),
} as const;

/** The text of a Redis error reply, matched by content: servers differ in the prefix they add. */
function replyText(error: unknown): string {
  return error instanceof Error ? error.message : typeof error === 'string' ? error : '';
}

/** The server no longer has the script in its cache. */
export function isNoScript(error: unknown): boolean {
  return replyText(error).includes('NOSCRIPT');
}

/** A script refused its arguments (see {@link REFUSAL_MARKER}). */
export function isScriptRefusal(error: unknown): boolean {
  return replyText(error).includes(REFUSAL_MARKER);
}

/** What `take` answered. */
export type TakeAnswer =
  | { readonly outcome: 'taken'; readonly ttlMs: number }
  /** Every place is held; the earliest frees itself in `waitMs` unless given back sooner. */
  | { readonly outcome: 'full'; readonly waitMs: number }
  /** The lane cools down for `waitMs` more. */
  | { readonly outcome: 'cooling'; readonly waitMs: number };

function pair(reply: unknown, script: string): readonly [number, number] {
  if (Array.isArray(reply) && reply.length === 2 && typeof reply[0] === 'number' && typeof reply[1] === 'number') {
    return [reply[0], reply[1]];
  }
  throw new TypeError(`The ${script} script answered ${JSON.stringify(reply)}, not two integers`);
}

function integer(reply: unknown, script: string): number {
  if (typeof reply === 'number') return reply;
  throw new TypeError(`The ${script} script answered ${JSON.stringify(reply)}, not an integer`);
}

/** The keys of one workbook's lane and budget, all in the slot of its hash tag. */
export interface WorkbookKeys {
  readonly leases: string;
  readonly cooldown: string;
  readonly sessions: string;
  /** Told whenever a lease is given back. */
  readonly leaseFreed: string;
  /** Told whenever a session reservation is given back. */
  readonly sessionFreed: string;
}

/**
 * The keys of `lane` under `prefix`. Braces in a lane name are escaped so that the hash tag is
 * exactly the lane, and two lanes never share a key.
 */
export function workbookKeys(prefix: string, lane: string): WorkbookKeys {
  const escaped = lane.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const base = `${prefix}{wb:${escaped}}`;
  return {
    leases: `${base}:leases`,
    cooldown: `${base}:cooldown`,
    sessions: `${base}:sessions`,
    leaseFreed: `${base}:leases:freed`,
    sessionFreed: `${base}:sessions:freed`,
  };
}

/**
 * Takes a place in `set` for `ttlMs` (`limit` 0: always), refused while `cooldown` (when given)
 * runs.
 */
export async function take(
  client: RedisClient,
  set: string,
  cooldown: string | undefined,
  token: string,
  limit: number,
  ttlMs: number,
): Promise<TakeAnswer> {
  const keys = cooldown === undefined ? [set] : [set, cooldown];
  const [outcome, ms] = pair(await scripts.take.run(client, keys, [token, limit, ttlMs]), 'take');
  if (outcome === 1) return { outcome: 'taken', ttlMs: ms };
  return { outcome: outcome === 0 ? 'full' : 'cooling', waitMs: Math.max(0, ms) };
}

/** Renews `token` for `ttlMs`; false when it was gone (then put back only with `readd`). */
export async function renew(
  client: RedisClient,
  set: string,
  token: string,
  ttlMs: number,
  readd: boolean,
): Promise<boolean> {
  return integer(await scripts.renew.run(client, [set], [token, readd ? '1' : '0', ttlMs]), 'renew') === 1;
}

/** Gives `token` back and tells `channel`; false when it was not held (expired, or never ours). */
export async function giveBack(client: RedisClient, set: string, token: string, channel: string): Promise<boolean> {
  return integer(await scripts.giveBack.run(client, [set], [token, channel]), 'giveBack') === 1;
}

/** Pauses the lane of `cooldown` for `ms` of the server's time; a cooldown only grows. */
export async function coolDown(
  client: RedisClient,
  cooldown: string,
  ms: number,
): Promise<{ readonly grew: boolean; readonly leftMs: number }> {
  const [grew, left] = pair(await scripts.coolDown.run(client, [cooldown], [ms]), 'coolDown');
  return { grew: grew === 1, leftMs: left };
}
