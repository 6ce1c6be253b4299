/**
 * The Lua side of presence on Redis (docs/redis-wire.md, "Presence keys").
 * Every entry is ended by one function, `finish`, inside whichever script
 * notices the end (a discard, a close, a dead owner, an expired membership):
 * HGET then HDEL in one atomic call, so of two processes that notice the same
 * end, one gets the entry back and announces its leave, the other gets
 * nothing. That claim is what makes each leave exactly one.
 *
 * Every key of one call shares the caller's shard (its cluster hash tag is the
 * start of `base`), built here from ARGV[1] = tag .. prefix; KEYS[1] is the
 * shard's owners key, which a cluster client routes the call by.
 *
 * Replies are `{ ended, result }`: `ended` a flat list of (group, channel,
 * info bytes) per entry this call ended, for the caller to announce.
 */
import type { Redis } from "ioredis";

const HEAD = `
local call, find, sub = redis.call, string.find, string.sub
local base = ARGV[1]
local OWNERS = base .. ':presence:owners'
local EXPIRY = base .. ':presence:expiry'
local ended = {}
local function touch(key, ttl)
  if call('PTTL', key) < ttl * 0.75 then call('PEXPIRE', key, ttl) end
end
-- An entry's value: since (ms) .. ' ' .. owner .. ' ' .. info bytes.
local function parse(v)
  local a = find(v, ' ', 1, true)
  local b = find(v, ' ', a + 1, true)
  return sub(v, 1, a - 1), sub(v, a + 1, b - 1), sub(v, b + 1)
end
-- The single remover: end channel ch's entry in group g, if it has one (made by owner, when given).
local function finish(g, ch, owner)
  local ikey = base .. ':presence:info:' .. g
  local v = call('HGET', ikey, ch)
  if not v then return false end
  local _, who, info = parse(v)
  if owner and who ~= owner then return false end
  call('HDEL', ikey, ch)
  call('ZREM', base .. ':presence:order:' .. g, ch)
  local m = g .. ' ' .. ch
  call('ZREM', EXPIRY, m)
  call('SREM', base .. ':presence:owned:' .. who, m)
  ended[#ended + 1] = g
  ended[#ended + 1] = ch
  ended[#ended + 1] = info
  return true
end
local function split(m)
  local sp = find(m, ' ', 1, true)
  return sub(m, 1, sp - 1), sub(m, sp + 1)
end
-- End what nobody ends otherwise, at most budget entries: entries of owners whose deadline passed
-- (their process is gone), and, where memberships live in Redis (withGroups), entries whose
-- membership expired or was removed. Returns whether more is left to do.
local function reap(now, cutoff, budget, withGroups)
  local dead = call('ZRANGEBYSCORE', OWNERS, '-inf', now, 'LIMIT', 0, 8)
  for _, owner in ipairs(dead) do
    local okey = base .. ':presence:owned:' .. owner
    local ms = call('SPOP', okey, budget)
    for _, m in ipairs(ms) do
      local g, ch = split(m)
      finish(g, ch, owner)
    end
    budget = budget - #ms
    if call('SCARD', okey) > 0 then return true end
    call('ZREM', OWNERS, owner)
    if budget <= 0 then return true end
  end
  if #dead == 8 then return true end
  if withGroups then
    local old = call('ZRANGEBYSCORE', EXPIRY, '-inf', cutoff, 'WITHSCORES', 'LIMIT', 0, budget)
    for i = 1, #old, 2 do
      local m = old[i]
      local g, ch = split(m)
      local s = call('ZSCORE', base .. ':group:' .. g, ch)
      if s and tonumber(s) > tonumber(cutoff) then
        -- Renewed by a groupAdd without presence: the entry lives on, and so do its keys.
        call('ZADD', EXPIRY, s, m)
        local ttl = tonumber(ARGV[2])
        touch(base .. ':presence:info:' .. g, ttl)
        touch(base .. ':presence:order:' .. g, ttl)
      else
        finish(g, ch)
      end
    end
    if #old >= 2 * budget then return true end
  end
  return false
end
`;

/**
 * Add or renew an entry (and, withGroups, its channels_redis membership).
 * ARGV: base, ttl ms, group, channel, membership score (s), owner, owner's
 * deadline (ms), since (ms), info, withGroups ('1'/'0'), group cutoff (s).
 * Result: 1 when the entry is new (a join), 0 for a renewal. An entry whose
 * membership had expired is ended first (its leave in `ended`), then begins anew.
 */
const ADD = `${HEAD}
local ttl = tonumber(ARGV[2])
local g, ch, owner = ARGV[3], ARGV[4], ARGV[6]
local withGroups = ARGV[10] == '1'
local ikey, okey = base .. ':presence:info:' .. g, base .. ':presence:order:' .. g
local m = g .. ' ' .. ch
if withGroups then
  local gk = base .. ':group:' .. g
  local s = call('ZSCORE', gk, ch)
  if not s or tonumber(s) <= tonumber(ARGV[11]) then finish(g, ch) end
  call('ZADD', gk, ARGV[5], ch)
  touch(gk, ttl)
  call('ZADD', EXPIRY, ARGV[5], m)
  touch(EXPIRY, ttl)
end
call('ZADD', OWNERS, ARGV[7], owner)
touch(OWNERS, ttl)
local since, new = ARGV[8], 0
local v = call('HGET', ikey, ch)
if v then
  local was, who = parse(v)
  since = was
  if who ~= owner then call('SREM', base .. ':presence:owned:' .. who, m) end
else
  call('ZADD', okey, call('INCR', base .. ':presence:seq'), ch)
  new = 1
end
call('HSET', ikey, ch, since .. ' ' .. owner .. ' ' .. ARGV[9])
local own = base .. ':presence:owned:' .. owner
call('SADD', own, m)
touch(own, ttl)
touch(ikey, ttl)
touch(okey, ttl)
touch(base .. ':presence:seq', ttl)
return {ended, new}`;

