/**
 * Golden vectors of the channels_redis wire format (REDIS-WIRE.md): msgpack
 * bytes, crc32 shards, Fernet tokens made by Python's `cryptography`.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { decodeMessage, encodeMessage } from "../../src/dependencies/msgpack.js";
import { NotAMessage } from "../../src/client/not-a-message.js";
import { InvalidTokenError, MultiFernet } from "../../src/redis/fernet.js";
import { Serializer } from "../../src/redis/serializer.js";
import { consistentHash, crc32ForTest } from "../../src/redis/sharding.js";
import { PYTHON } from "./python-peer.js";
import { needs } from "../services.js";

await needs("python");

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex").replace(/(..)(?!$)/g, "$1 ");

describe("member bytes", () => {
  it("packs the golden message exactly as Python's msgpack does", () => {
    expect(hex(encodeMessage({ a: true, b: null, c: { d: [] } } as never))).toBe("83 a1 61 c3 a1 62 c0 a1 63 81 a1 64 90");
  });

  it("reads a member with the golden 12-byte prefix back to the same object", () => {
    const member = Buffer.from("510cbb3f51bce37c44fd390083a161c3a162c0a16381a16490", "hex");
    expect(decodeMessage(member.subarray(12))).toEqual({ a: true, b: null, c: { d: [] } });
    // It has no "type": read through the layer's serializer it is no message (its receive fails).
    expect(new Serializer(undefined, 70).decode(member)).toMatchObject({ reason: 'it decoded to a map without a string "type", not a message' });
    const typed = Buffer.concat([member.subarray(0, 12), encodeMessage({ type: "t", a: true, b: null, c: { d: [] } })]);
    expect(new Serializer(undefined, 70).decode(typed)).toEqual({ type: "t", a: true, b: null, c: { d: [] } });
  });

  it("puts a fresh random prefix of the configured length before the msgpack", () => {
    const s = new Serializer(undefined, 70);
    const a = s.encode({ type: "t" });
    const b = s.encode({ type: "t" });
    expect(a.subarray(12)).toEqual(encodeMessage({ type: "t" }));
    expect(a.subarray(0, 12).equals(b.subarray(0, 12))).toBe(false);
    expect(new Serializer(undefined, 70, 16).encode({ type: "t" }).length).toBe(16 + encodeMessage({ type: "t" }).length);
  });

  it("builds the head a group script appends __asgi_channel__ to, for small and wide maps", () => {
    const s = new Serializer(undefined, 70);
    const small = { type: "t", x: 1 };
    const tail = Buffer.concat([Buffer.from([0xb0]), Buffer.from("__asgi_channel__"), Buffer.from([0x91, 0xa1, 0x63])]);
    expect(s.decode(Buffer.concat([Buffer.alloc(12), s.encodeHead(small), tail]))).toEqual({ ...small, __asgi_channel__: ["c"] });
    const wide: Record<string, unknown> = { type: "t" };
    for (let i = 0; i < 15; i++) wide[`k${i}`] = i; // 16 keys: the 17th needs a map16 header
    expect(s.decode(Buffer.concat([Buffer.alloc(12), s.encodeHead(wide as never), tail]))).toEqual({ ...wide, __asgi_channel__: ["c"] });
  });

  it("refuses bytes that are not a message", () => {
    const s = new Serializer(undefined, 70);
    expect(s.decode(Buffer.concat([Buffer.alloc(12), encodeMessage([1, 2] as never)]))).toBeInstanceOf(NotAMessage);
    expect(s.decode(Buffer.concat([Buffer.alloc(12), Buffer.from([0xd6, 0xff, 0, 0, 0, 1])]))).toMatchObject({ reason: "it decoded to a Date, not a message (a map)" });
  });
});

describe("sharding", () => {
  it("hashes the golden vectors onto the same shards as channels_redis", () => {
    expect(crc32ForTest.zlib("key_one") >>> 0).toBe(0xae659b21);
    expect(crc32ForTest.table("key_two")).toBe(0xc5c397b6);
    expect(consistentHash("key_one", 2)).toBe(1);
    expect(consistentHash("key_one", 10)).toBe(6);
    expect(consistentHash("key_two", 2)).toBe(0);
    expect(consistentHash("key_two", 10)).toBe(4);
    expect(consistentHash("anything", 1)).toBe(0);
  });

  it("agrees with Python's _consistent_hash for many names and ring sizes (float division)", () => {
    const names = Array.from({ length: 200 }, (_, i) => `name-${i}-ü`);
    const sizes = [2, 3, 5, 6, 7, 10, 13];
    const script = `import json,sys\nfrom channels_redis.utils import _consistent_hash\nnames,sizes=json.loads(sys.argv[1])\nprint(json.dumps([[_consistent_hash(n,s) for s in sizes] for n in names]))`;
    const python = JSON.parse(execFileSync(PYTHON, ["-c", script, JSON.stringify([names, sizes])]).toString()) as number[][];
    expect(names.map((n) => sizes.map((s) => consistentHash(n, s)))).toEqual(python);
  });
});

describe("Fernet", () => {
  // Made by Python's cryptography with channels_redis' key derivation (sha256 of "golden secret").
  const TOKEN = "gAAAAABrA68OXzsZjlCp6ZDA2rXS6tIWHqKte-eiUwYyw4HE2wEOhDBSUHaR6veKRZNSINPxcR3w20-XTllbOrew3wyRvl1kgbR1HaIJizVPDBcKovusSWg=";
  const STAMP = 1795403534;

  it("decrypts a token Python made", () => {
    const plain = new MultiFernet(["golden secret"]).decrypt(Buffer.from(TOKEN), 70, STAMP + 5);
    expect(new Serializer(undefined, 70).decode(Buffer.concat([Buffer.alloc(12), plain]))).toEqual({ type: "golden", n: 1, b: Buffer.from([0, 255]) });
  });

  it("refuses a token past its TTL, from the future, with a wrong key, or tampered with", () => {
    const f = new MultiFernet(["golden secret"]);
    expect(() => f.decrypt(Buffer.from(TOKEN), 70, STAMP + 71)).toThrow(InvalidTokenError);
    expect(() => f.decrypt(Buffer.from(TOKEN), 70, STAMP - 61)).toThrow(/future/);
    expect(() => new MultiFernet(["other"]).decrypt(Buffer.from(TOKEN), 70, STAMP)).toThrow(/no key/);
    const raw = Buffer.from(TOKEN, "base64url");
    raw[30] = raw[30]! ^ 1;
    expect(() => f.decrypt(Buffer.from(raw.toString("base64url")), 70, STAMP)).toThrow(InvalidTokenError);
  });

  it("tries every key, so a rotated list still reads old tokens", () => {
    expect(() => new MultiFernet(["new", "golden secret"]).decrypt(Buffer.from(TOKEN), undefined, STAMP)).not.toThrow();
  });

  it("writes tokens Python's cryptography decrypts, and reads one Python makes now", () => {
    const s = new Serializer(["k1"], 70);
    const member = s.encode({ type: "to.python", n: 5 });
    const script = `import sys,base64,hashlib,msgpack\nfrom cryptography.fernet import Fernet\nf=Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"k1").digest()))\nprint(msgpack.unpackb(f.decrypt(sys.stdin.buffer.read()[12:], 70)))\nsys.stdout.write(f.encrypt(msgpack.packb({"type": "to.node"})).decode())`;
    const out = execFileSync(PYTHON, ["-c", script], { input: member }).toString().split("\n");
    expect(out[0]).toBe("{'type': 'to.python', 'n': 5}");
    expect(s.decode(Buffer.concat([Buffer.alloc(12), Buffer.from(out[1]!)]))).toEqual({ type: "to.node" });
  });

  it("needs a list of keys", () => {
    expect(() => new MultiFernet([])).toThrow(/non-empty array/);
    expect(() => new MultiFernet("key" as never)).toThrow(/non-empty array/);
  });
});
