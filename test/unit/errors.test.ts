import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as api from "../../src/index.js";
import type { Broker, ErrorCode } from "../../src/index.js";
import { BrokerServer, InMemoryChannelLayer, InvalidMessageError, type Message } from "../../src/index.js";
import { errorFromWire, errorToWire } from "../../src/protocol/errors.js";

/** Every code of the ErrorCode union, read from its declaration so a new code cannot be missed here. */
function declaredCodes(): string[] {
  const source = readFileSync(new URL("../../src/errors.ts", import.meta.url), "utf8");
  const union = /export type ErrorCode =([^;]+);/.exec(source)![1]!;
  return [...union.matchAll(/"(ERR_[A-Z_]+)"/g)].map((m) => m[1]!);
}

/** The exported error classes, built with placeholder arguments. */
function exportedErrors(): Error[] {
  return Object.entries(api)
    .filter(([name, value]) => typeof value === "function" && name.endsWith("Error") && name !== "ChannelLayerError")
    .map(([, Class]) => new (Class as new (...args: unknown[]) => Error)("x", 1, "hint"));
}

describe("errors (docs/semantics.md §3.6)", () => {
  it("every exported error class has a code, and every code is in ErrorCode", () => {
    const codes = declaredCodes();
    const errors = exportedErrors();
    expect(errors.length).toBeGreaterThanOrEqual(13);
    for (const err of errors) {
      const code = (err as { code?: unknown }).code;
      expect(typeof code, err.name).toBe("string");
      expect(codes, err.name).toContain(code);
      expect(err.name).toBe(err.constructor.name);
    }
    // And every code belongs to some exported class.
    expect(new Set(errors.map((e) => (e as { code?: string }).code))).toEqual(new Set(codes));
  });

  it("a bad message rejects with InvalidMessageError, a TypeError with ERR_INVALID_MESSAGE naming the path", async () => {
    const layer = new InMemoryChannelLayer();
    try {
      const bad = { type: "t", items: [1, new Date(0)] } as unknown as Message;
      const err = await layer.send("c", bad).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InvalidMessageError);
      expect(err).toBeInstanceOf(TypeError);
      expect((err as InvalidMessageError).code).toBe("ERR_INVALID_MESSAGE");
      expect((err as Error).message).toMatch(/^message\.items\[1\]: /);
      const noType = await layer.send("c", { kind: "x" } as unknown as Message).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((noType as InvalidMessageError).code).toBe("ERR_INVALID_MESSAGE");
    } finally {
      await layer.close();
    }
  });

  it("every code survives the broker wire as its own class, except consumer-side ones", () => {
    const consumerSide: ErrorCode[] = ["ERR_INVALID_MESSAGE_TYPE", "ERR_NO_HANDLER", "ERR_BAD_FRAME"];
    for (const code of declaredCodes() as ErrorCode[]) {
      const details = code === "ERR_MESSAGE_TOO_LARGE" ? [2, 1] : code === "ERR_REQUEST_FAILED" ? ["ERR_X", "m"] : code === "ERR_BROKER_FULL" ? [1] : ["c", 1];
      const back = errorFromWire(code, "m", details) as Error & { code: string };
      expect(back.code).toBe(consumerSide.includes(code) ? "ERR_PROTOCOL" : code);
    }
    const [code] = errorToWire(new InvalidMessageError("bad"));
    expect(code).toBe("ERR_INVALID_MESSAGE");
  });
});

describe("the package root exports (docs/architecture.md)", () => {
  it("keeps internals out: no compilePath, no handlerName", () => {
    expect(Object.keys(api)).not.toContain("compilePath");
    expect(Object.keys(api)).not.toContain("handlerName");
  });

  it("exports the Broker type a BrokerServer hands to ObserveServer", () => {
    const server = new BrokerServer({ listen: "tcp://127.0.0.1:0" });
    const broker: Broker = server.broker;
    expect(broker).toBeDefined();
  });
});
