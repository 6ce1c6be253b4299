// channel-layers/browser: a WebSocket client for routes served by serve().
// Plain ES module, no dependencies and no build step: a page can load it with
// <script type="module"> as it is. It reconnects by itself with exponential
// backoff and jitter (so a thousand pages do not all come back in the same
// millisecond) and says where it stands through onState. It remembers the
// position of the last message it got of each group the server resumes
// (docs/recovery.md) and sends them with every handshake, so the server
// replays what was missed; the page is told per group whether that worked
// (onResume) and resyncs only when it did not. Types: index.d.ts beside this file.

/** Close codes after which trying again cannot help: the server refused this client for good. */
const FINAL_CODES = new Set([1003, 1007, 1008, 1009]);
/** The handshake's query parameter holding the positions (src/consumer/resume-hints.ts reads it). */
const RESUME_PARAM = "$resume";
/** Groups whose positions are kept, at most (the server reads no more): the oldest is forgotten past it. */
const MAX_POSITIONS = 32;

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
  /** The last position seen of each resumed group: group → { epoch, offset }. */
  const positions = new Map();

  /** @type {import("./index.js").Connection} */
  const connection = {
    get state() {
      return state;
    },
    positions,
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

  /** The server's frames about resuming: `$resume` (once per group resumed) and `$group`-tagged content. Whether `content` was one. */
  function resumeFrame(content) {
    if (typeof content !== "object" || content === null) return false;
    if (typeof content.$resume === "string") {
      const group = content.$resume;
      const had = positions.has(group);
      const position = positionOf(content.position);
      // Recovered: the replayed frames carry their positions. Not: the server goes on from its position.
      if (!content.recovered && position) remember(group, position, true);
      call(options.onResume, { group, recovered: content.recovered === true, first: !had });
      if (!content.recovered && had) call(options.resync, connection, { group });
      return true;
    }
    if (typeof content.$group !== "string" || !("$content" in content)) return false;
    const position = positionOf(content.$position);
    if (position) remember(content.$group, position, false);
    call(options.onMessage, content.$content);
    return true;
  }

  /** Keep `position` as the group's latest; a replayed first load never moves it back within an epoch. */
  function remember(group, position, always) {
    const known = positions.get(group);
    if (!always && known && known.epoch === position.epoch && known.offset >= position.offset) return;
    positions.delete(group);
    positions.set(group, position);
    if (positions.size > MAX_POSITIONS) positions.delete(positions.keys().next().value);
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
      socket = new WS(withPositions(target, positions), options.protocols);
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
      // With positions, the server says per group whether it caught up ($resume); without, the page is on its own.
      if (reconnected && positions.size === 0) call(options.resync, connection, {});
    };
    socket.onmessage = (event) => {
      if (ws !== socket) return;
      let content;
      try {
        content = format === "json" ? JSON.parse(event.data) : options.codec.decode(new Uint8Array(event.data));
      } catch {
        return; // not ours to guess at; the server speaks the route's format
      }
      if (!answered(content) && !resumeFrame(content)) call(options.onMessage, content);
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

/** `url` with the positions to resume from (none yet: `{}`, which asks the server to tag its frames with them). */
function withPositions(url, positions) {
  const u = new URL(url);
  const hint = {};
  for (const [group, p] of positions) hint[group] = [p.epoch, p.offset];
  u.searchParams.set(RESUME_PARAM, JSON.stringify(hint));
  return u.href;
}

/** A position as the server sends it, `[epoch, offset]`, or undefined. */
function positionOf(value) {
  if (!Array.isArray(value) || typeof value[0] !== "string" || !Number.isSafeInteger(value[1])) return undefined;
  return { epoch: value[0], offset: value[1] };
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
