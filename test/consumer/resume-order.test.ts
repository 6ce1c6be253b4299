/**
 * A resumed group's live copies arriving out of offset order (issue 26): on
 * Redis a group send records its offset in one call and pushes the copies in
 * another, so with two senders a member can get offset n+1 before n. The
 * consumer must not forward n+1 and then drop n as "already given" (the page
 * would resume past n and never get it): it reads the history between first.
 * A layer wrapper here swaps two copies, deterministically.
 */
import { afterEach, describe, expect, it } from "vitest";
import { InMemoryChannelLayer, JsonWebSocketConsumer, type Message, type MessageValue, type WebSocketApp } from "../../src/index.js";
import { receiveNext } from "../../src/client/receive-next.js";
import { positionOf } from "../../src/options/history.js";
import { WebSocketCommunicator } from "../../src/testing/index.js";

const GROUP = "room.one";

class Room extends JsonWebSocketConsumer {
  override async connect(): Promise<void> {
    this.accept();
    await this.groupResume(GROUP);
  }
  num_message(event: Message): void {
    this.sendJson({ n: event.n as number });
  }
  /** The page posts a number to the others in the room: its own channel is left out, its offset skipped for it. */
  override async receiveJson(content: MessageValue): Promise<void> {
    await this.groupSendOthers(GROUP, { type: "num.message", n: (content as { n: number }).n });
  }
}

/** The memory layer, but the next positioned copy asked for is held back and handed over after the one behind it. */
function swapping(layer: InMemoryChannelLayer): { layer: InMemoryChannelLayer; swapNext(): void } {
  let swap = false;
  let held: Message | undefined;
  const receive = async (channel: string, options?: { signal?: AbortSignal }): Promise<Message> => {
    if (held !== undefined) {
      const m = held;
      held = undefined;
      return m;
    }
    const m = await layer.receive(channel, options);
    if (!swap || positionOf(m) === undefined) return m;
    swap = false;
    held = m;
    return layer.receive(channel, options);
  };
  const wrapped = new Proxy(layer, {
    get(target, key) {
      // No fast path: the consumer receives through `receive`, which swaps.
      if (key === receiveNext) return undefined;
      if (key === "receive") return receive;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { layer: wrapped, swapNext: () => (swap = true) };
}

/** An app on a memory layer keeping `size` messages per room, behind the swapping wrapper. */
function swappingApp(size: number): { inner: InMemoryChannelLayer; app: WebSocketApp; swapNext(): void } {
  const inner = new InMemoryChannelLayer({ groupHistory: { "room.*": { size, ttl: 60 } } });
  cleanups.push(() => inner.close());
  const { layer, swapNext } = swapping(inner);
  return { inner, app: { layer, log: () => {}, routes: [{ path: "/ws", consumer: Room }] }, swapNext };
}

interface Frame {
  $resume?: string;
  recovered?: boolean;
  position?: [string, number];
  $group?: string;
  $position?: [string, number];
  $content?: { n: number };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function page(app: WebSocketApp, since: Record<string, [string, number]>): Promise<WebSocketCommunicator> {
  const c = new WebSocketCommunicator(app, `/ws?$resume=${encodeURIComponent(JSON.stringify(since))}`);
  cleanups.push(() => c.disconnect().catch(() => {}));
  expect(await c.connect()).toEqual({ accepted: true });
  return c;
}

/** Every frame until none comes for a while. */
async function frames(c: WebSocketCommunicator): Promise<Frame[]> {
  const got: Frame[] = [];
  while (!(await c.receiveNothing(150))) got.push(await c.receiveJson<Frame>());
  return got;
}

describe("a resumed group's copies out of offset order", () => {
  it("forwards every message once and in offset order, so a page resuming from its last position loses none", async () => {
    const { inner, app, swapNext } = swappingApp(100);

    const first = await page(app, {});
    const [joined] = await frames(first);
    expect(joined).toMatchObject({ $resume: GROUP, recovered: false });

    swapNext(); // n: 2 reaches the consumer before n: 1, as two Redis senders can make it
    await inner.groupSend(GROUP, { type: "num.message", n: 1 });
    await inner.groupSend(GROUP, { type: "num.message", n: 2 });
    await inner.groupSend(GROUP, { type: "num.message", n: 3 });
    const live = (await frames(first)).filter((f) => f.$content !== undefined);
    expect(live.map((f) => f.$content!.n)).toEqual([1, 2, 3]);
    const offsets = live.map((f) => f.$position![1]);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));

    // The page drops and resumes from the last position it saw: nothing was skipped, nothing comes again.
    await first.disconnect();
    await inner.groupSend(GROUP, { type: "num.message", n: 4 });
    const again = await frames(await page(app, { [GROUP]: live.at(-1)!.$position! }));
    expect(again[0]).toMatchObject({ $resume: GROUP, recovered: true });
    expect(again.filter((f) => f.$content !== undefined).map((f) => f.$content!.n)).toEqual([4]);
  });

  it("a skipped offset that left this consumer out (groupSendOthers) costs a read, and nothing more reaches the page", async () => {
    const inner = new InMemoryChannelLayer({ groupHistory: { "room.*": { size: 100, ttl: 60 } } });
    cleanups.push(() => inner.close());
    const reads: unknown[] = [];
    const read = inner.groupHistory.bind(inner);
    inner.groupHistory = (group, options) => (reads.push(options), read(group, options));
    const app: WebSocketApp = { layer: inner, log: () => {}, routes: [{ path: "/ws", consumer: Room }] };

    const poster = await page(app, {});
    const other = await page(app, {});
    await frames(poster);
    await frames(other);
    expect(reads).toHaveLength(2);
    poster.sendJson({ n: 1 });
    expect((await other.receiveJson<Frame>()).$content).toEqual({ n: 1 });
    await inner.groupSend(GROUP, { type: "num.message", n: 2 });
    // The poster's read between its position and n: 2 finds only n: 2 (n: 1 was not for it); no resume frame.
    const got = await frames(poster);
    expect(got.map((f) => f.$content)).toEqual([{ n: 2 }]);
    expect(reads).toHaveLength(3);
    expect((await frames(other)).map((f) => f.$content)).toEqual([{ n: 2 }]);
  });

  it("when the history no longer holds what was skipped, the page is told recovered: false (never a silent loss)", async () => {
    const { inner, app, swapNext } = swappingApp(1);
    const c = await page(app, {});
    await frames(c);
    swapNext();
    await inner.groupSend(GROUP, { type: "num.message", n: 1 });
    await inner.groupSend(GROUP, { type: "num.message", n: 2 }); // keeps only n: 2: n: 1 is gone from the history
    const got = await frames(c);
    expect(got[0]).toMatchObject({ $resume: GROUP, recovered: false });
    expect(got.filter((f) => f.$content !== undefined)).toEqual([]);
  });
});
