/**
 * Group history on Redis (docs/recovery.md, "On Redis"; keys in
 * docs/redis-wire.md): per group, a capped stream of what was sent and a hash
 * holding its epoch, both beside channels_redis' keys, never inside them.
 * The stream's entry ids are `<deadline ms>-<offset>`, so one XTRIM MINID drops
 * what outlived the ttl and XADD MAXLEN what is past `size`, both from the
 * oldest end: the offsets kept are always consecutive, and a read after a
 * position is the last `latest - since` entries.
 *
 * Used by both Redis layers: the core layer records in the same script that
 * lists the group's members (so a member joined before the record gets the
 * message live, one joined after finds it in the history), pub/sub records
 * before it publishes.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import type { GroupHistory, HistoryPosition, Message } from "../layer.js";
import { POSITION_KEY, type HistoryRule } from "../options/history.js";
import { NotAMessage } from "../client/not-a-message.js";
import type { Serializer } from "./serializer.js";
import type { Shard } from "./connections.js";

/** Most messages, and bytes of bodies, one read returns (as the broker's, src/protocol/history.ts). */
const MAX_READ = 10_000;
const MAX_READ_BYTES = 4 * 1024 * 1024;

/**
 * `open`: the group's epoch, last offset and last deadline, after starting a
 * new epoch when the history was lost: its stream or epoch hash gone (expired,
 * evicted, flushed), or made by another Redis process (a restart or failover
 * may have lost its last writes, so its offsets could be given out twice). A
 * new epoch's stream is made empty at once, so that "no stream" always means
 * "lost". `trim` drops what outlived the ttl, on Redis' clock.
 */
const LIB = `
local call = redis.call
local function nowMs()
  local t = call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function runId()
  local info = redis.pcall('INFO', 'server')
  if type(info) ~= 'string' then return nil end
  return string.match(info, 'run_id:(%w+)')
end
local NO_RUN_ID = 'NOINFO groupHistory on Redis needs INFO server in its scripts (the run_id tells a restarted Redis, whose history starts a new epoch): allow this Redis user INFO (ACL +info)'
local function open(hk, ek, fresh, keepMs, run)
  local m = call('HMGET', ek, 'e', 'r', 'o', 'd')
  if m[1] and m[2] == run and call('EXISTS', hk) == 1 then return m[1], tonumber(m[3]), tonumber(m[4]) end
  call('DEL', hk)
  call('XADD', hk, 'MAXLEN', '0', '0-1', 'm', '')
  call('HSET', ek, 'e', fresh, 'r', run, 'o', 0, 'd', 0)
  call('PEXPIRE', hk, keepMs)
  call('PEXPIRE', ek, keepMs)
  return fresh, 0, 0
end
local function trim(hk, now)
  call('XTRIM', hk, 'MINID', string.format('%d', now + 1))
end
`;

/**
 * Record a group send. ARGV: stream key, epoch key, a fresh epoch, size, ttl
 * ms, body, the channels left out (",a,b," or ""), then the group key and its
 * membership cutoff, or "" (pub/sub). Returns the epoch, the offset, then the
 * group's members (the core layer's first half of a group send, scripts.ts's
 * GROUP_MEMBERS, in the same atomic call). Both keys live 2 × ttl after the
 * last record: a reader away for less than ttl that missed nothing resumes.
 */
const RECORD = `${LIB}
local hk, ek, ttl = ARGV[1], ARGV[2], tonumber(ARGV[5])
local run = runId()
if not run then return redis.error_reply(NO_RUN_ID) end
local now = nowMs()
local epoch, o, d = open(hk, ek, ARGV[3], ttl, run)
o = o + 1
d = math.max(d, now + ttl)
local id = string.format('%d-%d', d, o)
if ARGV[7] == '' then call('XADD', hk, 'MAXLEN', ARGV[4], id, 'm', ARGV[6])
else call('XADD', hk, 'MAXLEN', ARGV[4], id, 'm', ARGV[6], 'x', ARGV[7]) end
trim(hk, now)
call('HSET', ek, 'o', o, 'd', d)
call('PEXPIRE', hk, 2 * ttl)
call('PEXPIRE', ek, 2 * ttl)
local out = {epoch, o}
if ARGV[8] ~= '' then
  call('ZREMRANGEBYSCORE', ARGV[8], 0, ARGV[9])
  for _, name in ipairs(call('ZRANGE', ARGV[8], 0, -1)) do out[#out + 1] = name end
end
return out`;

/**
 * Read a group's history. ARGV: stream key, epoch key, a fresh epoch, ttl ms,
 * since's epoch and offset ("" for no since), limit, most bytes, the
 * reader's channel ("" for none: a message sent with it in \`except\` is left
 * out). Returns epoch, latest offset, recovered (0/1), then (offset, body)
 * pairs oldest first. With since: all that follow it or none. Keeps the keys
 * at least ttl more, as a read of the engine's ring does.
 */
