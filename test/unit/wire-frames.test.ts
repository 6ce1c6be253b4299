/**
 * The typed frames (src/protocol/decode.ts, encode.ts): what the client
 * encodes is the frame PROTOCOL_VERSION 4 always had, field for field, and
 * the broker's decoder reads it back into the very request.
 */
import { describe, expect, it } from "vitest";
import { askedOp, BAD, bundleAnswers, decodeAnswer, decodeRequest, read, answerBodies, answerError, type BadRequest, type Request } from "../../src/protocol/decode.js";
import { answer, encodeRequest, MessagesAnswer } from "../../src/protocol/encode.js";
import { Feature, Op, ReceiveMode, Status } from "../../src/protocol/ops.js";
import { Replies } from "../../src/protocol/replies.js";
import { writer } from "../../src/protocol/writer.js";
import { ForbiddenError, MessageTooLargeError, ProtocolError } from "../../src/errors.js";
import { encodeMessage } from "../../src/dependencies/msgpack.js";

const body = Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa1, 0x6d]); // {type: "m"}
const info = encodeMessage({ type: "user", name: "ann" });

/** Bytes as hex, sets as arrays: equal requests compare equal whatever the buffers carry besides their bytes. */
const plain = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value, (_, v: unknown) => (v instanceof Set ? [...(v as Set<unknown>)] : v)), (_, v: unknown) =>
    v !== null && typeof v === "object" && (v as { type?: unknown }).type === "Buffer" ? Buffer.from((v as { data: number[] }).data).toString("hex") : v,
  );

/** Each request, and the frame it has always been on the wire. */
const CASES: [Request, unknown[]][] = [
  [{ op: Op.Hello, id: 1, version: 4, instanceId: "abc", token: null, secret: "s", features: undefined }, [0, 1, 4, "abc", null, "s"]],
  [{ op: Op.Hello, id: 1, version: 4, instanceId: "abc", token: null, secret: "s", features: Feature.Bundles }, [0, 1, 4, "abc", null, "s", 1]],
  [{ op: Op.Send, id: 2, channel: "c", body, priority: undefined }, [1, 2, "c", body]],
  [{ op: Op.Send, id: 2, channel: "c", body, priority: 7 }, [1, 2, "c", body, 7]],
  [{ op: Op.Receive, id: 3, channel: "c", max: 33, mode: ReceiveMode.Standing, callers: 1 }, [2, 3, "c", 33, 1, 1]],
  [{ op: Op.Receive, id: 3, channel: "c", max: 1, mode: ReceiveMode.Watch, callers: 0 }, [2, 3, "c", 1, 2, 0]],
  [{ op: Op.Cancel, id: 3 }, [3, 3]],
  [{ op: Op.Requeue, id: 4, settles: [{ channel: "c", took: 2, rest: false }, { channel: "d", took: 0, rest: true }] }, [4, 4, "c", 2, 0, "d", 0, 1]],
  [{ op: Op.GroupAdd, id: 5, group: "g", channel: "c", expiry: undefined, presence: undefined }, [5, 5, "g", "c"]],
  [{ op: Op.GroupAdd, id: 5, group: "g", channel: "c", expiry: 12.5, presence: undefined }, [5, 5, "g", "c", 12.5]],
  [{ op: Op.GroupAdd, id: 5, group: "g", channel: "c", expiry: undefined, presence: info }, [5, 5, "g", "c", null, info]],
  [{ op: Op.GroupAdd, id: 5, group: "g", channel: "c", expiry: 3, presence: info }, [5, 5, "g", "c", 3, info]],
  [{ op: Op.GroupDiscard, id: 6, group: "g", channel: "c" }, [6, 6, "g", "c"]],
  [{ op: Op.GroupSend, id: 7, group: "g", body, priority: undefined, except: undefined }, [7, 7, "g", body]],
  [{ op: Op.GroupSend, id: 7, group: "g", body, priority: 2, except: undefined }, [7, 7, "g", body, 2]],
  [{ op: Op.GroupSend, id: 7, group: "g", body, priority: undefined, except: new Set(["a", "b"]) }, [7, 7, "g", body, null, ["a", "b"]]],
  [{ op: Op.Flush, id: 8 }, [8, 8]],
  [{ op: Op.Ping, id: 9 }, [9, 9]],
  [{ op: Op.Stats, id: 10, top: undefined }, [10, 10]],
  [{ op: Op.Stats, id: 10, top: 5 }, [10, 10, 5]],
  [{ op: Op.CacheGet, id: 11, key: "c:digest" }, [11, 11, "c:digest"]],
  [{ op: Op.CacheSet, id: 12, key: "c:digest", body, ttlMs: 500 }, [12, 12, "c:digest", body, 500]],
  [{ op: Op.GroupHistory, id: 13, group: "g", since: undefined, limit: 10, reader: undefined }, [13, 13, "g", null, 0, 10]],
  [{ op: Op.GroupHistory, id: 13, group: "g", since: { epoch: "e", offset: 4 }, limit: 10, reader: undefined }, [13, 13, "g", "e", 4, 10]],
  [{ op: Op.GroupHistory, id: 13, group: "g", since: undefined, limit: 10, reader: "c" }, [13, 13, "g", null, 0, 10, "c"]],
  [{ op: Op.Presence, id: 14, group: "g", limit: 100, after: -1 }, [14, 14, "g", 100]],
  [{ op: Op.Presence, id: 14, group: "g", limit: 100, after: 17 }, [14, 14, "g", 100, 17]],
  [{ op: Op.PresenceCount, id: 15, group: "g" }, [15, 15, "g"]],
  [{ op: Op.Depart, id: 16 }, [16, 16]],
];

