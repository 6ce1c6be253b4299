/**
 * The one receive buffer (src/client/receive-buffer.ts) on its own, fed by a source
 * that records what the buffer asks of it: the window rule, the give-back at
 * the tick's end, the linger and what it keeps, aborts and the order of
 * "took" before delivery. The backends run it for real in the conformance,
 * broker protocol and Redis receive tests.
 */
import { describe, expect, it, vi } from "vitest";
import type { Message } from "../../src/layer.js";
import { PendingReceive } from "../../src/client/pending-receive.js";
import { type Inbox, ReceiveBuffer, type ReceiveBufferOptions, type ReceiveSource } from "../../src/client/receive-buffer.js";

type Item = { n: number; expired?: boolean };

class Recorder implements ReceiveSource<Item, undefined> {
  readonly log: string[] = [];
  readonly returned: number[][] = [];
  create(): undefined {
    return undefined;
  }
  wait(inbox: Inbox<Item, undefined>): void {
    this.log.push(`wait ${inbox.channel} ${inbox.callers.size}+${inbox.window}`);
  }
  onLeave(inbox: Inbox<Item, undefined>, served: boolean): void {
    this.log.push(`left ${inbox.channel} ${served ? "served" : "gave up"}`);
  }
  stop(inbox: Inbox<Item, undefined>): void {
    this.log.push(`stop ${inbox.channel}`);
  }
  linger(inbox: Inbox<Item, undefined>, tickOver: boolean): void {
    this.log.push(`linger ${inbox.channel}${tickOver ? " tick over" : ""}`);
  }
  giveBack(_inbox: Inbox<Item, undefined>, items: Item[]): void {
    this.returned.push(items.map((i) => i.n));
  }
  open(item: Item): Message {
    if (item.n < 0) throw new Error("not a message");
    return { type: "test", n: item.n };
  }
  expired(item: Item): boolean {
    return item.expired === true;
  }
  onTake(inbox: Inbox<Item, undefined>): void {
    this.log.push(`took ${inbox.channel}`);
  }
  busy(): boolean {
    return false;
  }
}

function setup(options: Partial<ReceiveBufferOptions> = {}) {
  const source = new Recorder();
  const buffer = new ReceiveBuffer(source, { maxWindow: 64, linger: 0, keepWhileLingering: false, ...options });
  const receive = (channel = "c") => {
    const caller = new PendingReceive<Message>();
    const handle = buffer.add(channel, caller);
    return { promise: caller.promise, handle, caller };
  };
  return { source, buffer, receive };
}

const tickEnd = () => new Promise((resolve) => setImmediate(resolve));

