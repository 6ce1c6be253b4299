/**
 * The Lua scripts that give us fewer round trips than channels_redis over the
 * same data layout (REDIS-WIRE.md, "Operations"): each does in one atomic call
 * what Python does in several. Registered with ioredis `defineCommand`, which
 * runs EVALSHA and falls back to EVAL after a Redis restart empties the cache.
 */
import type { Redis } from "ioredis";

/** send: purge expired, count (≥ capacity → refuse), add, set the key's TTL. */
const SEND = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[3])
local cap = tonumber(ARGV[4])
if cap >= 0 and redis.call('ZCARD', KEYS[1]) >= cap then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

/** group_add: add (or renew) a membership and the group's TTL. */
const GROUP_ADD = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

/** group_send, first half: drop memberships older than groupExpiry, list the rest. */
const GROUP_MEMBERS = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)`;

/**
 * group_send, second half, one call per shard. ARGV: n, n keys, score, cutoff,
 * ttl ms, then one member and one capacity per key. Per key: 0 stored, 1 full
 * (skipped, as Python does), 2 stale: it held a message that expired unread,
 * so the caller drops its channels from the group (SPEC §4.5) and skips it.
 * Keys travel in ARGV (fine outside Redis Cluster, which channels_redis does
 * not support either) so that ioredis-mock, which cannot take a variable key
 * count, runs the very same script.
 */
const GROUP_SEND = `
local n = tonumber(ARGV[1])
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
      redis.call('PEXPIRE', k, ARGV[n + 4])
      out[i] = 0
    end
  end
end
return out`;

type Arg = string | number | Buffer;

/** A client with the layer's scripts installed. */
export interface ScriptedRedis extends Redis {
  chlSend(key: string, member: Buffer, score: string, cutoff: string, capacity: number, ttlMs: number): Promise<number>;
  chlGroupAdd(groupKey: string, channel: string, score: string, ttlMs: number): Promise<number>;
  chlGroupMembers(groupKey: string, cutoff: string): Promise<string[]>;
  chlGroupSend(...args: Arg[]): Promise<number[]>;
}

export function installScripts(client: Redis): ScriptedRedis {
  client.defineCommand("chlSend", { numberOfKeys: 1, lua: SEND });
  client.defineCommand("chlGroupAdd", { numberOfKeys: 1, lua: GROUP_ADD });
  client.defineCommand("chlGroupMembers", { numberOfKeys: 1, lua: GROUP_MEMBERS });
  client.defineCommand("chlGroupSend", { numberOfKeys: 0, lua: GROUP_SEND });
  return client as ScriptedRedis;
}

/** A score as Redis should store it: full double precision, never exponent notation for our range. */
export function score(seconds: number): string {
  return seconds.toFixed(6);
}
