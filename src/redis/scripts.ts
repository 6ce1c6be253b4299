/**
 * The Lua scripts that give us fewer round trips than channels_redis over the
 * same data layout (docs/redis-wire.md, "What Python does per operation"): each does in one atomic call
 * what Python does in several. Registered with ioredis `defineCommand`, which
 * runs EVALSHA and falls back to EVAL after a Redis restart empties the cache.
 */
import type { Redis } from "ioredis";

/**
 * Renew a key's TTL (ttl.ts) only once a quarter of it has passed: PTTL costs
 * half of a PEXPIRE, and a group send does this for every member's queue. A
 * key with no TTL (-1), or the shorter one a Python sender sets, is renewed.
 */
const TOUCH = `
local function touch(key, ttl)
  if redis.call('PTTL', key) < ttl * 0.75 then redis.call('PEXPIRE', key, ttl) end
end
`;

/**
 * send, for every send a shard got in one tick (sends.ts batches them):
 * per message, purge expired members, count (≥ capacity → refuse), add, set
 * the key's TTL, in order, so capacity counts the batch's earlier members.
 * ARGV: n, cutoff offset (the expiry, s), ttl ms, then (key, member, score,
 * capacity or -1) per message. Returns one digit per message: 1 stored, 0 full.
 */
const SEND = `${TOUCH}
local n = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local out = {}
for i = 0, n - 1 do
  local a = 4 + 4 * i
  local key = ARGV[a]
  redis.call('ZREMRANGEBYSCORE', key, 0, tonumber(ARGV[a + 2]) - expiry)
  local cap = tonumber(ARGV[a + 3])
  if cap >= 0 and redis.call('ZCARD', key) >= cap then
    out[i + 1] = '0'
  else
    redis.call('ZADD', key, ARGV[a + 2], ARGV[a + 1])
    touch(key, ttl)
    out[i + 1] = '1'
  end
end
return table.concat(out)`;

/** group_add: add (or renew) a membership and the group's TTL. */
const GROUP_ADD = `${TOUCH}
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
touch(KEYS[1], tonumber(ARGV[3]))
return 1`;

/** group_send, first half: drop memberships older than groupExpiry, list the rest. */
const GROUP_MEMBERS = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)`;

/**
 * group_send, second half, one call per shard. ARGV: n, n keys, score, cutoff,
 * ttl ms, then one member and one capacity per key. Returns one digit per
 * key (a string: ioredis-mock cannot return a table built in a loop): 0 stored, 1 full
 * (skipped, as Python does), 2 stale: it held a message that expired unread,
 * so the caller drops its channels from the group (docs/semantics.md §4.5) and skips it.
 * Keys travel in ARGV so that ioredis-mock, which cannot take a variable key
 * count, runs the very same script (on a Redis Cluster they share one slot:
 * cluster.ts).
 */
const GROUP_SEND = `${TOUCH}
local n = tonumber(ARGV[1])
local ttl = tonumber(ARGV[n + 4])
local out = {}
for i = 1, n do
  local k = ARGV[1 + i]
  if redis.call('ZREMRANGEBYSCORE', k, 0, ARGV[n + 3]) > 0 then
    out[i] = 2
  else
    local cap = tonumber(ARGV[2 * n + 4 + i])
    if cap >= 0 and redis.call('ZCARD', k) >= cap then
      out[i] = 1
    else
      redis.call('ZADD', k, ARGV[n + 2], ARGV[n + 4 + i])
      touch(k, ttl)
      out[i] = 0
    end
  end
