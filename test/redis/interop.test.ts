/**
 * Interoperability with the real Python channels_redis (Debian's
 * python3-channels-redis): both sides on one Redis, each reading what the
 * other wrote. These fail, not skip, without Python or Redis.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ChannelFullError, type Message } from "../../src/index.js";
import { RedisChannelLayer, type RedisLayerOptions } from "../../src/redis/layer.js";
import { consistentHash } from "../../src/redis/sharding.js";
import { cleanPrefix, dbUrl, keysUnder, REDIS_URL, testPrefix } from "./helpers.js";
import { VALUES, expectValues } from "./interop-values.js";
import { PythonPeer, toTagged, type PeerConfig } from "./python-peer.js";
import { needs } from "../services.js";

await needs("redis", "python");

const open: Array<{ close(): Promise<void> }> = [];
const prefixes: Array<[string, string[]]> = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
  for (const [prefix, urls] of prefixes.splice(0)) await cleanPrefix(prefix, urls);
});

async function pair(options: Partial<PeerConfig> & { node?: RedisLayerOptions } = {}): Promise<{ node: RedisChannelLayer; py: PythonPeer; prefix: string }> {
  const prefix = testPrefix();
  const hosts = options.hosts ?? [REDIS_URL];
  prefixes.push([prefix, hosts]);
  const { node: nodeOptions, ...peerOptions } = options;
  const py = await PythonPeer.start({ hosts, prefix, ...peerOptions });
  open.push(py);
  const node = new RedisChannelLayer({
    hosts,
    prefix,
    expiry: options.expiry,
    capacity: options.capacity,
    channelCapacity: options.channel_capacity,
    symmetricEncryptionKeys: options.symmetric_encryption_keys,
    ...nodeOptions,
  });
  open.push(node);
  return { node, py, prefix };
}

describe("interop with Python channels_redis", () => {
  it("Python sends on a normal channel and Node receives every value type", async () => {
    const { node, py } = await pair();
    await py.send("interop.normal", VALUES);
    expectValues(await node.receive("interop.normal"));
  });

  it("Node sends on a normal channel and Python receives every value type", async () => {
    const { node, py } = await pair();
    await node.send("interop.normal", VALUES);
    expectValues(await py.receive("interop.normal"));
  });

  it("Python sends to Node's process-specific channels, several behind one key", async () => {
    const { node, py } = await pair();
    const a = await node.newChannel();
    const b = await node.newChannel();
    await py.send(a, { type: "to.a", n: 1 });
    await py.send(b, { type: "to.b", n: 2 });
    await py.send(a, { type: "to.a", n: 3 });
    expect(await node.receive(b)).toEqual({ type: "to.b", n: 2 });
    expect(await node.receive(a)).toEqual({ type: "to.a", n: 1 });
    expect(await node.receive(a)).toEqual({ type: "to.a", n: 3 });
  });

  it("Node sends to Python's process-specific channel and Python receives it", async () => {
    const { node, py } = await pair();
    const ch = await py.newChannel();
    expect(ch).toContain(`.${py.clientPrefix}!`);
    await node.send(ch, VALUES);
    expectValues(await py.receive(ch));
  });

  it("writes members byte for byte as Python does, apart from the random prefix", async () => {
    const { node, py, prefix } = await pair();
    // Positive integers past 32 bits are the one difference: msgpackr writes int64 where
    // Python writes uint64; each side reads the other's (the value tests above prove it).
    const message: Message = { type: "bytes.check", a: [1, 2, { b: null }], s: "ü", neg: -(2n ** 40n), f: 0.5, raw: new Uint8Array([9]) };
    await node.send("interop.bytes", message);
    const [key] = await keysUnder(prefix);
    expect(key).toBe(`${prefix}interop.bytes`);
    const { Redis } = await import("ioredis");
    const raw = new Redis(REDIS_URL);
    const [member] = await raw.zrangeBuffer(key!, 0, -1);
    raw.disconnect();
    const made = (await py.call("serialize", { message: toTagged(message) })) as { $bytes: string };
    const pythonBytes = Buffer.from(made.$bytes, "base64");
    expect(member!.length).toBe(pythonBytes.length);
    expect(member!.subarray(12).toString("hex")).toBe(pythonBytes.subarray(12).toString("hex"));
  });

  it("groups mix Python and Node members: a group send from either side reaches all", async () => {
    const { node, py } = await pair();
    const group = "mixed";
    const nodeA = await node.newChannel();
    const nodeB = await node.newChannel();
    const pyCh = await py.newChannel();
    for (const ch of [nodeA, nodeB, pyCh, "mixed.worker"]) await node.groupAdd(group, ch);
    await py.groupAdd(group, "mixed.worker2");

    await node.groupSend(group, { type: "from.node", v: VALUES.nested! });
    expect(await node.receive(nodeA)).toEqual({ type: "from.node", v: VALUES.nested });
    expect(await node.receive(nodeB)).toEqual({ type: "from.node", v: VALUES.nested });
    expect(await py.receive(pyCh)).toEqual({ type: "from.node", v: VALUES.nested });
    expect((await py.receive("mixed.worker")).type).toBe("from.node");
    expect((await node.receive("mixed.worker2")).type).toBe("from.node");

    await py.groupSend(group, { type: "from.python", big: { $int: "4611686018427387904" } } as unknown as Message);
    expect(await node.receive(nodeA)).toEqual({ type: "from.python", big: 2n ** 62n });
    expect(await node.receive(nodeB)).toEqual({ type: "from.python", big: 2n ** 62n });
    expect(await py.receive(pyCh)).toEqual({ type: "from.python", big: 2n ** 62n });
    expect((await node.receive("mixed.worker")).type).toBe("from.python");
    expect((await py.receive("mixed.worker2")).type).toBe("from.python");
  });

  it("encrypted on both sides: each decrypts the other's members, old keys still decrypt", async () => {
    const { node, py } = await pair({ symmetric_encryption_keys: ["new secret", "old secret"] });
    await py.send("enc.py", VALUES);
    expectValues(await node.receive("enc.py"));
    await node.send("enc.node", VALUES);
    expectValues(await py.receive("enc.node"));
    const group = "encgroup";
    const mine = await node.newChannel();
    await py.groupAdd(group, mine);
    await py.groupSend(group, { type: "enc.group" });
    expect(await node.receive(mine)).toEqual({ type: "enc.group" });

    // A Node layer that only knows the old key reads nothing Python encrypts with the new one: that receive fails (as Python's would)…
    const prefix = prefixes.at(-1)![0];
    const oldOnly = new RedisChannelLayer({ hosts: [REDIS_URL], prefix, symmetricEncryptionKeys: ["old secret"] });
    open.push(oldOnly);
    await py.send("enc.rotated", { type: "lost" });
    await expect(oldOnly.receive("enc.rotated", { signal: AbortSignal.timeout(3000) })).rejects.toMatchObject({ name: "InvalidMessageError" });
    expect(oldOnly.droppedMembers).toBe(1);
    // …while a Python layer rotated to [newer, old] reads what old-key Node writes.
    const rotated = await PythonPeer.start({ hosts: [REDIS_URL], prefix, symmetric_encryption_keys: ["newer", "old secret"] });
    open.push(rotated);
    await oldOnly.send("enc.back", { type: "old.key" });
    expect(await rotated.receive("enc.back")).toEqual({ type: "old.key" });
  });

  it("capacity is counted the same way, process-specific channels on their shared key", async () => {
    const { node, py } = await pair({ capacity: 3 });
    for (let i = 0; i < 3; i++) await py.send("cap.normal", { type: "fill", i });
    await expect(node.send("cap.normal", { type: "over" })).rejects.toBeInstanceOf(ChannelFullError);
    await node.receive("cap.normal");
    await node.send("cap.normal", { type: "room" });
    // Nothing popped ahead sits outside Redis uncounted (SPEC §4.10): full again at once, for Python too.
    await expect(py.send("cap.normal", { type: "over" })).rejects.toMatchObject({ python: "ChannelFull" });

    const a = await node.newChannel();
    const b = await node.newChannel();
    await py.send(a, { type: "a1" });
    await py.send(a, { type: "a2" });
    await node.send(b, { type: "b1" });
    // Three messages on the shared key: both sides refuse a fourth to any channel of that process.
    await expect(node.send(b, { type: "b2" })).rejects.toBeInstanceOf(ChannelFullError);
    await expect(py.send(a, { type: "a3" })).rejects.toMatchObject({ python: "ChannelFull" });
  });

  it("several Redis databases as shards: both sides put every key on the same shard", async () => {
    const hosts = [dbUrl(10), dbUrl(11), dbUrl(12)];
    const { node, py, prefix } = await pair({ hosts });
    for (const name of ["key_one", "key_two", "chat", "room-42", "specific.abc!"]) {
      expect(await py.call("consistent_hash", { value: name })).toBe(consistentHash(name, 3));
    }
    const groups = ["room-a", "room-b", "room-c", "room-d"];
    const mine = await node.newChannel();
    const theirs = await py.newChannel();
    for (const g of groups) {
      await node.groupAdd(g, mine);
      await py.groupAdd(g, theirs);
    }
    for (const g of groups) {
      const shard = consistentHash(g, 3);
      expect(await keysUnder(`${prefix}:group:${g}`, hosts[shard])).toEqual([`${prefix}:group:${g}`]);
    }
    for (const g of groups) {
      await py.groupSend(g, { type: "py", g });
      await node.groupSend(g, { type: "node", g });
    }
    for (const g of groups) {
      expect(await node.receive(mine)).toEqual({ type: "py", g });
      expect(await node.receive(mine)).toEqual({ type: "node", g });
      expect(await py.receive(theirs)).toEqual({ type: "py", g });
      expect(await py.receive(theirs)).toEqual({ type: "node", g });
    }
    // Direct sends to process-specific channels, both ways, across shards.
    await node.send(theirs, { type: "direct.node" });
    expect(await py.receive(theirs)).toEqual({ type: "direct.node" });
    await py.send(mine, { type: "direct.py" });
    expect(await node.receive(mine)).toEqual({ type: "direct.py" });
    // Normal channels: Python round-robins sends over the shards; Node watches them all.
    for (let i = 0; i < 3; i++) await py.send("rr.normal", { type: "rr", i });
    const got = await Promise.all([0, 1, 2].map(() => node.receive("rr.normal")));
    expect(got.map((m) => m.i).sort()).toEqual([0, 1, 2]);
  });
});
