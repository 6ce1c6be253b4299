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
from peer import handle  # noqa: E402


async def main():
    config = json.loads(sys.argv[1])
    layer = RedisPubSubChannelLayer(**config)
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True, "client_prefix": ""}), flush=True)
    tasks = set()

    async def serve(req):
        try:
            if req["op"] == "new_channel":
                # Python's default prefix is "specific." (with the dot).
                result = await layer.new_channel(req.get("prefix", "specific") + ".")
            else:
                result = await handle(layer, req)
            reply = {"id": req["id"], "result": result}
        except asyncio.TimeoutError:
            reply = {"id": req["id"], "error": "Timeout"}
        except Exception as e:  # reported to the test, which fails on it
            reply = {"id": req["id"], "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)

    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        req = json.loads(line)
        if req["op"] == "close":
            break
        # Concurrently: a receive waits while the test sends through other requests.
        task = asyncio.ensure_future(serve(req))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await layer.flush()


if __name__ == "__main__":
    asyncio.run(main())
