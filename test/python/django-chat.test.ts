/**
 * examples/django-chat with no Redis: Daphne's Django Channels on
 * channel_layers.BrokerChannelLayer and the Node chat on RemoteChannelLayer,
 * one broker between them; a page on each, in one room, in Chromium.
 */
import { expect, it } from "vitest";
import { BrokerServer, createChannelLayer, RemoteChannelLayer } from "../../src/index.js";
import { startChatServer } from "../../examples/chat/chat.js";
import { startDaphne } from "../../examples/django-chat/daphne.js";
import { chatAcross, useChromium } from "../pubsub/django-chat-steps.js";

const { browser, cleanups } = useChromium();

it("Django (Daphne) and Node chat in one room on the broker, no Redis", async () => {
  const broker = new BrokerServer({ listen: "tcp://127.0.0.1:0", log: () => undefined });
  cleanups.push(() => broker.close());
  const [url] = (await broker.listen()) as [string];
  const daphne = await startDaphne(url);
  cleanups.push(() => daphne.stop());
  const layer = createChannelLayer(url);
  cleanups.push(() => layer.close());
  expect(layer).toBeInstanceOf(RemoteChannelLayer);
  const node = await startChatServer({ layer, host: "127.0.0.1" });
  cleanups.push(() => node.close());
  await chatAcross(browser(), daphne.url, node.url, "harbour-broker", cleanups);
  // Daphne's layer is a client of this broker (the pages' messages had no other way across).
  const { clientList } = await (layer as RemoteChannelLayer).details(10);
  expect(clientList.length).toBeGreaterThanOrEqual(2);
}, 90_000);
