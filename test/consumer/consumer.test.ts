import { afterEach, describe, expect, it } from "vitest";
import {
  Consumer,
  InMemoryChannelLayer,
  InvalidMessageTypeError,
  LayerClosedError,
  NoHandlerError,
  type ConsumerErrorContext,
  type ConsumerInit,
  type Message,
} from "../../src/index.js";
import { handlerName } from "../../src/consumer/handler-name.js";
import { waitFor } from "../wait.js";

let layer: InMemoryChannelLayer;
const errors: Array<{ error: unknown; context: ConsumerErrorContext }> = [];
const started: Consumer[] = [];

function init(extra: Partial<ConsumerInit> = {}): ConsumerInit {
  layer ??= new InMemoryChannelLayer();
  return { layer, onError: (error, context) => errors.push({ error, context }), ...extra };
}

async function start<C extends Consumer>(c: C): Promise<C> {
  started.push(c);
  await c.start();
  return c;
}

afterEach(async () => {
  for (const c of started.splice(0)) await c.stop();
  errors.length = 0;
  await layer?.close();
  layer = undefined as unknown as InMemoryChannelLayer;
});

class Recorder extends Consumer {
  seen: Message[] = [];
  chat_message(m: Message): void {
    this.seen.push(m);
  }
  boom(): never {
    throw new Error("handler failed");
  }
}

describe("handler names", () => {
  it("maps dots to underscores, as Channels does", () => {
    expect(handlerName("chat.message")).toBe("chat_message");
    expect(handlerName("a.b.c")).toBe("a_b_c");
    expect(handlerName("plain")).toBe("plain");
  });

  it("refuses a type whose handler name would start with an underscore", () => {
    expect(() => handlerName("_secret")).toThrow(InvalidMessageTypeError);
    expect(() => handlerName(".secret")).toThrow(/starts with "_"/);
  });

  it("refuses an empty or non-string type", () => {
    expect(() => handlerName("")).toThrow(InvalidMessageTypeError);
    expect(() => handlerName(42)).toThrow(InvalidMessageTypeError);
  });
});