/**
 * End one entry: a groupDiscard. ARGV: base, ttl ms, group, channel, owner
 * ('' for any), withGroups ('1': also remove the channels_redis membership,
 * as its ZREM would).
 */
const END = `${HEAD}
local g, ch = ARGV[3], ARGV[4]
if ARGV[6] == '1' then call('ZREM', base .. ':group:' .. g, ch) end
finish(g, ch, ARGV[5] ~= '' and ARGV[5] or nil)
return {ended, 0}`;

/**
 * End up to `budget` entries of one owner: a clean close. ARGV: base, ttl ms,
 * owner, budget. Result: 1 while more are left.
 */
const END_OWNER = `${HEAD}
local owner = ARGV[3]
local okey = base .. ':presence:owned:' .. owner
for _, m in ipairs(call('SPOP', okey, tonumber(ARGV[4]))) do
  local g, ch = split(m)
  finish(g, ch, owner)
end
if call('SCARD', okey) > 0 then return {ended, 1} end
call('ZREM', OWNERS, owner)
return {ended, 0}`;

/**
 * The sweep: reap, then, when `g` is given, read it. ARGV: base, ttl ms, now
 * (ms), group cutoff (s), budget, withGroups, group ('' for none), mode
 * ('count' or 'page'), after (seq, -1 from the start), limit.
 * Result: -1 while the reap has more to do (call again), else for 'count' the
 * number of entries, for 'page' `{ rows, next }`: a flat list of (channel,
 * since, info) of the first `limit` entries after `after`, and the cursor of
 * the next page ('' on the last).
 */
const READ = `${HEAD}
local withGroups = ARGV[6] == '1'
if reap(ARGV[3], ARGV[4], tonumber(ARGV[5]), withGroups) then return {ended, -1} end
local g = ARGV[7]
if g == '' then return {ended, 0} end
local okey = base .. ':presence:order:' .. g
if ARGV[8] == 'count' then return {ended, call('ZCARD', okey)} end
local limit = tonumber(ARGV[10])
local rows = call('ZRANGEBYSCORE', okey, '(' .. ARGV[9], '+inf', 'WITHSCORES', 'LIMIT', 0, limit + 1)
local ikey, gk, cutoff = base .. ':presence:info:' .. g, base .. ':group:' .. g, tonumber(ARGV[4])
local out, n = {}, math.min(#rows / 2, limit)
for i = 1, 2 * n, 2 do
  local ch = rows[i]
  local v = call('HGET', ikey, ch)
  local s = withGroups and call('ZSCORE', gk, ch)
  if v and withGroups and (not s or tonumber(s) <= cutoff) then
    -- Its membership ended where presence could not see it (a Python peer's group_discard): it ends now.
    finish(g, ch)
  elseif v then
    local since, _, info = parse(v)
    out[#out + 1] = ch
    out[#out + 1] = since
    out[#out + 1] = info
  end
end
return {ended, {out, #rows / 2 > limit and rows[2 * n] or ''}}`;

/**
 * An owner says it is alive: its deadline moves on and its keys' TTLs are
 * renewed. ARGV: base, ttl ms, owner, deadline (ms). Result: 1 when the owner
 * was still known, 0 when it had been reaped (or flushed) meanwhile.
 */
const BEAT = `${HEAD}
local known = call('ZSCORE', OWNERS, ARGV[3]) and 1 or 0
call('ZADD', OWNERS, ARGV[4], ARGV[3])
touch(OWNERS, tonumber(ARGV[2]))
touch(base .. ':presence:owned:' .. ARGV[3], tonumber(ARGV[2]))
return {ended, known}`;

/**
 * A membership with an entry renewed without presence (pub/sub, where
 * memberships live in the layer): the entry's keys live on. ARGV: base, ttl ms, group.
 */
const RENEW = `${HEAD}
local ttl, g = tonumber(ARGV[2]), ARGV[3]
touch(base .. ':presence:info:' .. g, ttl)
touch(base .. ':presence:order:' .. g, ttl)
return {ended, 0}`;

type Arg = string | number | Buffer;
/** `{ ended, result }` as ioredis returns it from a Buffer call. */
export type PresenceReply = [Buffer[], number | [Buffer[], Buffer]];

export interface PresenceRedis extends Redis {
  chlPresenceAddBuffer(...args: Arg[]): Promise<PresenceReply>;
  chlPresenceEndBuffer(...args: Arg[]): Promise<PresenceReply>;
  chlPresenceEndOwnerBuffer(...args: Arg[]): Promise<PresenceReply>;
  chlPresenceReadBuffer(...args: Arg[]): Promise<PresenceReply>;
  chlPresenceBeatBuffer(...args: Arg[]): Promise<PresenceReply>;
  chlPresenceRenewBuffer(...args: Arg[]): Promise<PresenceReply>;
}

const installed = new WeakSet<Redis>();

/** The presence scripts on `client` (once per client: a cluster's shards share one). */
export function presenceScripts(client: Redis): PresenceRedis {
  if (!installed.has(client)) {
    installed.add(client);
    const scripts = { chlPresenceAdd: ADD, chlPresenceEnd: END, chlPresenceEndOwner: END_OWNER, chlPresenceRead: READ, chlPresenceBeat: BEAT, chlPresenceRenew: RENEW };
    for (const [name, lua] of Object.entries(scripts)) client.defineCommand(name, { numberOfKeys: 1, lua });
  }
  return client as PresenceRedis;
}
