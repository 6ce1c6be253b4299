import { MessageChannel } from "node:worker_threads";
import { expect, it } from "vitest";
import { IpcChannelLayer, serveIpc } from "../../src/index.js";

it("layers made one after another on one port leave no listeners behind on it", async () => {
  const { port1, port2 } = new MessageChannel();
  const server = serveIpc(port2);
  try {
    for (let i = 0; i < 15; i++) {
      const layer = new IpcChannelLayer({ port: port1 });
      await layer.send("listeners.check", { type: "t", i });
      expect((await layer.receive("listeners.check")).i).toBe(i);
      await layer.close();
    }
    expect(port1.listenerCount("close")).toBeLessThanOrEqual(1);
    expect(port1.listenerCount("message")).toBe(0);
  } finally {
    await server.close();
    port1.close();
  }
});
