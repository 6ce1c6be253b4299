import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MessageTooLargeError } from "../../src/errors.js";
import type { Message, MessageValue } from "../../src/layer.js";
import { cloneMessage, copyMessage, shared } from "../../src/message.js";
import { decodeMessage, encodeMessage } from "../../src/dependencies/msgpack.js";

const plain = { wideInts: false, maxBytes: Infinity, encode: encodeMessage };

const value: fc.Arbitrary<MessageValue> = fc.letrec<{ v: MessageValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true }), // NaN is refused (conformance suite)
    fc.integer(),
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.string({ unit: "binary" }),
    fc.uint8Array(),
    fc.array(tie("v"), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: "binary" }), tie("v"), { maxKeys: 5 }),
  ),
})).v;

const message: fc.Arbitrary<Message> = fc
  .tuple(fc.string(), fc.dictionary(fc.string({ unit: "binary" }).filter((k) => k !== "type" && k !== "__asgi_channel__"), value, { maxKeys: 6 }))
  .map(([type, rest]) => ({ ...rest, type }));

describe("message copy (SPEC §2)", () => {
  it("the cheap size bound is never below the real msgpack size", () => {
    fc.assert(
      fc.property(message, (m) => {
        const size = encodeMessage(copyMessage(m, plain)).length;
        // If the bound ever undercounted, a limit just under the real size would let the message through.
        expect(() => copyMessage(m, { ...plain, maxBytes: size - 1 })).toThrow(MessageTooLargeError);
        expect(() => copyMessage(m, { ...plain, maxBytes: size })).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });

  it("a copy is deep and equal; a clone of a copy too", () => {
    fc.assert(
      fc.property(message, (m) => {
        const copy = copyMessage(m, plain);
        expect(copy).toEqual(m);
        expect(cloneMessage(copy)).toEqual(m);
      }),
      { numRuns: 200 },
    );
  });

  it("with wideInts, integers past 32 bits travel as int64 and come back as numbers", () => {
    const copy = copyMessage({ type: "t", a: 2 ** 40, b: -(2 ** 40), c: 7, d: 1.5 }, { ...plain, wideInts: true });
    expect(copy.a).toBe(2n ** 40n);
    const bytes = encodeMessage(copy);
    expect(bytes.includes(0xcb)).toBe(true); // 1.5 is a float64
    expect(decodeMessage(bytes)).toEqual({ type: "t", a: 2 ** 40, b: -(2 ** 40), c: 7, d: 1.5 });
  });

  it("a key named __proto__ stays an own key and pollutes nothing", () => {
    const m = JSON.parse('{"type":"t","__proto__":{"polluted":true}}') as Message;
    const copy = copyMessage(m, plain);
    expect(Object.keys(copy)).toContain("__proto__");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    const clone = cloneMessage(copy);
    expect(Object.keys(clone)).toContain("__proto__");
    expect(Object.getPrototypeOf(clone)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(clone, "__proto__")!.value).not.toBe(Object.getOwnPropertyDescriptor(copy, "__proto__")!.value);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("a clone shares what the layer put in with shared() and copies the rest, frozen or not; a sent copy of it is the sender's own", () => {
    const position = shared({ epoch: "e", offset: 1 });
    const frozen = Object.freeze({ a: 1 });
    const m: Message = { type: "t", __position__: position, frozen, nested: { b: 2 } };
    const c = cloneMessage(m);
    expect(c).toEqual(m);
    expect(c.__position__).toBe(position);
    expect(Object.isFrozen(c.__position__)).toBe(true);
    expect(c.frozen).not.toBe(frozen);
    expect(c.nested).not.toBe(m.nested);
    // A receiver that sends the message on: the copy is plain, unfrozen, and a clone of it copies it.
    const sent = copyMessage(c, plain);
    expect(sent.__position__).not.toBe(position);
    expect(Object.isFrozen(sent.__position__)).toBe(false);
    expect(cloneMessage(sent).__position__).not.toBe(sent.__position__);
    expect(Object.getOwnPropertySymbols(sent.__position__ as object)).toEqual([]);
  });

  it("refuses symbol keys instead of dropping them", () => {
    expect(() => copyMessage({ type: "t", [Symbol("s")]: 1 } as unknown as Message, plain)).toThrow(/symbol keys/);
  });

  it("the msgpack bytes match channels_redis' golden vector", () => {
    const bytes = encodeMessage({ a: true, b: null, c: { d: [] } } as unknown as Message);
    expect(Buffer.from(bytes).toString("hex")).toBe("83a161c3a162c0a16381a16490");
  });
});