end
return table.concat(out)`;

/**
 * group_send on a single server, in one call: purge and list the group, bundle
 * the members per queue key, and write each key's member, built here from the
 * caller's msgpack head (the message's map with room for one more entry) plus
 * `"__asgi_channel__": [names]` packed by Redis' own cmsgpack (str types, as
 * Python's msgpack reads them). Used when there is one shard, no encryption
 * and one capacity for every channel; otherwise the two halves above run.
 * ARGV: group key, group cutoff, score, cutoff, ttl ms, capacity (-1: none),
 * key prefix, random prefix, msgpack head. Every key's member starts with the
 * same random prefix: a key gets one member per call, and each call draws anew.
 */
const GROUP_SEND_LOCAL = `${TOUCH}
local call, find, sub, char = redis.call, string.find, string.sub, string.char
local gkey, prefix = ARGV[1], ARGV[7]
call('ZREMRANGEBYSCORE', gkey, 0, ARGV[2])
local names = call('ZRANGE', gkey, 0, -1)
local score, cutoff, ttl = ARGV[3], ARGV[4], tonumber(ARGV[5])
local cap = tonumber(ARGV[6])
local head = ARGV[8] .. ARGV[9] .. '\\176__asgi_channel__'
local stale = {}
-- names: the channel name, or a list of them bundled on one process key.
local function write(key, member, names)
  if call('ZREMRANGEBYSCORE', key, 0, cutoff) > 0 then
    if type(names) == 'string' then stale[#stale + 1] = names
    else for _, n in ipairs(names) do stale[#stale + 1] = n end end
  elseif cap < 0 or call('ZCARD', key) < cap then
    call('ZADD', key, score, member)
    touch(key, ttl)
  end
end
local bundles, order = {}, {}
for _, name in ipairs(names) do
  local bang = find(name, '!', 1, true)
  if bang then
    local key = prefix .. sub(name, 1, bang)
    local b = bundles[key]
    if not b then
      b = {}
      bundles[key] = b
      order[#order + 1] = key
    end
    b[#b + 1] = name
  else
    -- A normal channel is a key of its own: its list of one name, packed here (fixarray, then str as cmsgpack writes it).
    local n = #name
    local str = n < 32 and char(160 + n) or n < 256 and ('\\217' .. char(n)) or ('\\218' .. char(math.floor(n / 256), n % 256))
    write(prefix .. name, head .. '\\145' .. str .. name, name)
  end
end
for _, key in ipairs(order) do write(key, head .. cmsgpack.pack(bundles[key]), bundles[key]) end
for i = 1, #stale, 1000 do
  call('ZREM', gkey, unpack(stale, i, math.min(i + 999, #stale)))
end
return #names`;

/**
 * receive, non-blocking half, on a real Redis. ARGV: p, q, f, ttl ms, p keys,
 * p counts, q put-backs as (key, score, member), f keys new to this receiver.
 * Put-backs go first with their original score, so a member popped for a
 * receive that was cancelled is back at the head before anything else is
 * popped. A `$inflight` key some Python receiver left behind on a new key gets
 * a TTL (NX: a live one keeps its own). Returns one ZPOPMIN reply per key.
 */
const POP = `${TOUCH}
local p = tonumber(ARGV[1])
local q = tonumber(ARGV[2])
local f = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local base = 4 + 2 * p
for j = 0, q - 1 do
  local a = base + 3 * j + 1
  redis.call('ZADD', ARGV[a], ARGV[a + 1], ARGV[a + 2])
  touch(ARGV[a], ttl)
end
base = base + 3 * q
for j = 1, f do
  redis.call('PEXPIRE', ARGV[base + j] .. '$inflight', ttl, 'NX')
end
local out = {}
for i = 1, p do
  out[i] = redis.call('ZPOPMIN', ARGV[4 + i], ARGV[4 + p + i])
end
return out`;

/** Whether a server returns nested script replies and has cmsgpack (a real Redis does). */
const PROBE = "return {{1}, cmsgpack.pack({'a'})}";

type Arg = string | number | Buffer;

/** A client with the layer's scripts installed. */
export interface ScriptedRedis extends Redis {
  /** The first argument of chlSend, chlGroupSend, chlGroupSendLocal and chlPop is the routing key (installScripts). */
  chlSend(...args: Arg[]): Promise<string>;
  chlGroupAdd(groupKey: string, channel: string, score: string, ttlMs: number): Promise<number>;
  chlGroupMembers(groupKey: string, cutoff: string): Promise<string[]>;
  chlGroupSend(...args: Arg[]): Promise<string>;
  chlGroupSendLocal(...args: Arg[]): Promise<number>;
  chlPopBuffer(...args: Arg[]): Promise<Array<Array<Buffer>>>;
  chlProbeBuffer(): Promise<unknown>;
}

/**
 * The scripts whose keys travel in ARGV take one key too, KEYS[1], which they
 * never read: the first key of the call. It is what a Redis Cluster client
 * routes the call by (every key of one call shares a slot: cluster.ts); a
 * single server ignores it.
 */
export function installScripts(client: Redis): ScriptedRedis {
  client.defineCommand("chlSend", { numberOfKeys: 1, lua: SEND });
  client.defineCommand("chlGroupAdd", { numberOfKeys: 1, lua: GROUP_ADD });
  client.defineCommand("chlGroupMembers", { numberOfKeys: 1, lua: GROUP_MEMBERS });
  client.defineCommand("chlGroupSend", { numberOfKeys: 1, lua: GROUP_SEND });
  client.defineCommand("chlGroupSendLocal", { numberOfKeys: 1, lua: GROUP_SEND_LOCAL });
  client.defineCommand("chlPop", { numberOfKeys: 1, lua: POP });
  client.defineCommand("chlProbe", { numberOfKeys: 0, lua: PROBE });
  return client as ScriptedRedis;
}

/** Whether `client` runs the full scripts (nested replies, cmsgpack): false on ioredis-mock. */
export async function fullScripting(client: ScriptedRedis): Promise<boolean> {
  // ioredis-mock makes no Buffer variants of defined commands, and its Lua has no cmsgpack.
  if (typeof (client as Partial<ScriptedRedis>).chlProbeBuffer !== "function") return false;
  let reply: unknown;
  try {
    reply = await client.chlProbeBuffer();
  } catch (err) {
    // A script error is an answer (ioredis-mock's Lua); anything else (Redis unreachable) is not.
    if ((err as Error).name === "ReplyError" || /lua/i.test((err as Error).message)) return false;
    throw err;
  }
  return Array.isArray(reply) && Array.isArray(reply[0]) && Buffer.isBuffer(reply[1]) && reply[1].equals(Buffer.from([0x91, 0xa1, 0x61]));
}

/** A score as Redis should store it: full double precision, never exponent notation for our range. */
export function score(seconds: number): string {
  return seconds.toFixed(6);
}
