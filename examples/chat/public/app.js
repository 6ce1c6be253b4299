// The chat page: join a room with channel-layers' browser client, show what
// the room says and where the connection stands. After a reconnect (this
// page's socket dropped) or a gap (the server's channel layer was away) it
// reloads the room's recent messages from the server.
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

function showHistory(list) {
  messages.replaceChildren();
  for (const m of list) show(m.text, "message", m.user);
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
    showHistory(m.history ?? []);
  } else if (m.type === "history") showHistory(m.messages);
  else if (m.type === "message") show(m.text, "message", m.user);
  else if (m.type === "notice") show(m.text, "notice");
  else if (m.type === "error") show(m.message, "error");
  else if (m.type === "resync") {
    // The server's channel layer was away: messages may be missing here. Reload them.
    $("status").textContent = `in room ${joined} (reconnected after ${m.reason})`;
    connection.send({ type: "history" });
  }
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
    // A new socket is a new consumer: its welcome brings the history again, so there is nothing more to ask.
    resync: () => {},
  });
});

$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text || !connection?.send({ type: "message", text })) return;
  $("text").value = "";
});