describe("requests", () => {
  it.each(CASES.map(([request, frame]) => [Object.keys(Op)[request.op]!, request, frame] as const))("%s: encoded as always, decoded back", (_, request, frame) => {
    expect(plain(encodeRequest(request))).toEqual(plain(frame));
    const decoded = decodeRequest(frame, 1024);
    expect(plain(decoded)).toEqual(plain(request));
    expect(Object.keys(decoded)).toEqual(Object.keys(request));
  });

  it("every op is covered", () => {
    expect(new Set(CASES.map(([r]) => r.op))).toEqual(new Set(Object.values(Op)));
  });

  it("a receive from an older client: no callers (all of max wait), no mode (answered once)", () => {
    expect(decodeRequest([Op.Receive, 1, "c", 4], 1024)).toEqual({ op: Op.Receive, id: 1, channel: "c", max: 4, mode: ReceiveMode.Once, callers: 4 });
    expect(decodeRequest([Op.Receive, 1, "c"], 1024)).toMatchObject({ max: 1, callers: 1 });
  });

  const bad = (frame: unknown, maxBytes = 1024): BadRequest => {
    const decoded = decodeRequest(frame, maxBytes);
    if (decoded.op !== BAD) throw new Error(`decoded ${JSON.stringify(decoded)}`);
    return decoded;
  };

  it("a frame that is not [op, id, …] ends the connection", () => {
    for (const frame of [null, "x", [], [1], [1, 0], [1, 2 ** 32], ["1", 1], [1, 1.5]]) {
      expect(bad(frame)).toMatchObject({ fatal: true, asked: undefined, error: expect.any(ProtocolError) });
    }
  });

  it("a wrong report ends the connection; a wrong argument is answered with an error naming it", () => {
    expect(bad([Op.Requeue, 1, "c", 1])).toMatchObject({ fatal: true, asked: Op.Requeue });
    expect(bad([Op.Requeue, 1, "c", -1, 0])).toMatchObject({ fatal: true });
    expect(bad([Op.Requeue, 1, "c", 1, 2])).toMatchObject({ fatal: true });
    expect(bad([Op.Send, 1, "c", "not bytes"])).toMatchObject({ fatal: false, id: 1, asked: Op.Send, error: { message: /msgpack bin/ } });
    expect(bad([Op.Send, 1, "c", body], 4).error).toBeInstanceOf(MessageTooLargeError);
    expect(bad([Op.Send, 1, "c", body, 10]).error.message).toMatch(/priority/);
    expect(bad([Op.Receive, 1, "c", 2000]).error.message).toMatch(/batch size/);
    expect(bad([Op.Receive, 1, "c", 2, 1, 3]).error.message).toMatch(/callers/);
    expect(bad([Op.GroupAdd, 1, "g", "c", -1]).error.message).toMatch(/group expiry/);
    expect(bad([Op.GroupAdd, 1, "g", "c", null, Buffer.from([0x01])]).error.message).toMatch(/presence info must decode to a map/);
    expect(bad([Op.GroupSend, 1, "g", body, null, "c"]).error.message).toMatch(/except/);
    expect(bad([Op.Stats, 1, 101]).error.message).toMatch(/top/);
    expect(bad([Op.CacheGet, 1, "nocolon"]).error.message).toMatch(/<channel>:<digest>/);
    expect(bad([Op.CacheSet, 1, "c:d", body, 0]).error.message).toMatch(/ttl/);
    expect(bad([Op.GroupHistory, 1, "g", null, 0, 0]).error.message).toMatch(/limit/);
    expect(bad([Op.Presence, 1, "g", 0]).error.message).toMatch(/limit/);
    expect(bad([Op.Send, 1, "bad name!", body]).error.name).toBe("InvalidChannelNameError");
    expect(bad([99, 1])).toMatchObject({ fatal: false, asked: 99, error: { message: "unknown op 99" } });
    expect(askedOp(bad([99, 1]))).toBe(99);
  });

  it("a body is copied off the chunk it arrived in", () => {
    const chunk = Buffer.from(body);
    const decoded = decodeRequest([Op.Send, 1, "c", chunk], 1024) as Request & { body: Buffer };
    chunk[0] = 0;
    expect(decoded.body).toEqual(body);
  });

  it("a history read's limit is capped", () => {
    expect(decodeRequest([Op.GroupHistory, 1, "g", null, 0, 1e9], 1024)).toMatchObject({ limit: 10_000 });
  });
});

