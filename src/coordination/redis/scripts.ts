import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { SharedClaim, SharedRetire } from '../coordination.js';

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

/*
 * A token set's waiting line lives beside it, in its slot: KEYS[2] `line` orders the waiters first
 * come first served (each scored by its arrival number), KEYS[3] `waiters` scores each by its
 * expiry in server milliseconds. A waiter refreshes its entry while it waits; one whose process
 * died or stalled expires, and the next script that looks at the line drops it. A place that frees
 * goes to the head of the line: it is reserved for it (a token in the set with a short TTL, the
 * hand-off time) and the head alone is told, by a message naming its token on the set's channel.
 * The head takes the place by taking its own token, which renews it; a reservation not taken in
 * time expires like any lease, and the next script passes the place on.
 */
const LINE = `local function drop(token)
  redis.call('ZREM', KEYS[2], token)
  redis.call('ZREM', KEYS[3], token)
end
-- Forgets waiters whose entries expired (their process died or stopped refreshing).
local function purgeLine()
  local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
  for _, token in ipairs(gone) do drop(token) end
end
-- The next waiter whose entry is still live, taken out of the line; nil when nobody waits.
local function popHead()
  for _ = 1, 1000 do
    local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
    if not head then return nil end
    redis.call('ZREM', KEYS[2], head)
    if redis.call('ZREM', KEYS[3], head) == 1 then return head end
  end
  return nil
end
-- Hands up to \`free\` places to the heads of the line, except \`caller\` (answered true when its turn
-- came: it takes the place itself). Each head is reserved a place for handOff ms and told.
local function handOut(free, handOff, channel, caller)
  local told = 0
  while free > 0 do
    local head = popHead()
    if not head then break end
    free = free - 1
    if head == caller then return true, told end
    redis.call('ZADD', KEYS[1], now + handOff, head)
    redis.call('PUBLISH', channel, head)
    told = told + 1
  end
  return false, told
end
-- Puts \`token\` at the back of the line unless it is in it already, and keeps its entry for ttl ms.
local function enqueue(token, ttl)
  if not redis.call('ZSCORE', KEYS[2], token) then
    local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
    local seq = 1
    if last[2] then seq = tonumber(last[2]) + 1 end
    redis.call('ZADD', KEYS[2], seq, token)
  end
  redis.call('ZADD', KEYS[3], now + ttl, token)
  local latest = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[2], latest[2])
  redis.call('PEXPIREAT', KEYS[3], latest[2])
end`;

const checkPositive = (name: string, index: number): string => `local ${name} = tonumber(ARGV[${index}])
if not ${name} or ${name} < 1 or ${name} % 1 ~= 0 then
  return redis.error_reply('${REFUSAL_MARKER} ${name} ' .. tostring(ARGV[${index}]))
end`;

/**
 * Takes a place in a token set, first come first served. KEYS[1] the set, KEYS[2] its line,
 * KEYS[3] its waiters, KEYS[4] (lanes only) the cooldown; ARGV token, limit (0: no limit and no
 * line, for a session that exists already), ttl ms, waiterTtl ms, handOff ms, channel. Answers
 * `{1, ttl}` when taken, `{0, ms until the earliest token expires}` when full, `{-1, ms left}`
 * while a cooldown runs; in both of these the token waits in line (its entry renewed for
 * waiterTtl). Taking a token already held, or a place handed to it, renews it.
 */
const TAKE = `${NOW}
local limit = tonumber(ARGV[2])
if not limit or limit < 0 or limit % 1 ~= 0 then
  return redis.error_reply('${REFUSAL_MARKER} limit ' .. tostring(ARGV[2]))
end
${CHECK_TTL}
${checkPositive('waiterTtl', 4)}
${checkPositive('handOff', 5)}
${LINE}
local token = ARGV[1]
local function place()
  drop(token)
  redis.call('ZADD', KEYS[1], now + ttl, token)
  ${EXPIRE_WITH_LAST}
  return {1, ttl}
end
if limit == 0 then return place() end
if KEYS[4] then
  local cool = tonumber(redis.call('GET', KEYS[4]))
  if cool and cool > now then
    enqueue(token, waiterTtl)
    return {-1, cool - now}
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
purgeLine()
if redis.call('ZSCORE', KEYS[1], token) then return place() end
local free = limit - redis.call('ZCARD', KEYS[1])
local mine, told = handOut(free, handOff, ARGV[6], token)
if mine or free - told > 0 then return place() end
if told > 0 then
  ${EXPIRE_WITH_LAST}
end
enqueue(token, waiterTtl)
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(first[2]) - now}`;

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
 * Gives a token back, only one's own, and leaves the line. KEYS[1] the set, KEYS[2] its line,
 * KEYS[3] its waiters, KEYS[4] (lanes only) the cooldown; ARGV token, channel, and to hand the
 * place on: limit, handOff ms (without them nobody is handed a place, and the channel is told).
 * Unless a cooldown runs, free places go to the heads of the line, each told on the channel by
 * its token; when the token was held and nobody was told, the channel hears an empty message.
 * Answers 1 when the token was held.
 */
