"""A background worker: a message on "py-worker" of type "job.run" is answered
on its "reply" channel, with its "n" doubled."""
from channels.consumer import AsyncConsumer
from channels.routing import ChannelNameRouter


class Doubler(AsyncConsumer):
    async def job_run(self, message):
        await self.channel_layer.send(message["reply"], {"type": "job.done", "n": message["n"] * 2})


application = ChannelNameRouter({"py-worker": Doubler.as_asgi()})
