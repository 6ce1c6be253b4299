// channel-layers/browser: a WebSocket client for routes served by serve().
// Plain ES module, no dependencies and no build step: a page can load it with
// <script type="module"> as it is. It reconnects by itself with exponential
// backoff and jitter (so a thousand pages do not all come back in the same
// millisecond), says where it stands through onState, and calls resync after
// every reconnect: what was sent while it was away is gone, so the page asks
// for what it missed (history, presence). Types: index.d.ts beside this file.

/** Close codes after which trying again cannot help: the server refused this client for good. */
const FINAL_CODES = new Set([1003, 1007, 1008, 1009]);

/**
 * Connect to `url` (ws:, wss:, or a path such as "/ws/chat/lobby" on this page's host).
 * @param {string} url
 * @param {import("./index.js").ConnectOptions} [options]
 * @returns {import("./index.js").Connection}
 */
export function connect(url, options = {}) {
  const WS = options.WebSocket ?? globalThis.WebSocket;
  if (typeof WS !== "function") throw new TypeError("channel-layers/browser: no WebSocket here; pass options.WebSocket");
  const format = options.format ?? "json";
  if (format !== "json" && format !== "msgpack") throw new TypeError(`format must be "json" or "msgpack", got ${JSON.stringify(format)}`);
  if (format === "msgpack" && !(options.codec && typeof options.codec.encode === "function" && typeof options.codec.decode === "function")) {
    throw new TypeError('format "msgpack" needs options.codec = { encode, decode } (this module brings no msgpack of its own)');
  }
  const minDelay = options.minDelay ?? 250;
  const maxDelay = options.maxDelay ?? 10_000;
  const target = absolute(url);

  /** @type {import("./index.js").ConnectionState} */
  let state = "connecting";
  /** @type {WebSocket | undefined} */
  let ws;
  let attempt = 0;
  let opened = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let stopped = false;
  /** Frames waiting for their acknowledgement, by id: settled by the answer, a timeout, or the socket closing. */
  const pending = new Map();
  let nextAck = 1;

  /** @type {import("./index.js").Connection} */
  const connection = {
    get state() {
      return state;
    },
    send(content) {
      if (state !== "open" || ws === undefined) return false;
      ws.send(encode(content));
      return true;
    },
    sendWithAck(content, { timeout = 10_000 } = {}) {
      if (state !== "open" || ws === undefined) return Promise.reject(ackError("not connected: nothing was sent", "ERR_NOT_CONNECTED"));
      const id = nextAck;
      nextAck = nextAck >= 2 ** 31 - 1 ? 1 : nextAck + 1;
      ws.send(encode({ $ack: id, $content: content }));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(ackError(`no answer from the server within ${timeout} ms`, "ERR_ACK_TIMEOUT"));
        }, timeout);
        pending.set(id, { resolve, reject, timer });
      });
    },
    close() {
      stopped = true;
      clearTimeout(timer);
      if (ws) ws.close(1000);
      failPending("the connection was closed");
      setState("closed", {});
    },
  };

  function encode(content) {
    return format === "json" ? JSON.stringify(content) : options.codec.encode(content);
  }

  /** An answer to one of our frames: settles its promise. Whether `content` was one. */
  function answered(content) {
    if (typeof content !== "object" || content === null || !("$ack" in content)) return false;
    const waiting = pending.get(content.$ack);
    if (waiting === undefined) return true; // answered after its timeout: nobody waits for it
    pending.delete(content.$ack);
    clearTimeout(waiting.timer);
    if ("$error" in content) waiting.reject(ackError(`the server's handler failed (${content.$error})`, String(content.$error)));
    else waiting.resolve(content.$reply);
    return true;
  }

  /** The socket these frames went out on is gone: their answers will never come. */
  function failPending(why) {
    for (const waiting of pending.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(ackError(`${why} before the server answered`, "ERR_CONNECTION_CLOSED"));
    }
    pending.clear();
  }

  function setState(next, info) {
    if (state === "closed") return;
    state = next;
    call(options.onState, next, info);
  }

  function call(fn, ...args) {
    if (typeof fn !== "function") return;
    try {
      fn(...args);
    } catch (err) {
      // A throwing callback must not stop the reconnecting; it is still shown.
      setTimeout(() => {
        throw err;
      });
    }
  }

  function open() {
    timer = undefined;
    let socket;
    try {
      socket = new WS(target, options.protocols);
    } catch (err) {
      return retry(1006, String(err && err.message));
    }
    ws = socket;
    if (format === "msgpack") socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      if (ws !== socket) return;
      const reconnected = opened > 0;
      opened++;
      attempt = 0;
      setState("open", { reconnected });
      if (reconnected) call(options.resync, connection);
    };
    socket.onmessage = (event) => {
      if (ws !== socket) return;
      let content;
      try {
        content = format === "json" ? JSON.parse(event.data) : options.codec.decode(new Uint8Array(event.data));
      } catch {
        return; // not ours to guess at; the server speaks the route's format
      }
      if (!answered(content)) call(options.onMessage, content);
    };
    socket.onerror = () => {}; // a close event always follows, with the code
    socket.onclose = (event) => {
      if (ws !== socket) return;
      ws = undefined;
      failPending(`the connection closed (${event.code})`);
      if (stopped) return;
      if (FINAL_CODES.has(event.code)) return setState("closed", { code: event.code, reason: event.reason });
      retry(event.code, event.reason);
    };
  }

  function retry(code, reason) {
    // Exponential, capped, with "equal jitter": between half and all of the step.
    const step = Math.min(maxDelay, minDelay * 2 ** Math.min(attempt, 20));
    const delay = Math.round(step / 2 + (Math.random() * step) / 2);
    attempt++;
    setState("reconnecting", { code, reason, attempt, delay });
    timer = setTimeout(open, delay);
  }

  open();
  return connection;
}

/** A path is taken on this page's host, ws: or wss: as the page is http: or https:. */
function absolute(url) {
  if (/^wss?:\/\//i.test(url)) return url;
  const loc = globalThis.location;
  if (!loc) throw new TypeError(`"${url}" is not a ws:// or wss:// URL, and there is no page location to resolve it against`);
  const base = new URL(url, loc.href);
  base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
  return base.href;
}

/** The Error a `sendWithAck` rejects with, with a `code` to branch on. */
function ackError(message, code) {
  return Object.assign(new Error(`channel-layers/browser: sendWithAck: ${message}`), { code });
}

/**
 * Who is here, kept from the frames a server sends (docs/presence.md): a
 * `{ type: "presence", entries: [{ channel, info }] }` frame sets the whole
 * list, `presence.join` adds one, `presence.leave` removes one. Pass every
 * frame to `handle`; it returns whether the frame was about presence.
 */
export function trackPresence(onChange) {
  const members = new Map();
  const changed = (event) => {
    if (typeof onChange === "function") onChange(members, event);
  };
  return {
    members,
    handle(content) {
      if (typeof content !== "object" || content === null) return false;
      if (content.type === "presence" && Array.isArray(content.entries)) {
        members.clear();
        for (const e of content.entries) if (e && typeof e.channel === "string") members.set(e.channel, e.info);
        changed({ type: "presence" });
        return true;
      }
      if ((content.type === "presence.join" || content.type === "presence.leave") && typeof content.channel === "string") {
        if (content.type === "presence.join") members.set(content.channel, content.info);
        else members.delete(content.channel);
        changed({ type: content.type, channel: content.channel, info: content.info });
        return true;
      }
      return false;
    },
    clear() {
      members.clear();
      changed({ type: "presence" });
    },
  };
}
