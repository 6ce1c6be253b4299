/** The chat example's consumer, tested with the communicator: no server, no port, no browser. */
import { afterAll, afterEach, expect, it } from "vitest";
import { InMemoryChannelLayer } from "../../src/index.js";
import { WebSocketCommunicator } from "../../src/testing/index.js";
import { CHAT_LAYER_OPTIONS, chatRoutes } from "../../examples/chat/chat.js";

// The rooms' history, without join and leave events (they would interleave with what is checked here).
const layer = new InMemoryChannelLayer({ groupHistory: CHAT_LAYER_OPTIONS.groupHistory });
const app = { layer, routes: chatRoutes };
afterEach(() => layer.flush());
afterAll(() => layer.close());

/** What a page is shown before its welcome: the room's latest messages. */
const shown = new Map<WebSocketCommunicator, unknown[]>();

async function join(room: string, name: string): Promise<WebSocketCommunicator> {
  const c = new WebSocketCommunicator(app, `/ws/chat/${room}?name=${name}`);
  expect(await c.connect()).toEqual({ accepted: true });
  const before: unknown[] = [];
  for (let f = await c.receiveJson<{ type: string }>(); f.type !== "welcome"; f = await c.receiveJson()) before.push(f);
  shown.set(c, before);
  return c;
}

it("two people in a room hear each other, and who joins and leaves", async () => {
  const ann = await join("lobby", "ann");
  expect(await ann.receiveJson()).toEqual({ type: "notice", text: "ann joined" });
  const bob = await join("lobby", "bob");
  expect(await ann.receiveJson()).toEqual({ type: "notice", text: "bob joined" });
  expect(await bob.receiveJson()).toEqual({ type: "notice", text: "bob joined" });

  bob.sendJson({ type: "message", text: " hi ann " });
  expect(await ann.receiveJson()).toMatchObject({ type: "message", user: "bob", text: "hi ann" });
  expect(await bob.receiveJson()).toMatchObject({ type: "message", user: "bob", text: "hi ann" });
  ann.sendJson({ type: "message", text: "hi bob" });
  expect(await bob.receiveJson()).toMatchObject({ type: "message", user: "ann", text: "hi bob" });
  expect(await ann.receiveJson()).toMatchObject({ type: "message", user: "ann", text: "hi bob" });

  // A newcomer is shown what was said (the room's group history), then welcomed.
  const cat = await join("lobby", "cat");
  expect(shown.get(cat)).toEqual([
    { type: "notice", text: "ann joined" },
    { type: "notice", text: "bob joined" },
    { type: "message", id: expect.any(String), user: "bob", text: "hi ann" },
    { type: "message", id: expect.any(String), user: "ann", text: "hi bob" },
  ]);
  await cat.disconnect();
  for (const c of [ann, bob]) expect(await c.receiveJson()).toEqual({ type: "notice", text: "cat joined" });
  for (const c of [ann, bob]) expect(await c.receiveJson()).toEqual({ type: "notice", text: "cat left" });

  await bob.disconnect();
  expect(await ann.receiveJson()).toEqual({ type: "notice", text: "bob left" });
  expect(await ann.receiveNothing()).toBe(true);
  await ann.disconnect();
});

it("rooms are apart", async () => {
  const ann = await join("a", "ann");
  const bob = await join("b", "bob");
  await ann.receiveJson();
  await bob.receiveJson();
  ann.sendJson({ type: "message", text: "anyone?" });
  await ann.receiveJson();
  expect(await bob.receiveNothing()).toBe(true);
  await Promise.all([ann.disconnect(), bob.disconnect()]);
});

it("refuses a room name that cannot be a group with 403, and answers a bad message with an error frame", async () => {
  expect(await new WebSocketCommunicator(app, "/ws/chat/no%20spaces").connect()).toEqual({ accepted: false, status: 403 });
  const ann = await join("lobby", "ann");
  await ann.receiveJson();
  ann.sendJson({ type: "message", text: "   " });
  expect(await ann.receiveJson()).toMatchObject({ type: "error", code: "ERR_BAD_MESSAGE" });
  ann.sendText("{not json");
  expect(await ann.receiveJson()).toMatchObject({ type: "error", code: "ERR_BAD_FRAME" });
  await ann.disconnect();
});

it("throttles a client that sends more than 10 messages at once", async () => {
  const ann = await join("lobby", "ann");
  await ann.receiveJson();
  for (let i = 0; i < 11; i++) ann.sendJson({ type: "message", text: String(i) });
  const frames: Array<{ type: string; code?: string }> = [];
  for (let i = 0; i < 11; i++) frames.push(await ann.receiveJson());
  expect(frames.filter((f) => f.type === "message")).toHaveLength(10);
  expect(frames.filter((f) => f.code === "ERR_THROTTLED")).toHaveLength(1);
  await ann.disconnect();
});
