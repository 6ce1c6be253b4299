/**
 * One attack from the attack table (docs/security.md), run in its own process against the
 * broker on 127.0.0.1:PORT until killed: `node --import tsx
 * bench/abuse-attacker.ts ATTACK PORT`. Prints "ready" once it is under way.
 * Every loop is bounded in count; the bench kills it after its run.
 */
import { createConnection, type Socket } from "node:net";
import { RemoteChannelLayer } from "../src/index.js";
import { encodeFrames } from "../src/protocol/frames.js";
import { instanceIdOf } from "../src/protocol/identity.js";
import { Op, PROTOCOL_VERSION } from "../src/protocol/ops.js";

type Attack = "amplification" | "silent-sockets" | "slowloris" | "stats-top" | "filling" | "deaf-readers" | "fan-out" | "cache-filling";

const [attack, portText] = process.argv.slice(2) as [Attack, string];
const port = Number(portText);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const frames = (...f: unknown[][]): Buffer => encodeFrames(f);

function connect(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: "127.0.0.1", port });
    s.on("error", () => {});
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

async function hello(id: string): Promise<Socket> {
  const s = await connect();
  s.write(frames([Op.Hello, 1, PROTOCOL_VERSION, instanceIdOf(id), null, id])); // id: the instance's secret
  return s;
}

const stormOf = (n: number, top: number): Buffer => {
  const f: unknown[][] = [];
  for (let i = 0; i < n; i++) f.push([Op.Stats, 10 + i, top]);
  return frames(...f);
};

const attacks: Record<Attack, () => Promise<void>> = {
  async amplification() {
    const s = await hello("amplifier");
    const setup: unknown[][] = [];
    for (let i = 0; i < 100; i++) {
      setup.push([Op.Send, 2 + 2 * i, `c.${i}.`.padEnd(99, "x"), Buffer.from([0x80])]);
      setup.push([Op.GroupAdd, 3 + 2 * i, `g.${i}.`.padEnd(99, "x"), `m.${i}.`.padEnd(99, "x")]);
    }
    s.write(frames(...setup));
    s.pause();
    s.write(stormOf(100_000, 100));
  },
  async "silent-sockets"() {
    // Renewed as the broker closes them after its hello deadline.
    const keep = async (): Promise<void> => {
      for (let round = 0; round < 1000; round++) {
        const s = await connect().catch(() => undefined);
        if (s === undefined) return;
        await new Promise<void>((r) => s.once("close", () => r()));
      }
    };
    for (let i = 0; i < 2000; i++) void keep();
    await sleep(500);
  },
  async slowloris() {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(1024 * 1024);
    const holders: Socket[] = [];
    for (let i = 0; i < 400; i++) {
      const s = await hello(`loris${i}`);
      s.write(Buffer.concat([head, Buffer.alloc(1000 * 1024, 0x90)]));
      holders.push(s);
    }
    void (async () => {
      for (let round = 0; round < 100_000; round++) {
        for (const s of holders) s.write(Buffer.from([0x90]));
        await sleep(1);
      }
    })();
  },
  async "stats-top"() {
    const s = await hello("filler");
    s.resume(); // reads (and drops) its answers: one that does not read is held by its output budget
    let id = 2;
    for (let batch = 0; batch < 50; batch++) {
      const f: unknown[][] = [];
      for (let i = 0; i < 20_000; i++) f.push([Op.GroupAdd, id++, `g${batch}.${i}`, `c${batch}.${i}`]);
      s.write(frames(...f));
    }
    await sleep(5000); // 1M groups land
    void (async () => {
      for (let i = 0; i < 1_000_000; i++) {
        s.write(frames([Op.Stats, id++, 99 + (i % 2)]));
        await sleep(1);
      }
    })();
  },
  async filling() {
    const layer = new RemoteChannelLayer(`tcp://127.0.0.1:${port}`);
    const blob = "x".repeat(1000);
    for (let c = 0; c < 100_000; c++) {
      const sends: Array<Promise<void>> = [];
      for (let m = 0; m < 100; m++) sends.push(layer.send(`fill.${c}`, { type: "f", blob }));
      const r = await Promise.allSettled(sends);
      if (r.some((x) => x.status === "rejected")) break; // the broker is full
    }
    void (async () => {
      for (let i = 0; i < 1_000_000; i++) await layer.send(`fill.more.${i}`, { type: "f", blob }).catch(() => sleep(1));
    })();
  },
  async "deaf-readers"() {
    const storm = stormOf(20_000, 100);
    for (let i = 0; i < 20; i++) {
      const s = await hello(`deaf${i}`);
      s.pause();
      for (let round = 0; round < 5; round++) s.write(storm);
    }
  },
  async "fan-out"() {
    // A 50k-member group, then frames of 200 group sends to it, one after another.
    const s = await hello("fanner");
    s.resume();
    let id = 2;
    for (let i = 0; i < 50_000; i += 5000) {
      const adds: unknown[][] = [];
      for (let j = i; j < i + 5000; j++) adds.push([Op.GroupAdd, id++, "everyone", `member.${j}`]);
      s.write(frames(...adds));
    }
    await sleep(1000);
    const body = Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa1, 0x78]); // {type: "x"}
    void (async () => {
      for (let round = 0; round < 1000; round++) {
        const f: unknown[][] = [];
        for (let i = 0; i < 200; i++) f.push([Op.GroupSend, id++, "everyone", body]);
        if (!s.write(frames(...f))) await new Promise((r) => s.once("drain", r));
        await sleep(100);
      }
    })();
  },
  async "cache-filling"() {
    // The shortest keys the broker takes and one-byte replies: what costs most per counted byte.
    const s = await hello("cacher");
    s.resume();
    const body = Buffer.from([0xc0]);
    void (async () => {
      for (let sent = 0; sent < 20_000_000; ) {
        const f: unknown[][] = [];
        for (let i = 0; i < 5000; i++, sent++) f.push([Op.CacheSet, sent + 2, `s:${sent.toString(36)}`, body, 3_600_000]);
        if (!s.write(frames(...f))) await new Promise((r) => s.once("drain", r));
      }
    })();
  },
};

if (!Object.hasOwn(attacks, attack)) throw new Error(`unknown attack "${attack}"; known: ${Object.keys(attacks).join(", ")}`);
await attacks[attack]();
console.log("ready");
