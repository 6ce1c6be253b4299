/**
 * One process of the bigroom bench (bigroom.ts): a consumer holding its
 * share of the group's members (one `!` channel each, as Channels consumers
 * have), or the sender. Told what to do by its parent over the IPC channel.
 */
import { createChannelLayer, IpcChannelLayer, type ChannelLayer } from "../src/index.js";
import { armRound, joinGroup, sendRound, type BigroomCommand } from "./bigroom-roles.js";

const spec = JSON.parse(process.argv[2]!) as { url?: string };
const layer: ChannelLayer = spec.url === undefined ? new IpcChannelLayer({ capacity: Infinity }) : createChannelLayer(spec.url, { capacity: Infinity });
let members: string[] = [];

process.on("message", (m: Partial<BigroomCommand>) => {
  if (m.cmd === undefined) return; // the IPC layer's own handshake
  const work = (async (): Promise<unknown> => {
    switch (m.cmd) {
      case "join":
        members = await joinGroup(layer, m.group!, m.members!);
        return {};
      case "arm":
        // Armed at once; the round's result comes later as its own message.
        void armRound(layer, members, m.k!, (i, at) => process.send!({ done: i, at }));
        return {};
      case "send":
        return { sent: await sendRound(layer, m.group!, m.from!, m.k!) };
      case "close":
        await layer.close();
        return {};
    }
  })();
  work.then(
    // After close, the IPC channel goes too: the process then ends by itself (and writes its --cpu-prof profile).
    (result) => process.send!({ reply: m.cmd, ...(result as object) }, () => m.cmd === "close" && process.disconnect()),
    (err: Error) => process.send!({ error: err.stack ?? String(err) }),
  );
});
process.send!({ reply: "started" });
