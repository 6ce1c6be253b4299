"""`python3 manage.py serve_route CHANNEL`: a Django worker behind the gateway.

Each message on CHANNEL is an `http.request` from the Node gateway
(`channel-layers gateway --route "POST /thumbnails CHANNEL"`); the reply,
sent to the message's `reply_channel`, is `{status, headers, body}`.
"""
import asyncio

from channels.layers import get_channel_layer
from django.core.management.base import BaseCommand


def handle_request(message):
    """The view, as a plain function of the request message."""
    body = message.get("body")
    if message["method"] == "POST" and not isinstance(body, dict):
        return {"type": "http.response", "status": 400, "body": {"error": "send a JSON object"}}
    return {
        "type": "http.response",
        "status": 200,
        "headers": {"x-served-by": "django"},
        "body": {"path": message["path"], "params": message.get("params", {}), "echo": body},
    }


class Command(BaseCommand):
    help = "Answer the gateway's http.request messages on CHANNEL."

    def add_arguments(self, parser):
        parser.add_argument("channel")

    def handle(self, *args, **options):
        asyncio.run(self.serve(options["channel"]))

    async def serve(self, channel):
        layer = get_channel_layer()
        self.stdout.write(f"serving {channel}", ending="\n")
        self.stdout.flush()
        while True:
            message = await layer.receive(channel)
            reply_channel = message.get("reply_channel")
            if not reply_channel:
                continue
            try:
                reply = handle_request(message)
            except Exception as err:  # the caller gets an error reply, as runWorker sends
                reply = {"type": "error", "code": type(err).__name__, "message": str(err)}
            await layer.send(reply_channel, reply)
