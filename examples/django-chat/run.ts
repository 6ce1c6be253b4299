/**
 * `npm run demo:django`: the Django chat on Daphne and the Node chat, on one
 * channel layer (CHANNEL_LAYER_URL, default redis://127.0.0.1:6379/1: not database 0,
 * where a developer's own data usually lives; use
 * redis+pubsub://… for the pub/sub layers). Open both URLs, join one room.
 */
import { createChannelLayer } from "../../src/index.js";
import { startChatServer } from "../chat/chat.js";
import { startDaphne } from "./daphne.js";

const layerUrl = process.env.CHANNEL_LAYER_URL ?? "redis://127.0.0.1:6379/1";
if (!/^rediss?(\+pubsub)?:\/\//.test(layerUrl)) {
  console.error(`CHANNEL_LAYER_URL must be redis://, rediss://, redis+pubsub:// or rediss+pubsub:// (Django shares it), got ${layerUrl}`);
  process.exit(2);
}
const daphne = await startDaphne(layerUrl, Number(process.env.DJANGO_PORT ?? 8001));
const layer = createChannelLayer(layerUrl);
const chat = await startChatServer({ layer, port: Number(process.env.PORT ?? 8000), host: "127.0.0.1" });
console.log(`django chat on ${daphne.url} (daphne)`);
console.log(`node chat on ${chat.url}`);
console.log(`channel layer: ${layerUrl}`);

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await chat.close();
  await layer.close();
  await daphne.stop();
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
daphne.child.once("exit", () => void stop());
