"""A channels_redis layer driven over stdin/stdout, for the interop tests.

    /usr/bin/python3 peer.py '{"hosts": [...], "prefix": "...", ...}'

Each stdin line is a JSON request {"id", "op", ...}; each stdout line the
reply {"id", "result"} or {"id", "error"}. Values travel as JSON with tags:
{"$bytes": base64} for bytes, {"$int": "digits"} for integers JSON numbers
cannot hold exactly, {"$float": x} for floats (so 2.0 stays a float), and
{"$type": name} reports the Python type a value arrived as.
"""
import asyncio
import base64
import json
import sys

from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer


def decode(v):
    if isinstance(v, dict):
        if "$bytes" in v:
            return base64.b64decode(v["$bytes"])
        if "$int" in v:
            return int(v["$int"])
        if "$float" in v:
            return float(v["$float"])
        return {k: decode(x) for k, x in v.items()}
    if isinstance(v, list):
        return [decode(x) for x in v]
    return v


def encode(v):
    if isinstance(v, bytes):
        return {"$bytes": base64.b64encode(v).decode()}
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v if abs(v) < 2**53 else {"$int": str(v)}
    if isinstance(v, float):
        return {"$float": v}
    if isinstance(v, dict):
        return {k: encode(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [encode(x) for x in v]
    return {"$type": type(v).__name__}


async def handle(layer, req):
    op = req["op"]
    if op == "new_channel":
        return await layer.new_channel(req.get("prefix", "specific"))
    if op == "send":
        await layer.send(req["channel"], decode(req["message"]))
        return None
    if op == "receive":
        return encode(await asyncio.wait_for(layer.receive(req["channel"]), req.get("timeout", 5)))
    if op == "group_add":
        await layer.group_add(req["group"], req["channel"])
        return None
    if op == "group_discard":
        await layer.group_discard(req["group"], req["channel"])
        return None
    if op == "group_send":
        await layer.group_send(req["group"], decode(req["message"]))
        return None
    if op == "flush":
        await layer.flush()
        return None
    if op == "consistent_hash":
        return layer.consistent_hash(req["value"])
    if op == "serialize":
        return {"$bytes": base64.b64encode(layer.serialize(decode(req["message"]))).decode()}
    raise ValueError(f"unknown op {op}")


async def answer(req, handler):
    """The reply line to one request: its result, or the error the test checks for."""
    try:
        return {"id": req["id"], "result": await handler(req)}
    except ChannelFull:
        return {"id": req["id"], "error": "ChannelFull"}
    except asyncio.TimeoutError:
        return {"id": req["id"], "error": "Timeout"}
    except Exception as e:  # reported to the test, which fails on it
        return {"id": req["id"], "error": f"{type(e).__name__}: {e}"}


async def serve_lines(handler, ready, concurrent=False):
    """Print `ready`, then answer each stdin request line with `handler` until
    stdin ends or a "close" request comes. One at a time, or `concurrent`ly
    (so a receive may wait while the test sends through other requests)."""
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True, **ready}), flush=True)
    tasks = set()

    async def one(req):
        print(json.dumps(await answer(req, handler)), flush=True)

    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        req = json.loads(line)
        if req["op"] == "close":
            break
        if concurrent:
            task = asyncio.ensure_future(one(req))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        else:
            await one(req)


async def main():
    config = json.loads(sys.argv[1])
    layer = RedisChannelLayer(**config)
    await serve_lines(lambda req: handle(layer, req), {"client_prefix": layer.client_prefix})
    await layer.close_pools()


if __name__ == "__main__":
    asyncio.run(main())
