/**
 * `npm run demo:django`: the Django chat on Daphne and the Node chat, on one
 * channel layer. Open both URLs, join one room.
 *
 *   npm run demo:django                       Redis (CHANNEL_LAYER_URL, default redis://127.0.0.1:6379/1, not
 *                                             database 0 where a developer's own data usually lives;
 *                                             redis+pubsub://… for the pub/sub layers)
 *   npm run demo:django -- --broker           no Redis: a broker started here, Django on channel_layers.BrokerChannelLayer
 *   CHANNEL_LAYER_URL=tcp://127.0.0.1:6741 npm run demo:django     a broker already running (`npm start`)
 */
import { BrokerServer, createChannelLayer } from "../../src/index.js";
import { startChatServer } from "../chat/chat.js";
import { startDaphne } from "./daphne.js";

const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== "--broker");
if (unknown.length > 0) {
  console.error(`unknown argument ${unknown[0]}: use --broker, or set CHANNEL_LAYER_URL`);
  process.exit(2);
}
const broker = args.includes("--broker") ? new BrokerServer({ listen: "tcp://127.0.0.1:0" }) : undefined;
const layerUrl = broker ? (await broker.listen())[0]! : (process.env.CHANNEL_LAYER_URL ?? "redis://127.0.0.1:6379/1");
if (!/^(rediss?(\+pubsub)?|tcp|tls|unix):\/\//.test(layerUrl)) {
  console.error(`CHANNEL_LAYER_URL must be redis://, rediss://, redis+pubsub://, rediss+pubsub://, tcp://, tls:// or unix:// (Django shares it), got ${layerUrl}`);
  process.exit(2);
}
const daphne = await startDaphne(layerUrl, Number(process.env.DJANGO_PORT ?? 8001));
const layer = createChannelLayer(layerUrl);
const chat = await startChatServer({ layer, port: Number(process.env.PORT ?? 8000), host: "127.0.0.1" });
console.log(`django chat on ${daphne.url} (daphne)`);
console.log(`node chat on ${chat.url}`);
console.log(`channel layer: ${layerUrl}${broker ? " (a broker started by this demo; no Redis)" : ""}`);

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await chat.close();
  await layer.close();
  await daphne.stop();
  await broker?.close();
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
daphne.child.once("exit", () => void stop());