describe("answers", () => {
  it("each answer is the frame it always was, and the client reads it back", () => {
    expect(answer.ok(3)).toEqual([3, Status.Ok]);
    expect(answer.cancelled(3)).toEqual([3, Status.Cancelled]);
    expect(answer.fatal("bad")).toEqual([0, Status.Error, "ERR_PROTOCOL", "bad"]);
    expect(answer.message(3, true, body, 9, 4)).toEqual([3, Status.Partial, body, 9, 4]);
    const batch = new MessagesAnswer(3);
    batch.add(body, 1, 0);
    batch.add(body, 2, 5);
    batch.partial();
    expect(batch.frame).toEqual([3, Status.Partial, body, 1, 0, body, 2, 5]);
    expect(answerBodies(decodeAnswer(batch.frame)!)).toEqual([body, body]);
    expect(answerBodies(decodeAnswer(answer.cancelled(3))!)).toEqual([]);
    const error = answerError(decodeAnswer(answer.error(3, new ForbiddenError("no")))!);
    expect(error).toBeInstanceOf(ForbiddenError);
    expect(error.message).toBe("no");
    expect(read.cacheEntry(decodeAnswer(answer.with(3, body, 77))!)).toEqual({ body, storedAt: 77 });
    expect(read.history(decodeAnswer(answer.with(3, "e", 9, 1, 8, body, null, body))!)).toEqual({ epoch: "e", offset: 9, recovered: true, first: 8, bodies: [body, null, body] });
    const at = (offset: number) => ({ epoch: "e", offset });
    const gap = answer.history(3, { messages: [{ position: at(8), message: body }, { position: at(10), message: body }], position: at(10), recovered: true });
    expect(gap.frame).toEqual([3, Status.Ok, "e", 10, 1, 8, body, null, body]);
    expect(answer.history(3, { messages: [], position: at(10), recovered: false }).frame).toEqual([3, Status.Ok, "e", 10, 0, 11]);
    expect(decodeAnswer([1])).toBeUndefined();
    expect(decodeAnswer({})).toBeUndefined();
  });
});

