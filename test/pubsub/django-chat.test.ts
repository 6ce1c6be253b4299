/**
 * examples/django-chat: a page on Daphne (Django Channels, channels_redis) and
 * a page on the Node chat server, in one room, in a real browser; messages
 * cross both ways and a leave on one side is a notice on the other. Once on
 * the core layers (redis://), once on the pub/sub layers (redis+pubsub://).
 */
import { describe, expect, it } from "vitest";
import { createChannelLayer, RedisPubSubChannelLayer, RedisChannelLayer } from "../../src/index.js";
import { startChatServer } from "../../examples/chat/chat.js";
import { startDaphne } from "../../examples/django-chat/daphne.js";
import { cleanPrefix, REDIS_URL, testPrefix } from "../redis/helpers.js";
import { chatAcross, useChromium } from "./django-chat-steps.js";

const { browser, cleanups } = useChromium();

async function chatOn(scheme: "redis" | "redis+pubsub"): Promise<void> {
  const prefix = testPrefix();
  // A room of its own: the Node chat keeps each room's history for the whole process.
  const room = `harbour-${scheme === "redis" ? "core" : "pubsub"}-${prefix.slice(-6)}`;
  const layerUrl = `${REDIS_URL.replace(/^redis:/, `${scheme}:`)}?prefix=${prefix}`;
  if (scheme === "redis") cleanups.push(() => cleanPrefix(prefix));
  const daphne = await startDaphne(layerUrl);
  cleanups.push(() => daphne.stop());
  const layer = createChannelLayer(layerUrl);
  cleanups.push(() => layer.close());
  expect(layer).toBeInstanceOf(scheme === "redis" ? RedisChannelLayer : RedisPubSubChannelLayer);
  const node = await startChatServer({ layer, host: "127.0.0.1" });
  cleanups.push(() => node.close());
  await chatAcross(browser(), daphne.url, node.url, room, cleanups);
}

describe("Django (Daphne) and Node chat in one room", () => {
  it("on the core layers (redis://)", () => chatOn("redis"), 90_000);
  it("on the pub/sub layers (redis+pubsub://)", () => chatOn("redis+pubsub"), 90_000);
});
