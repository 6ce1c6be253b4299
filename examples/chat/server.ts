/**
 * `npm run demo`: the chat on the layer named by CHANNEL_LAYER_URL (default
 * memory://), on PORT (default 8000; 0 picks a free one) and HOST (default
 * 127.0.0.1). Start two of these on one shared layer (tcp://, redis://) and
 * rooms span both.
 */
import { createChannelLayer } from "../../src/index.js";
import { CHAT_LAYER_OPTIONS, startChatServer } from "./chat.js";

const layerUrl = process.env.CHANNEL_LAYER_URL ?? "memory://";
const layer = createChannelLayer(layerUrl, CHAT_LAYER_OPTIONS);
// Loopback unless HOST says otherwise: a demo is not meant to face the network.
let chat: Awaited<ReturnType<typeof startChatServer>>;
try {
  chat = await startChatServer({ layer, port: Number(process.env.PORT ?? 8000), host: process.env.HOST ?? "127.0.0.1" });
} catch (err) {
  console.error(`chat demo: cannot start: ${(err as Error).message}`);
  await layer.close();
  process.exit(1);
}
console.log(`chat demo on ${chat.url} (channel layer: ${layerUrl})`);

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await chat.close();
  await layer.close();
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