const GIVE_BACK = `${NOW}
${LINE}
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
drop(ARGV[1])
local told = 0
local limit = tonumber(ARGV[3])
if limit and limit > 0 and KEYS[2] then
  ${NOW}
  local cool = KEYS[4] and tonumber(redis.call('GET', KEYS[4]))
  if not cool or cool <= now then
    ${checkPositive('handOff', 4)}
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
    purgeLine()
    local _
    _, told = handOut(limit - redis.call('ZCARD', KEYS[1]), handOff, ARGV[2], nil)
    if told > 0 then
      ${EXPIRE_WITH_LAST}
    end
  end
end
if removed == 1 and told == 0 then redis.call('PUBLISH', ARGV[2], '') end
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
  /** The fleet's shared session of the workbook: a hash of its `id` and `usedAt` (server ms). */
  readonly shared: string;
  /** Held by the replica creating the shared session, its claim token, with a TTL. */
  readonly creating: string;
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
    shared: `${base}:shared`,
    creating: `${base}:shared:creating`,
  };
}

/** The keys and the channel of the waiting line beside the token set `set` (in its slot). */
export function lineKeys(set: string): { readonly line: string; readonly waiters: string; readonly channel: string } {
  return { line: `${set}:line`, waiters: `${set}:waiters`, channel: `${set}:freed` };
}

/** How long a waiter's entry in a line lasts unless refreshed, and a place handed to it is kept. */
export interface LineTimes {
  /** A waiter refreshes its entry well within this (every wait of it is shorter). */
  readonly waiterTtlMs: number;
  /** A place handed to the head of the line and not taken in this long passes on. */
  readonly handOffMs: number;
}

/** A waiter that stops refreshing leaves the line after 3 s; a place handed to it passes on after 1 s. */
export const LINE_TIMES: LineTimes = { waiterTtlMs: 3000, handOffMs: 1000 };

/**
 * Takes a place in `set` for `ttlMs` (`limit` 0: always, past the line), refused while `cooldown`
 * (when given) runs; when refused, `token` waits in the set's line (see {@link lineKeys}), first
 * come first served, and is told on its channel when a place is handed to it.
 */
export async function take(
  client: RedisClient,
  set: string,
  cooldown: string | undefined,
  token: string,
  limit: number,
  ttlMs: number,
  times: LineTimes = LINE_TIMES,
): Promise<TakeAnswer> {
  const { line, waiters, channel } = lineKeys(set);
  const keys = cooldown === undefined ? [set, line, waiters] : [set, line, waiters, cooldown];
  const args = [token, limit, ttlMs, times.waiterTtlMs, times.handOffMs, channel];
  const [outcome, ms] = pair(await scripts.take.run(client, keys, args), 'take');
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

/**
 * Gives `token` back, takes it out of the set's line, and (with `handOn`: the set's limit, its
 * cooldown if any) hands the free place to the head of the line, told on `channel`. Without
 * `handOn`, or when nobody was handed a place, `channel` hears an empty message. False when the
 * token was not held (expired, never ours, or only waiting).
 */
export async function giveBack(
  client: RedisClient,
  set: string,
  token: string,
  channel: string,
  handOn?: { readonly limit: number; readonly cooldown?: string | undefined; readonly handOffMs?: number },
): Promise<boolean> {
  const { line, waiters } = lineKeys(set);
  const keys = handOn?.cooldown === undefined ? [set, line, waiters] : [set, line, waiters, handOn.cooldown];
  const args =
    handOn === undefined ? [token, channel] : [token, channel, handOn.limit, handOn.handOffMs ?? LINE_TIMES.handOffMs];
  return integer(await scripts.giveBack.run(client, keys, args), 'giveBack') === 1;
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

// The fleet's shared session of a workbook. KEYS[1] `shared` is a hash: `id`, the session every
// replica uses, and `usedAt`, the server's time of its last use by any replica. KEYS[2] `creating`
// holds the token of the replica creating one (set in the lane, right before its createSession):
// the others wait for its id instead of creating their own. The hash lives `keyTtl` ms past its
// last use, longer than Graph keeps an unused session, so a key nobody touches names a session
// that is gone anyway.

// A positive integer argument, checked on the server (see REFUSAL_MARKER).
const checkMs = (name: string, index: number): string => `local ${name} = tonumber(ARGV[${index}])
if not ${name} or ${name} < 1 or ${name} % 1 ~= 0 then
  return redis.error_reply('${REFUSAL_MARKER} ${name} ' .. tostring(ARGV[${index}]))