describe("bundles", () => {
  /** The frames a session's Replies writes for `queue`, bundling when `bundling`. */
  const written = (bundling: boolean, queue: (replies: Replies) => void): unknown[] => {
    const sent: unknown[] = [];
    const replies = new Replies({ send: (frames) => sent.push(...frames), close: () => {} }, { onQueued: () => {}, onWritten: () => {}, onWriteFailed: (err) => { throw err; } });
    replies.bundling = bundling;
    queue(replies);
    replies.flush();
    return sent;
  };
  const other = Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa1, 0x6e]); // {type: "n"}

  it("answers handing over one message one after another share a frame, pinned to the byte", () => {
    const frames = written(true, (r) => {
      r.message(3, false, body, 9, 0);
      r.message(5, true, body, 9, 0);
      r.message(6, false, body, 9, 0);
    });
    expect(frames).toEqual([[0, Status.Bundle, body, 9, 0, 3, Status.Ok, 5, Status.Partial, 6, Status.Ok]]);
    // [length][array32 of 1 frame][fixarray 11: 0, 4, bin8 body, 9, 0, 3, 0, 5, 3, 6, 0]
    expect(writer.frames(frames, 1 << 20).toString("hex")).toBe("0000001a" + "dd00000001" + "9b" + "0004" + "c408" + body.toString("hex") + "0900" + "030005030600");
    expect(bundleAnswers(decodeAnswer(frames[0])!)).toEqual([
      { id: 3, status: Status.Ok, values: [3, Status.Ok, body, 9, 0] },
      { id: 5, status: Status.Partial, values: [5, Status.Partial, body, 9, 0] },
      { id: 6, status: Status.Ok, values: [6, Status.Ok, body, 9, 0] },
    ]);
  });

  it("nothing moves past anything: another message, deadline, priority or answer between ends the bundle", () => {
    const frames = written(true, (r) => {
      r.message(1, false, body, 9, 0);
      r.message(2, false, other, 9, 0); // another message (the same bytes would not do: it is another send)
      r.message(3, false, body, 9, 0);
      r.send(answer.ok(4));
      r.message(5, false, body, 9, 0);
      r.message(6, false, body, 8, 0);
      r.message(7, false, body, 8, 1);
      r.message(8, false, body, 8, 1);
    });
    expect(frames).toEqual([
      [1, Status.Ok, body, 9, 0],
      [2, Status.Ok, other, 9, 0],
      [3, Status.Ok, body, 9, 0],
      [4, Status.Ok],
      [5, Status.Ok, body, 9, 0],
      [6, Status.Ok, body, 8, 0],
      [0, Status.Bundle, body, 8, 1, 7, Status.Ok, 8, Status.Ok],
    ]);
  });

  it("a client that did not offer bundles (an older one, the Python one) gets a frame per answer", () => {
    expect(written(false, (r) => [1, 2].forEach((id) => r.message(id, false, body, 9, 0)))).toEqual([
      [1, Status.Ok, body, 9, 0],
      [2, Status.Ok, body, 9, 0],
    ]);
  });

  it("a bundle's answers do not outlive its write: the next write begins afresh", () => {
    const sent: unknown[][] = [];
    const replies = new Replies({ send: (frames) => sent.push([...frames]), close: () => {} }, { onQueued: () => {}, onWritten: () => {}, onWriteFailed: () => {} });
    replies.bundling = true;
    replies.message(1, false, body, 9, 0);
    replies.flush();
    replies.message(2, false, body, 9, 0);
    replies.flush();
    expect(sent).toEqual([[[1, Status.Ok, body, 9, 0]], [[2, Status.Ok, body, 9, 0]]]);
  });

  it("a malformed bundle is refused (the client ends the link)", () => {
    for (const frame of [
      [0, Status.Bundle, body, 9, 0],
      [0, Status.Bundle, body, 9, 0, 3],
      [0, Status.Bundle, body, 9, 0, 3, Status.Error],
      [0, Status.Bundle, body, 9, 0, 0, Status.Ok],
      [0, Status.Bundle, body, 9, 0, "3", Status.Ok],
    ]) expect(bundleAnswers(decodeAnswer(frame)!)).toBeUndefined();
  });
});
