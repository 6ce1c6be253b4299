"""channels_redis' RedisPubSubChannelLayer driven over stdin/stdout, for the
interop tests: the same line protocol and value tags as test/redis/peer.py
(whose handlers it reuses), plus "pubsub_channels" to ask which channels the
layer's shards subscribed to.

    /usr/bin/python3 peer.py '{"hosts": [...], "prefix": "..."}'
"""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "redis"))

from channels_redis.pubsub import RedisPubSubChannelLayer  # noqa: E402
from peer import handle, serve_lines  # noqa: E402


async def main():
    config = json.loads(sys.argv[1])
    layer = RedisPubSubChannelLayer(**config)

    async def handler(req):
        if req["op"] == "new_channel":
            # Python's default prefix is "specific." (with the dot).
            return await layer.new_channel(req.get("prefix", "specific") + ".")
        return await handle(layer, req)

    await serve_lines(handler, {"client_prefix": ""}, concurrent=True)
    await layer.flush()


if __name__ == "__main__":
    asyncio.run(main())