const READ = `${LIB}
local hk, ek, ttl = ARGV[1], ARGV[2], tonumber(ARGV[4])
local run = runId()
if not run then return redis.error_reply(NO_RUN_ID) end
local now = nowMs()
local epoch, latest = open(hk, ek, ARGV[3], ttl, run)
trim(hk, now)
if call('PTTL', ek) < ttl then
  call('PEXPIRE', hk, ttl)
  call('PEXPIRE', ek, ttl)
end
local resume, limit, most, reader = ARGV[6] ~= '', tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9]
local out = {epoch, latest, 0}
local n = limit
if resume then
  local from = tonumber(ARGV[6])
  if ARGV[5] ~= epoch or from > latest or latest - from > limit then return out end
  n = latest - from
  if n == 0 then
    out[3] = 1
    return out
  end
end
local entries = call('XREVRANGE', hk, '+', '-', 'COUNT', n)
if resume and #entries < n then return out end
local last, bytes = #entries, 0
for i, e in ipairs(entries) do
  bytes = bytes + #e[2][2]
  if bytes > most then
    if resume then return out end
    last = i - 1
    break
  end
end
if resume then out[3] = 1 end
local mark = ',' .. reader .. ','
for i = last, 1, -1 do
  local e = entries[i]
  local f = e[2]
  if reader == '' or f[4] == nil or not string.find(f[4], mark, 1, true) then
    out[#out + 1] = tonumber(string.match(e[1], '-(%d+)$'))
    out[#out + 1] = f[2]
  end
end
return out`;

type Arg = string | number | Buffer;

interface HistoryRedis extends Redis {
  chlHistoryRecord(...args: Arg[]): Promise<[string, number, ...string[]]>;
  chlHistoryReadBuffer(...args: Arg[]): Promise<[Buffer, number, number, ...Array<number | Buffer>]>;
}

/** The client with the history scripts defined (on first use: most layers never need them). */
function scripted(client: Redis): HistoryRedis {
  const c = client as HistoryRedis;
  if (typeof c.chlHistoryRecord !== "function") {
    // The first argument is the routing key: a Redis Cluster client sends the call to its slot.
    client.defineCommand("chlHistoryRecord", { numberOfKeys: 1, lua: RECORD });
    client.defineCommand("chlHistoryRead", { numberOfKeys: 1, lua: READ });
  }
  return c;
}

/** A group's two history keys, on the server (and in the slot) of what its group send's script touches. */
export interface HistoryKeys {
  stream: string;
  epoch: string;
}

/** What a record returns: the message's position and, for the core layer, the group's members. */
export interface Recorded {
  position: HistoryPosition;
  members: string[];
}

const newEpoch = (): string => randomBytes(8).toString("hex");

/** The channels a send left out as the stream keeps them: `,a,b,` (no channel name has a comma). */
function exceptField(except: ReadonlySet<string> | undefined): string {
  return except === undefined || except.size === 0 ? "" : `,${[...except].join(",")},`;
}

/**
 * Record `body` (a member's bytes without its position) in `keys`' history;
 * with `group`, also purge and list its members in the same call.
 */
export async function recordHistory(
  client: Redis,
  keys: HistoryKeys,
  rule: HistoryRule,
  body: Buffer,
  except: ReadonlySet<string> | undefined,
  group?: { key: string; cutoff: string },
): Promise<Recorded> {
  const [epoch, offset, ...members] = await scripted(client).chlHistoryRecord(
    keys.stream, keys.stream, keys.epoch, newEpoch(), rule.size, Math.ceil(rule.ttlMs), body, exceptField(except), group?.key ?? "", group?.cutoff ?? "",
  );
  return { position: { epoch, offset }, members };
}

/**
 * Read `keys`' history after `since` (docs/recovery.md, "Reading history"),
 * at most `limit` messages (and MAX_READ, MAX_READ_BYTES of bodies), leaving
 * out those sent with `reader` in `except`. Bodies are decoded with `ttlSeconds`
 * of token lifetime (an encrypted one is as old as the history keeps it).
 */
export async function readHistory(
  client: Redis,
  keys: HistoryKeys,
  rule: HistoryRule,
  serializer: Serializer,
  since: HistoryPosition | undefined,
  limit: number,
  reader: string | undefined,
): Promise<GroupHistory> {
  const [epochBytes, latest, recovered, ...pairs] = await scripted(client).chlHistoryReadBuffer(
    keys.stream, keys.stream, keys.epoch, newEpoch(), Math.ceil(rule.ttlMs),
    since?.epoch ?? "", since?.offset ?? "", Math.min(limit, MAX_READ), MAX_READ_BYTES, reader ?? "",
  );
  const epoch = epochBytes.toString();
  const messages: GroupHistory["messages"] = [];
  for (let i = 0; i < pairs.length; i += 2) {
    const position = { epoch, offset: pairs[i] as number };
    const message = serializer.decode(pairs[i + 1] as Buffer, rule.ttlMs / 1000 + 10);
    // A body no longer readable (a retired encryption key): the read cannot be whole.
    if (message instanceof NotAMessage) return { messages: [], position: { epoch, offset: latest }, recovered: false };
    messages.push({ position, message: stamp(message, position) });
  }
  return { messages, position: { epoch, offset: latest }, recovered: recovered === 1 };
}

/** `message` carrying `position` (a sender's own `__position__` is replaced). */
export function stamp(message: Message, position: HistoryPosition): Message {
  return { ...message, [POSITION_KEY]: { epoch: position.epoch, offset: position.offset } };
}

/** Rejects unless `shard` runs the history scripts (streams, INFO and TIME in Lua): a real Redis, not ioredis-mock. */
export async function assertHistoryScripts(shard: Shard): Promise<void> {
  let full: boolean;
  try {
    full = await shard.full();
  } catch (err) {
    throw shard.fail(err);
  }
  if (!full) throw new TypeError("groupHistory needs a real Redis server (6.2 or later): this client cannot run its scripts");
}