end`;

const USED_NOW = `redis.call('HSET', KEYS[1], 'usedAt', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], keyTtl)`;

/** The shared session's id, counted as a use. KEYS shared; ARGV keyTtl. Answers the id, or nil. */
const SHARED_FIND = `${NOW}
${checkMs('keyTtl', 1)}
local id = redis.call('HGET', KEYS[1], 'id')
if not id then return false end
${USED_NOW}
return id`;

/**
 * Run in the lane right before a createSession. KEYS shared, creating; ARGV token, claimTtl,
 * replacing (the id this replica saw end, or ''), keyTtl. A key holding `replacing` is deleted
 * first (compare and delete). Answers `{1, id}` when the fleet has a session (adopt it, a use),
 * `{2, ms}` while another replica's claim runs (wait), `{0, ''}` when this token may create one.
 */
const SHARED_CLAIM = `${NOW}
${checkMs('claimTtl', 2)}
${checkMs('keyTtl', 4)}
local id = redis.call('HGET', KEYS[1], 'id')
if id and id ~= ARGV[3] then
  ${USED_NOW}
  return {1, id}
end
if id then redis.call('DEL', KEYS[1]) end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return {2, tostring(redis.call('PTTL', KEYS[2]))} end
redis.call('SET', KEYS[2], ARGV[1], 'PX', claimTtl)
return {0, ''}`;

/**
 * Stores the id of a session this token created. KEYS shared, creating; ARGV token, id, keyTtl.
 * Answers `{1, id}` when stored, or `{0, other}` when another replica stored one meanwhile (its
 * claim outlived ours): the fleet uses theirs, and ours is closed by its creator.
 */
const SHARED_STORE = `${NOW}
${checkMs('keyTtl', 3)}
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
local id = redis.call('HGET', KEYS[1], 'id')
if id and id ~= ARGV[2] then return {0, id} end
redis.call('HSET', KEYS[1], 'id', ARGV[2])
${USED_NOW}
return {1, ARGV[2]}`;

/** Ends a claim whose create failed, only one's own. KEYS creating; ARGV token. Answers 1 when held. */
const SHARED_ABANDON = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`;

/** Compare and delete: KEYS shared; ARGV id. Deletes the key only while it holds `id`; answers 1 then. */
const SHARED_RELEASE = `if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`;

/** A use of the session `id`: KEYS shared; ARGV id, keyTtl. Answers 1, or 0 when the key holds no `id`. */
const SHARED_TOUCH = `${NOW}
${checkMs('keyTtl', 2)}
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
${USED_NOW}
return 1`;

/**
 * A replica's idle timer fired for the session `id`. KEYS shared; ARGV id, idleMs. Answers
 * `{0, 0}` when the whole fleet left it unused for idleMs (the key is deleted: the caller closes
 * it), `{1, ms}` when it was used more recently (idle in ms at the earliest), `{2, 0}` when the
 * key is gone or holds another id (another replica retired or replaced it).
 */
const SHARED_RETIRE = `${NOW}
${checkMs('idleMs', 2)}
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return {2, 0} end
local used = tonumber(redis.call('HGET', KEYS[1], 'usedAt')) or 0
local left = used + idleMs - now
if left > 0 then return {1, left} end
redis.call('DEL', KEYS[1])
return {0, 0}`;

