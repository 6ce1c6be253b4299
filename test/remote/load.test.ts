/**
 * Many clients at once: 200 layers, each sending 500 messages through shared
 * worker channels and a few group messages to its group, everything received
 * exactly once.
 */
import { setMaxListeners } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RemoteChannelLayer, type BrokerServer } from "../../src/index.js";
import { startBroker } from "./helpers.js";

const CLIENTS = 200;
const PER_CLIENT = 500;
const WORKER_CHANNELS = 4;
const GROUPS = 10;
const GROUP_SENDS = 3;

describe("200 concurrent clients", () => {
  let broker: { server: BrokerServer; url: string };
  beforeAll(async () => {
    broker = await startBroker({ capacity: Infinity, maxConnections: CLIENTS + 10 });
  });
  afterAll(() => broker.server.close());

  it("worker channels and groups lose nothing and duplicate nothing", { timeout: 60_000 }, async () => {
    const layers = Array.from({ length: CLIENTS }, () => new RemoteChannelLayer(broker.url, { capacity: Infinity }));
    const inboxes = await Promise.all(layers.map((l) => l.newChannel("inbox")));
    await Promise.all(layers.map((l, i) => l.groupAdd(`group${i % GROUPS}`, inboxes[i]!)));

    const work = new Set<string>();
    let workDuplicates = 0;
    const groupSeen = layers.map(() => new Set<string>());
    let groupDuplicates = 0;
    const workTotal = CLIENTS * PER_CLIENT;
    const groupTotal = CLIENTS * GROUP_SENDS * (CLIENTS / GROUPS);
    let groupReceived = 0;
    const stop = new AbortController();
    setMaxListeners(2 * CLIENTS + 10, stop.signal); // every receive loop listens to this one signal
    const allIn = new Promise<void>((resolve) => {
      const check = (): void => {
        if (work.size === workTotal && groupReceived === groupTotal) resolve();
      };
      // Every client consumes one worker channel (50 consumers each) and its own inbox.
      layers.forEach((l, i) => {
        void (async () => {
          for (;;) {
            const m = await l.receive(`work.${i % WORKER_CHANNELS}`, { signal: stop.signal }).catch(() => undefined);
            if (m === undefined) return;
            const key = m.key as string;
            if (work.has(key)) workDuplicates++;
            work.add(key);
            check();
          }
        })();
        void (async () => {
          for (;;) {
            const m = await l.receive(inboxes[i]!, { signal: stop.signal }).catch(() => undefined);
            if (m === undefined) return;
            const key = m.key as string;
            if (groupSeen[i]!.has(key)) groupDuplicates++;
            groupSeen[i]!.add(key);
            groupReceived++;
            check();
          }
        })();
      });
    });

    await Promise.all(
      layers.map(async (l, i) => {
        for (let k = 0; k < PER_CLIENT; k++) {
          const send = l.send(`work.${k % WORKER_CHANNELS}`, { type: "job", key: `${i}:${k}` });
          if (k % 50 === 49) await send; // a few in flight per client at a time
        }
        for (let g = 0; g < GROUP_SENDS; g++) await l.groupSend(`group${i % GROUPS}`, { type: "news", key: `${i}:${g}` });
      }),
    );
    await allIn;
    stop.abort();
    await Promise.all(layers.map((l) => l.close()));

    expect(work.size).toBe(workTotal);
    expect(workDuplicates).toBe(0);
    expect(groupReceived).toBe(groupTotal);
    expect(groupDuplicates).toBe(0);
    expect(broker.server.stats()).toMatchObject({ messages: 0, waitingReceivers: 0 });
  });
});
