/**
 * A Node consumer in a child process for read-ahead.test.ts: receives from
 * one channel in a loop and writes each message's `i` to stdout (synchronously,
 * so a SIGKILL can only cut off the message in hand), working `CONSUMER_WORK`
 * ms per message synchronously, as a handler that does not await does (its next
 * receive then comes in the same turn: the case read-ahead serves). Options for
 * the layer come as JSON in `CONSUMER_OPTIONS`.
 */
import { writeSync } from "node:fs";
import { RedisChannelLayer, type RedisLayerOptions } from "../../src/redis/layer.js";

const options = JSON.parse(process.env.CONSUMER_OPTIONS ?? "{}") as RedisLayerOptions;
const layer = new RedisChannelLayer({ hosts: [process.env.REDIS_URL!], prefix: process.env.CONSUMER_PREFIX!, ...options });
const channel = process.env.CONSUMER_CHANNEL!;
const work = Number(process.env.CONSUMER_WORK ?? "0.2");

for (;;) {
  const message = await layer.receive(channel);
  writeSync(1, `${String(message.i)}\n`);
  for (const until = performance.now() + work; performance.now() < until; );
}