/** The shared-session scripts, one instance each. */
export const sharedScripts = {
  find: new RedisScript(SHARED_FIND),
  claim: new RedisScript(SHARED_CLAIM),
  store: new RedisScript(SHARED_STORE),
  abandon: new RedisScript(SHARED_ABANDON),
  release: new RedisScript(SHARED_RELEASE),
  touch: new RedisScript(SHARED_TOUCH),
  retire: new RedisScript(SHARED_RETIRE),
} as const;

function idPair(reply: unknown, script: string): readonly [number, string] {
  if (Array.isArray(reply) && reply.length === 2 && typeof reply[0] === 'number' && typeof reply[1] === 'string') {
    return [reply[0], reply[1]];
  }
  throw new TypeError(`The ${script} script answered ${JSON.stringify(reply)}, not an integer and a string`);
}

/** The id of the fleet's shared session of the workbook of `keys`, if any; counted as a use. */
export async function sharedFind(
  client: RedisClient,
  keys: WorkbookKeys,
  keyTtlMs: number,
): Promise<string | undefined> {
  const reply = await sharedScripts.find.run(client, [keys.shared], [keyTtlMs]);
  if (reply === null) return undefined;
  if (typeof reply === 'string') return reply;
  throw new TypeError(`The sharedFind script answered ${JSON.stringify(reply)}, not an id or nil`);
}

/** In the lane, right before a createSession: adopt the fleet's session, create one, or wait. */
export async function sharedClaim(
  client: RedisClient,
  keys: WorkbookKeys,
  token: string,
  replacing: string | undefined,
  ttls: { readonly claimTtlMs: number; readonly keyTtlMs: number },
): Promise<SharedClaim> {
  const reply = await sharedScripts.claim.run(
    client,
    [keys.shared, keys.creating],
    [token, ttls.claimTtlMs, replacing ?? '', ttls.keyTtlMs],
  );
  const [outcome, value] = idPair(reply, 'sharedClaim');
  if (outcome === 1) return { outcome: 'adopt', id: value };
  if (outcome === 2) return { outcome: 'wait', waitMs: Math.max(0, Number(value)) };
  return { outcome: 'create' };
}

/** Stores the session `id` created under `token`; answers the id the fleet uses now, and whether it is ours. */
export async function sharedStore(
  client: RedisClient,
  keys: WorkbookKeys,
  token: string,
  id: string,
  keyTtlMs: number,
): Promise<{ readonly stored: boolean; readonly id: string }> {
  const reply = await sharedScripts.store.run(client, [keys.shared, keys.creating], [token, id, keyTtlMs]);
  const [stored, current] = idPair(reply, 'sharedStore');
  return { stored: stored === 1, id: current };
}

/** Ends the claim of `token` (its create failed); false when it was not held. */
export async function sharedAbandon(client: RedisClient, keys: WorkbookKeys, token: string): Promise<boolean> {
  return integer(await sharedScripts.abandon.run(client, [keys.creating], [token]), 'sharedAbandon') === 1;
}

/** Compare and delete: removes the shared session's key only while it holds `id`. */
export async function sharedRelease(client: RedisClient, keys: WorkbookKeys, id: string): Promise<boolean> {
  return integer(await sharedScripts.release.run(client, [keys.shared], [id]), 'sharedRelease') === 1;
}

/** A use of the session `id`, on the server's clock; false when the key no longer holds it. */
export async function sharedTouch(
  client: RedisClient,
  keys: WorkbookKeys,
  id: string,
  keyTtlMs: number,
): Promise<boolean> {
  return integer(await sharedScripts.touch.run(client, [keys.shared], [id, keyTtlMs]), 'sharedTouch') === 1;
}

/** Whether this replica may close the session `id` now that its idle timer fired (see SharedRetire). */
export async function sharedRetire(
  client: RedisClient,
  keys: WorkbookKeys,
  id: string,
  idleMs: number,
): Promise<SharedRetire> {
  const [outcome, left] = pair(await sharedScripts.retire.run(client, [keys.shared], [id, idleMs]), 'sharedRetire');
  if (outcome === 0) return { outcome: 'retired' };
  if (outcome === 1) return { outcome: 'busy', leftMs: left };
  return { outcome: 'gone' };
}
