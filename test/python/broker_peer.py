"""A BrokerChannelLayer (this repository's python/ package, not an installed
copy) driven over stdin/stdout, for the interop tests; the same line protocol
as test/redis/peer.py, whose value tags it reuses.

    /usr/bin/python3 broker_peer.py '{"url": "tcp://…", …BrokerChannelLayer kwargs}'
"""
import asyncio
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "redis"))

from channel_layers import BrokerChannelLayer, wire  # noqa: E402
from peer import decode, serve_lines  # noqa: E402  (test/redis/peer.py)
from peer import handle as common_handle  # noqa: E402


async def cancel_race(layer, channel, message):
    """A receive cancelled in the same turn as a send reaches it: the broker
    answers the receive before it reads the cancel, so the message arrives
    for a caller that is gone, and must go back to the head of the channel."""
    waiting = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0.05)  # the receive is in the broker
    sent = asyncio.ensure_future(layer.send(channel, message))
    waiting.cancel()
    await sent
    try:
        await waiting
    except asyncio.CancelledError:
        return "cancelled"
    return "received"


async def close_while_receiving(layer, channel):
    """Close the layer while a receive waits on `channel`: the receive ends with LayerClosed."""
    waiting = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0.1)
    await layer.close()
    try:
        await waiting
    except Exception as e:
        return type(e).__name__
    return "received"


async def handle(layer, req):
    """This layer's own ops; the rest as test/redis/peer.py serves them."""
    op = req["op"]
    if op == "cancel_race":
        return await cancel_race(layer, req["channel"], decode(req["message"]))
    if op == "close_while_receiving":
        return await close_while_receiving(layer, req["channel"])
    if op == "settings":
        return {"expiry": layer.expiry, "group_expiry": layer.group_expiry, "capacity": layer.capacity}
    return await common_handle(layer, req)


async def main():
    config = json.loads(sys.argv[1])
    version = config.pop("protocol_version", None)
    if version is not None:
        wire.PROTOCOL_VERSION = version
    layer = BrokerChannelLayer(**config)
    await serve_lines(lambda req: handle(layer, req), {"client_prefix": layer.instance_id})
    await layer.close()


if __name__ == "__main__":
    asyncio.run(main())
