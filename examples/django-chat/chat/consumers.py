"""The Django twin of examples/chat/chat.ts: the same room groups
("chat.room.<room>"), the same layer messages ("chat.message" with id, user and
text, "chat.notice" with text) and the same frames to the browser, so a page
on Daphne and a page on the Node server chat in one room.
"""
import random
import re
import secrets
import time
from collections import OrderedDict, deque
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer

ROOM = re.compile(r"^[a-zA-Z0-9_-]{1,40}$")
MAX_TEXT = 2000
HISTORY = 50
MAX_ROOMS = 1000

# The last messages of each room this process has seen, as the Node server keeps them
# (a demo bound, not a database): every consumer of a room gets each message, the first records it.
history = OrderedDict()


def remember(room, said):
    if room not in history:
        if len(history) >= MAX_ROOMS:
            history.popitem(last=False)
        history[room] = deque(maxlen=HISTORY)
    if all(m["id"] != said["id"] for m in history[room]):
        history[room].append(said)


def history_of(room):
    return [dict(m) for m in history.get(room, ())]


class ChatConsumer(AsyncJsonWebsocketConsumer):
    group = ""
    room = ""
    user = ""

    async def connect(self):
        room = self.scope["url_route"]["kwargs"].get("room", "")
        if not ROOM.match(room):
            await self.close()
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        self.user = (query.get("name", [""])[0]).strip()[:32] or f"guest-{random.randrange(10000)}"
        self.group = f"chat.room.{room}"
        self.room = room
        await self.accept()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "welcome", "room": room, "user": self.user, "history": history_of(room)})
        await self.channel_layer.group_send(self.group, {"type": "chat.notice", "text": f"{self.user} joined"})

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "history":
            await self.send_json({"type": "history", "messages": history_of(self.room)})
            return
        text = content.get("text") if isinstance(content, dict) and content.get("type") == "message" else None
        text = text.strip() if isinstance(text, str) else ""
        if not text:
            await self.send_json({"type": "error", "code": "ERR_BAD_MESSAGE", "message": 'send {"type": "message", "text": "..."} with some text'})
            return
        said_id = f"{int(time.time() * 1000):x}-{secrets.token_hex(4)}"
        await self.channel_layer.group_send(self.group, {"type": "chat.message", "id": said_id, "user": self.user, "text": text[:MAX_TEXT]})

    async def decode_json(self, text_data):
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None  # answered as a bad message, not a crashed consumer

    async def chat_message(self, event):
        said = {"id": str(event.get("id")), "user": event["user"], "text": event["text"]}
        remember(self.room, said)
        await self.send_json({"type": "message", **said})

    async def chat_notice(self, event):
        await self.send_json({"type": "notice", "text": event["text"]})

    async def disconnect(self, code):
        if not self.group:
            return
        # Leave first, so the notice goes only to those who stay.
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.channel_layer.group_send(self.group, {"type": "chat.notice", "text": f"{self.user} left"})