describe("Consumer", () => {
  it("dispatches a layer message to the handler its type names", async () => {
    const c = await start(new Recorder(init()));
    await layer.send(c.channelName, { type: "chat.message", text: "hi" });
    await waitFor("the handler ran", () => c.seen.length === 1);
    expect(c.seen[0]).toEqual({ type: "chat.message", text: "hi" });
  });

  it("receives on its own process-local channel", async () => {
    const a = await start(new Recorder(init()));
    const b = await start(new Recorder(init()));
    expect(a.channelName).toMatch(/^specific\..+!.+$/);
    expect(a.channelName).not.toBe(b.channelName);
  });

  it("reports a message with no handler, naming the type and the consumer, and goes on", async () => {
    const c = await start(new Recorder(init()));
    await layer.send(c.channelName, { type: "no.such" });
    await layer.send(c.channelName, { type: "chat.message" });
    await waitFor("the next message was handled", () => c.seen.length === 1);
    expect(errors).toHaveLength(1);
    const err = errors[0]!.error as NoHandlerError;
    expect(err).toBeInstanceOf(NoHandlerError);
    expect(err.message).toContain('"no.such"');
    expect(err.message).toContain("Recorder");
    expect(err.message).toContain("no_such");
    expect(errors[0]!.context.message).toEqual({ type: "no.such" });
  });

  it("refuses a type naming one of the consumer's own methods", async () => {
    const c = await start(new Recorder(init()));
    for (const type of ["dispatch", "stop", "groupDiscard", "toString", "constructor"]) {
      await layer.send(c.channelName, { type });
    }
    await layer.send(c.channelName, { type: "chat.message" });
    await waitFor("the next message was handled", () => c.seen.length === 1);
    expect(c.stopped).toBe(false);
    expect(errors.map((e) => (e.error as Error).constructor)).toEqual(Array(5).fill(InvalidMessageTypeError));
  });

  it("reserves only the methods of the consumer's own framework classes", async () => {
    class Mailer extends Consumer {
      sent: Message[] = [];
      send(m: Message): void {
        this.sent.push(m); // a plain Consumer has no send() of its own, so "send" is a fine type here
      }
    }
    const c = await start(new Mailer(init()));
    await layer.send(c.channelName, { type: "send", to: "x" });
    await waitFor("the handler ran", () => c.sent.length === 1);
    expect(errors).toEqual([]);
  });

  it("refuses a type with a leading underscore handler name through the error hook", async () => {
    const c = await start(new Recorder(init()));
    await layer.send(c.channelName, { type: "_private" });
    await waitFor("the error was reported", () => errors.length === 1);
    expect(errors[0]!.error).toBeInstanceOf(InvalidMessageTypeError);
  });

  it("reports a throwing handler and goes on under the default policy", async () => {
    const c = await start(new Recorder(init()));
    await layer.send(c.channelName, { type: "boom" });
    await layer.send(c.channelName, { type: "chat.message" });
    await waitFor("the next message was handled", () => c.seen.length === 1);
    expect((errors[0]!.error as Error).message).toBe("handler failed");
    expect(errors[0]!.context.consumer).toBe(c);
  });

  it('stops after a throwing handler under handlerErrors: "close", leaving its groups', async () => {
    class Grouped extends Recorder {
      override groups = ["room"];
    }
    const c = await start(new Grouped(init({ handlerErrors: "close" })));
    expect((await layer.stats()).members).toBe(1);
    await layer.send(c.channelName, { type: "boom" });
    await c.done;
    expect(c.stopped).toBe(true);
    expect((await layer.stats()).members).toBe(0);
    expect(errors).toHaveLength(1);
  });

  it("refuses an unknown error policy", () => {
    expect(() => new Recorder(init({ handlerErrors: "ignore" as "close" }))).toThrow(RangeError);
  });

  it("survives an error hook that throws", async () => {
    const c = await start(new Recorder(init({ onError: () => { throw new Error("hook failed"); } })));
    const original = console.error;
    const logged: unknown[] = [];
    console.error = (...args: unknown[]) => logged.push(args);
    try {
      await layer.send(c.channelName, { type: "boom" });
      await layer.send(c.channelName, { type: "chat.message" });
      await waitFor("the next message was handled", () => c.seen.length === 1);
    } finally {
      console.error = original;
    }
    expect(logged).toHaveLength(1);
  });

  it("passes every message through dispatch() before its handler", async () => {
    class Logged extends Recorder {
      log: string[] = [];
      override async dispatch(m: Message): Promise<void> {
        this.log.push(`before ${m.type}`);
        if (m.type === "chat.message" && m.drop === true) return;
        await super.dispatch(m);
      }
    }
    const c = await start(new Logged(init()));
    await layer.send(c.channelName, { type: "chat.message", drop: true });
    await layer.send(c.channelName, { type: "chat.message", n: 2 });
    await waitFor("the kept message was handled", () => c.seen.length === 1);
    expect(c.log).toEqual(["before chat.message", "before chat.message"]);
    expect(c.seen[0]!.n).toBe(2);
  });

  it("handles messages one at a time, in order", async () => {
    class Slow extends Consumer {
      active = 0;
      maxActive = 0;
      order: number[] = [];
      async step(m: Message): Promise<void> {
        this.maxActive = Math.max(this.maxActive, ++this.active);
        await new Promise((r) => setTimeout(r, 2));
        this.order.push(m.i as number);
        this.active--;
      }
    }
    const c = await start(new Slow(init()));
    for (let i = 0; i < 10; i++) await layer.send(c.channelName, { type: "step", i });
    await waitFor("all were handled", () => c.order.length === 10);
    expect(c.order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(c.maxActive).toBe(1);
  });

  it("joins its groups on start and leaves them on stop", async () => {
    class Grouped extends Recorder {
      override groups = ["alpha", "beta"];
    }
    const c = await start(new Grouped(init()));
    await c.groupAdd("gamma");
    expect((await layer.stats()).members).toBe(3);
    await layer.groupSend("beta", { type: "chat.message", via: "beta" });
    await waitFor("the group message arrived", () => c.seen.length === 1);
    await c.stop();
    expect((await layer.stats()).members).toBe(0);
    expect((await layer.stats()).groups).toBe(0);
  });

  it("cancels its receive on stop without losing the message that comes next", async () => {
    const c = await start(new Recorder(init()));
    await c.stop();
    await layer.send(c.channelName, { type: "chat.message", late: true });
    expect(await layer.receive(c.channelName)).toEqual({ type: "chat.message", late: true });
    expect(c.seen).toEqual([]);
  });

  it("joins nothing when stopped before start finishes", async () => {
    class Grouped extends Recorder {
      override groups = ["alpha"];
    }
    const c = new Grouped(init());
    started.push(c);
    const starting = c.start();
    await c.stop();
    await starting;
    expect((await layer.stats()).members).toBe(0);
  });

  it("reports a layer closed under it and stops, never dying silently", async () => {
    const c = await start(new Recorder(init()));
    await layer.close();
    await c.done;
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error).toBeInstanceOf(LayerClosedError);
  });
});

describe("presence (docs/presence.md)", () => {
  it("join(group, info) makes the consumer a presence entry; stop() leaves it, announced to the others once", async () => {
    layer = new InMemoryChannelLayer({ groupPresence: { "room*": { events: true } } });
    const ann = await start(new Recorder(init()));
    const bob = await start(new Recorder(init()));
    const seen: Message[] = [];
    const watcher = await layer.newChannel();
    await layer.groupAdd("room", watcher);
    await ann.join("room", { user: "ann" });
    await bob.join("room", { user: "bob" });
    expect((await layer.presence("room")).entries.map((e) => e.info)).toEqual([{ user: "ann" }, { user: "bob" }]);
    await bob.stop();
    expect((await layer.presence("room")).entries.map((e) => e.info)).toEqual([{ user: "ann" }]);
    for (let m = await layer.receive(watcher); ; m = await layer.receive(watcher)) {
      seen.push(m);
      if (m.type === "presence.leave") break;
    }
    expect(seen.map((m) => [m.type, (m.info as { user: string }).user])).toEqual([
      ["presence.join", "ann"],
      ["presence.join", "bob"],
      ["presence.leave", "bob"],
    ]);
    await bob.join("room", { user: "bob" }); // stopped: joins nothing
    expect(await layer.presenceCount("room")).toBe(1);
  });
});
