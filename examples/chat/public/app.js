// The chat page: join a room over a WebSocket, show what the room says.
const $ = (id) => document.getElementById(id);
const messages = $("messages");
let socket = null;

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

function setConnected(connected, status) {
  $("status").textContent = status;
  $("text").disabled = !connected;
  $("send").disabled = !connected;
}

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (socket) socket.close(1000);
  messages.replaceChildren();
  const room = $("room").value.trim();
  const name = $("name").value.trim();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/chat/${encodeURIComponent(room)}?name=${encodeURIComponent(name)}`);
  socket = ws;
  setConnected(false, `joining ${room}…`);
  ws.addEventListener("message", (e) => {
    const m = JSON.parse(e.data);
    if (m.type === "welcome") setConnected(true, `in room ${m.room} as ${m.user}`);
    else if (m.type === "message") show(m.text, "message", m.user);
    else if (m.type === "notice") show(m.text, "notice");
    else if (m.type === "error") show(m.message, "error");
  });
  ws.addEventListener("close", (e) => {
    if (socket === ws) setConnected(false, `disconnected (code ${e.code})`);
  });
});

$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify({ type: "message", text }));
  $("text").value = "";
});
