// The chat page: join a room with channel-layers' browser client, show what
// the room says and where the connection stands. After a reconnect the
// server catches the page up from the room's history (docs/recovery.md):
// the client sends where it stands and gets every message it missed, once.
// When that cannot be done (recovered: false) the server sends the latest
// messages instead, and the page shows those.
import { connect, trackPresence } from "/channel-layers/browser.js";

const $ = (id) => document.getElementById(id);
const messages = $("messages");
let connection = null;
let joined = "";

// Who is online: the server sends the list with its welcome, then each join and leave.
const online = trackPresence((members) => {
  const items = [...members.values()].map((info) => {
    const li = document.createElement("li");
    li.textContent = info?.user ?? "?"; // text, never HTML
    return li;
  });
  $("online").replaceChildren(...items);
});

function show(text, kind, user) {
  const li = document.createElement("li");
  li.className = kind;
  if (user) {
    const who = document.createElement("strong");
    who.textContent = `${user}: `;
    li.append(who);
  }
  li.append(document.createTextNode(text)); // text, never HTML: other people wrote it
  messages.append(li);
  li.scrollIntoView({ block: "end" });
}

function setStatus(text, connected) {
  $("status").textContent = text;
  $("text").disabled = !connected;
  $("send").disabled = !connected;
}

function onState(state, info) {
  if (state !== "open") online.clear();
  if (state === "open") setStatus(info.reconnected ? `reconnected to ${joined}` : `joining ${joined}…`, info.reconnected);
  else if (state === "reconnecting") setStatus(`reconnecting in ${(info.delay / 1000).toFixed(1)} s (attempt ${info.attempt}, code ${info.code})…`, false);
  else if (state === "closed" && info.code) setStatus(`disconnected (code ${info.code})`, false);
}

function onMessage(m) {
  if (online.handle(m)) return;
  if (m.type === "welcome") {
    setStatus(`in room ${m.room} as ${m.user}`, true);
    online.handle({ type: "presence", entries: m.online ?? [] });
  } else if (m.type === "message") show(m.text, "message", m.user);
  else if (m.type === "notice") show(m.text, "notice");
  else if (m.type === "error") show(m.message, "error");
}

// Recovered: what was missed follows, nothing to do. Not: the latest messages follow instead; start the list again.
function onResume({ recovered, first }) {
  if (recovered) return;
  messages.replaceChildren();
  if (!first) show("some messages could not be caught up: showing the latest", "notice");
}

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  connection?.close();
  messages.replaceChildren();
  joined = $("room").value.trim();
  const name = $("name").value.trim();
  connection = connect(`/ws/chat/${encodeURIComponent(joined)}?name=${encodeURIComponent(name)}`, {
    onState,
    maxDelay: 5000,
    onMessage,
    onResume,
    // Only when the server keeps no history for the room (the page holds no position): what was sent meanwhile is gone.
    resync: (_c, { group }) => group === undefined && show("reconnected: messages sent meanwhile may be missing", "notice"),
  });
});

$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text || !connection?.send({ type: "message", text })) return;
  $("text").value = "";
});