describe("the receive buffer", () => {
  it("hands an arrival to the first caller in line, and holds the rest ahead for callers of the same tick", async () => {
    const { buffer, receive } = setup();
    const first = receive();
    const second = receive();
    const inbox = buffer.get("c")!;
    expect(buffer.arrive(inbox, { n: 1 })).toBe(false);
    expect(buffer.arrive(inbox, { n: 2 })).toBe(false);
    expect(buffer.arrive(inbox, { n: 3 })).toBe(true);
    await expect(first.promise).resolves.toMatchObject({ n: 1 });
    await expect(second.promise).resolves.toMatchObject({ n: 2 });
    const third = receive();
    expect(third.handle).toBeUndefined();
    await expect(third.promise).resolves.toMatchObject({ n: 3 });
  });

  it("gives back what nobody took at the tick's end, oldest first, and stops the source first", async () => {
    const { source, buffer, receive } = setup();
    const first = receive();
    const inbox = buffer.get("c")!;
    for (const n of [1, 2, 3, 4]) buffer.arrive(inbox, { n });
    await first.promise;
    source.log.length = 0;
    await tickEnd();
    expect(source.returned).toEqual([[2, 3, 4]]);
    expect(source.log).toEqual(["stop c"]);
    expect(buffer.get("c")).toBeUndefined();
  });

  it("grows the window ×4 while the channel is hungry, up to maxWindow, and back to 0 when more than one goes back", async () => {
    const { source, buffer, receive } = setup({ maxWindow: 20 });
    const windows: number[] = [];
    for (let round = 0; round < 4; round++) {
      const r = receive();
      windows.push(buffer.get("c")!.window);
      buffer.arrive(buffer.get("c")!, { n: round });
      await r.promise; // served: the next receive, right after, finds the channel hungry
    }
    expect(windows).toEqual([0, 4, 16, 20]);
    const r = receive();
    const inbox = buffer.get("c")!;
    for (const n of [10, 11, 12]) buffer.arrive(inbox, { n });
    await r.promise;
    await tickEnd();
    expect(source.returned.at(-1)).toEqual([11, 12]);
    receive();
    expect(buffer.get("c")!.window).toBe(0);
  });

  it("finds a channel hungry whose caller comes back late in a long turn (thousands served at once), and not after the turn", async () => {
    // Lingering, so the inbox (and its window) outlives the turn.
    const { buffer, receive } = setup({ maxWindow: 20, linger: 1000 });
    const r = receive();
    buffer.arrive(buffer.get("c")!, { n: 1 });
    // The rest of a big bundle's arrivals take a while before any caller runs again.
    const until = performance.now() + 5;
    while (performance.now() < until);
    await r.promise;
    const again = receive();
    expect(buffer.get("c")!.window).toBe(4);
    buffer.arrive(buffer.get("c")!, { n: 2 });
    await again.promise;
    await tickEnd();
    const past = performance.now() + 2; // and past HUNGRY_MS, which serves a caller awaiting a round trip in between
    while (performance.now() < past);
    const later = receive(); // a turn later: a consumer that did something else between its receives
    expect(buffer.get("c")!.window).toBe(4);
    later.handle!.cancel();
    buffer.close();
  });

  it("finds a channel hungry whose caller comes back a turn later but within HUNGRY_MS (a send's round trip between receives: pingpong)", async () => {
    let now = 1000;
    const clock = vi.spyOn(performance, "now").mockImplementation(() => now);
    try {
      const { buffer, receive } = setup({ maxWindow: 20, linger: 1000 });
      const r = receive();
      buffer.arrive(buffer.get("c")!, { n: 1 });
      await r.promise;
      await tickEnd();
      now += 0.5;
      const again = receive();
      expect(buffer.get("c")!.window).toBe(4);
      buffer.arrive(buffer.get("c")!, { n: 2 });
      await again.promise;
      await tickEnd();
      now += 1.5; // past HUNGRY_MS: not hungry, the window stays
      const later = receive();
      expect(buffer.get("c")!.window).toBe(4);
      later.handle!.cancel();
      buffer.close();
    } finally {
      clock.mockRestore();
    }
  });

  it("keeps the window when a single message goes back, and never opens one with maxWindow 0", async () => {
    const hungry = setup({ maxWindow: 8 });
    let r = hungry.receive();
    hungry.buffer.arrive(hungry.buffer.get("c")!, { n: 1 });
    await r.promise;
    r = hungry.receive();
    expect(hungry.buffer.get("c")!.window).toBe(4);
    for (const n of [2, 3]) hungry.buffer.arrive(hungry.buffer.get("c")!, { n });
    await r.promise;
    await tickEnd();
    expect(hungry.source.returned).toEqual([[3]]);
    // The inbox was forgotten at the tick's end; a later one starts at 0 again.
    expect(hungry.buffer.get("c")).toBeUndefined();

    const off = setup({ maxWindow: 0 });
    for (let i = 0; i < 3; i++) {
      const q = off.receive();
      expect(off.buffer.get("c")!.window).toBe(0);
      off.buffer.arrive(off.buffer.get("c")!, { n: i });
      await q.promise;
    }
  });

  it("reports a message taken from what is held ahead before its caller sees it", async () => {
    const { source, buffer, receive } = setup();
    const first = receive();
    buffer.arrive(buffer.get("c")!, { n: 1 });
    buffer.arrive(buffer.get("c")!, { n: 2 });
    await first.promise;
    source.log.length = 0;
    const second = receive();
    let seen = false;
    void second.promise.then(() => (seen = true));
    await Promise.resolve();
    expect(source.log).toEqual(["took c"]);
    expect(seen).toBe(false);
    await expect(second.promise).resolves.toMatchObject({ n: 2 });
  });

  it("skips what expired while held ahead, and fails a caller whose item is not a message", async () => {
    const { buffer, receive } = setup();
    const first = receive();
    const inbox = buffer.get("c")!;
    buffer.arrive(inbox, { n: 1 });
    buffer.arrive(inbox, { n: 2, expired: true });
    buffer.arrive(inbox, { n: 3 });
    buffer.arrive(inbox, { n: -1 });
    await first.promise;
    await expect(receive().promise).resolves.toMatchObject({ n: 3 });
    await expect(receive().promise).rejects.toThrow("not a message");
  });

  it("a caller taken back before it is served leaves the line; with nobody left, the source stops", async () => {
    const { source, buffer, receive } = setup();
    const first = receive();
    const second = receive();
    expect(first.handle!.cancel()).toBe(true);
    expect(source.log.slice(-1)).toEqual(["left c gave up"]);
    buffer.arrive(buffer.get("c")!, { n: 1 });
    await expect(second.promise).resolves.toMatchObject({ n: 1 });
    expect(second.handle!.cancel()).toBe(false); // served already: nothing to take back
    const third = receive();
    third.handle!.cancel();
    expect(source.log.slice(-2)).toEqual(["left c gave up", "stop c"]);
  });

  it("lingers after a served receive: the source keeps watching for one message, then stops when the linger ends", async () => {
    const { source, buffer, receive } = setup({ linger: 30 });
    const r = receive();
    buffer.arrive(buffer.get("c")!, { n: 1 });
    await r.promise;
    await tickEnd();
    expect(source.log.at(-1)).toBe("linger c tick over");
    expect(buffer.get("c")!.lingerUntil).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(source.log.at(-1)).toBe("stop c");
    expect(buffer.get("c")).toBeUndefined();
  });

  it("a message brought for nobody while lingering goes back at the tick's end and ends the linger, unless the source keeps one", async () => {
    const strict = setup({ linger: 1000 });
    let r = strict.receive();
    strict.buffer.arrive(strict.buffer.get("c")!, { n: 1 });
    await r.promise;
    strict.buffer.arrive(strict.buffer.get("c")!, { n: 2 });
    await tickEnd();
    expect(strict.source.returned).toEqual([[2]]);
    expect(strict.buffer.get("c")).toBeUndefined();
    strict.buffer.close();

    const keeping = setup({ linger: 40, keepWhileLingering: true });
    r = keeping.receive();
    keeping.buffer.arrive(keeping.buffer.get("c")!, { n: 1 });
    await r.promise;
    for (const n of [2, 3, 4]) keeping.buffer.arrive(keeping.buffer.get("c")!, { n });
    await tickEnd();
    expect(keeping.source.returned).toEqual([[3, 4]]);
    await expect(keeping.receive().promise).resolves.toMatchObject({ n: 2 }); // kept past its tick
    keeping.buffer.arrive(keeping.buffer.get("c")!, { n: 5 });
    await tickEnd();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(keeping.source.returned).toEqual([[3, 4], [5]]);
    expect(keeping.buffer.get("c")).toBeUndefined();
  });

  it("close takes every waiting caller out and stops every source; failAll rejects them", async () => {
    const { source, buffer, receive } = setup({ linger: 1000 });
    receive("a");
    receive("b");
    const taken = buffer.close();
    expect(taken).toHaveLength(2);
    expect(source.log.filter((l) => l.startsWith("stop"))).toEqual(["stop a", "stop b"]);
    const other = setup();
    const waiting = other.receive();
    other.buffer.failAll(new Error("gone"));
    await expect(waiting.promise).rejects.toThrow("gone");
  });
});
