/**
 * ioredis and ws, loaded the first time a Redis layer or a WebSocket server
 * needs them rather than when the package is imported: `memory://`, IPC and
 * broker users never pay for them (~160 ms of startup on a small machine).
 * Both are CommonJS, so `require` loads them synchronously — the layers'
 * constructors and `serve()` stay synchronous — and hands out the very module
 * an `import` of them would (one copy, one `instanceof`).
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

let ioredis: typeof import("ioredis") | undefined;
let ws: typeof import("ws") | undefined;

export function loadIoredis(): typeof import("ioredis") {
  return (ioredis ??= require("ioredis") as typeof import("ioredis"));
}

export function loadWs(): typeof import("ws") {
  return (ws ??= require("ws") as typeof import("ws"));
}
