/**
 * Fuzzing the broker: whatever bytes or frames a client sends, the broker
 * never crashes, and a well-behaved client on the same broker keeps working.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RemoteChannelLayer, type BrokerServer } from "../../src/index.js";
import { encodeFrames } from "../../src/protocol/frames.js";
import { Op } from "../../src/protocol/ops.js";
import { sleep } from "../conformance/helpers.js";
import { hello, rawClient, startBroker, type RawClient } from "./helpers.js";

const RUNS = 60;

describe("fuzzing the broker", () => {
  let broker: { server: BrokerServer; url: string };
  let good: RemoteChannelLayer;
  let round = 0;

  beforeAll(async () => {
    broker = await startBroker({ maxFrameBytes: 64 * 1024 });
    good = new RemoteChannelLayer(broker.url);
  });
  afterAll(async () => {
    await good.close();
    await broker.server.close();
  });

  /** The well-behaved client still gets every message, in order. */
  async function goodClientWorks(): Promise<void> {
    const ch = `good.${round++}`;
    await good.send(ch, { type: "a", round });
    await good.groupAdd("good-group", ch);
    await good.groupSend("good-group", { type: "b" });
    expect((await good.receive(ch)).type).toBe("a");
    expect((await good.receive(ch)).type).toBe("b");
    await good.groupDiscard("good-group", ch);
  }

  /** Send `bytes` on a new connection, let the broker chew, check the good client, hang up. */
  async function attack(write: (raw: RawClient) => void): Promise<void> {
    const raw = rawClient(broker.url);
    try {
      write(raw);
      await sleep(1);
      await goodClientWorks();
    } finally {
      raw.socket.destroy();
      await raw.closed;
    }
  }

  // Flush is a request any client may make, and it would empty the good client's
  // channels in the middle of its check; everything else goes.
  const notFlush = (frame: unknown): boolean => !(Array.isArray(frame) && frame[0] === Op.Flush);
  const helloAs = (id = 1): unknown[] => hello("fuzz" + (round % 7), null, id);
  const frame = fc.oneof(
    fc.array(fc.anything(), { maxLength: 6 }),
    fc.tuple(fc.integer({ min: -2, max: 14 }), fc.oneof(fc.integer(), fc.anything()), fc.anything(), fc.anything(), fc.anything()),
    fc.tuple(fc.constantFrom(Op.Send, Op.GroupSend, Op.Requeue), fc.nat({ max: 5 }), fc.string({ maxLength: 8 }), fc.uint8Array({ maxLength: 32 }), fc.double()),
    fc.anything(),
  ).filter(notFlush);

  it("random bytes", async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), (bytes) => attack((raw) => raw.socket.write(bytes))), { numRuns: RUNS });
  });

  it("random frames before and after hello, including duplicate ids and unknown ops", async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(frame, { maxLength: 12 }), (greet, frames) =>
        attack((raw) => raw.socket.write(encodeFrames(greet ? [helloAs(), ...frames] : frames))),
      ),
      { numRuns: RUNS * 2 },
    );
  });

  it("stream frames whose body is not an array of frames", async () => {
    await fc.assert(
      fc.asyncProperty(fc.anything(), (value) =>
        attack((raw) => {
          const body = encodeFrames([value]).subarray(4);
          // Strip the array wrapper: the body is the bare value.
          const bare = Buffer.from(body.subarray(1));
          const header = Buffer.alloc(4);
          header.writeUInt32BE(bare.length);
          raw.socket.write(Buffer.concat([header, bare]));
        }),
      ),
      { numRuns: RUNS },
    );
  });

  it("truncated frames and huge length prefixes", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 5 }), fc.nat(), fc.integer({ min: 64 * 1024 + 1, max: 0xffff_ffff }), (frames, cut, huge) =>
        attack((raw) => {
          const bytes = encodeFrames([helloAs(), ...frames]);
          raw.socket.write(bytes.subarray(0, cut % bytes.length));
          const header = Buffer.alloc(4);
          header.writeUInt32BE(huge);
          if (cut % 2 === 0) raw.socket.write(header);
        }),
      ),
      { numRuns: RUNS },
    );
  });

  it("duplicate receive ids and cancels of unknown ids", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat({ max: 4 }), { minLength: 1, maxLength: 20 }), (ids) =>
        attack((raw) => raw.send(helloAs(), ...ids.flatMap((id) => [[Op.Receive, id + 1, "dups"], [Op.Cancel, id + 2]]))),
      ),
      { numRuns: RUNS },
    );
  });

  it("the broker is left with no stray clients or waiting receives", async () => {
    // The good client's last channel stays watched for its receive linger (10 ms), then its poll is withdrawn.
    for (let i = 0; i < 50 && (broker.server.stats().clients > 1 || broker.server.stats().waitingReceivers > 0); i++) await sleep(10);
    expect(broker.server.stats()).toMatchObject({ clients: 1, waitingReceivers: 0 });
  });
});
