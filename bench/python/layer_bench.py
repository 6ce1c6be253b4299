"""The four bench workloads on Django Channels' own layers, mirroring
bench/workloads.ts line for line, so that the rows compare like with like.

    /usr/bin/python3 layer_bench.py --layer memory|redis|pubsub|broker --workload W --n N [--redis URL] [--url BROKER_URL]

`broker` is this repository's channel_layers.BrokerChannelLayer (python/), imported from the tree.

Prints one JSON object: {"seconds", "ops", "p50Ms"?, "p99Ms"?}.
"""
import argparse
import asyncio
import json
import os
import sys
import time

BATCH = 1000
FANOUT_MEMBERS = 100
FANOUT_SENDS = 50
CONCURRENT_PAIRS = 64


def payload(i):
    return {"type": "bench.message", "i": i, "text": "hello world"}


def make_layer(kind, n, redis_url, prefix, expiry, broker_url):
    capacity = max(n, 1000)
    if kind == "broker":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
        from channel_layers import BrokerChannelLayer

        # Capacity and expiry are the broker's (bench/backends/python-broker.ts starts it).
        return BrokerChannelLayer(url=broker_url)
    if kind == "pubsub":
        from channels_redis.pubsub import RedisPubSubChannelLayer

        return RedisPubSubChannelLayer(hosts=[redis_url], prefix=prefix)
    if kind == "memory":
        from channels.layers import InMemoryChannelLayer

        return InMemoryChannelLayer(capacity=capacity)
    from channels_redis.core import RedisChannelLayer

    # A long expiry: at full size Python needs more than the default 60 s to send the
    # pipeline, and messages that expire unread would leave its receives waiting forever.
    return RedisChannelLayer(hosts=[redis_url], capacity=capacity, prefix=prefix, expiry=expiry)


async def listen(layer, channel):
    """Pub/sub keeps nothing for a channel nobody listens on: subscribe before the first send
    (what the layer's own receive would do; bench/backends/redis-pubsub.ts does the same)."""
    inner = getattr(layer, "_get_layer", None)
    if inner is not None and channel not in inner().channels:
        await inner()._subscribe_to_channel(channel)


# Every SAMPLE-th round trip is timed, as in bench/workloads.ts.
SAMPLE = 16


async def pingpong(layer, n, tag):
    ch = f"bench.pingpong.{tag}"
    await listen(layer, ch)
    rtt = []
    start = time.perf_counter()
    for i in range(n):
        if i % SAMPLE == 0:
            t = time.perf_counter()
            await layer.send(ch, payload(i))
            await layer.receive(ch)
            rtt.append((time.perf_counter() - t) * 1000)
        else:
            await layer.send(ch, payload(i))
            await layer.receive(ch)
    seconds = time.perf_counter() - start
    rtt.sort()
    return {"seconds": seconds, "ops": n, "p50Ms": rtt[len(rtt) // 2], "p99Ms": rtt[min(len(rtt) - 1, int(0.99 * len(rtt)))]}


async def pipeline(layer, n, tag):
    ch = f"bench.pipeline.{tag}"
    await listen(layer, ch)
    start = time.perf_counter()
    for i in range(0, n, BATCH):
        await asyncio.gather(*(layer.send(ch, payload(j)) for j in range(i, min(n, i + BATCH))))
    for i in range(0, n, BATCH):
        await asyncio.gather(*(layer.receive(ch) for _ in range(i, min(n, i + BATCH))))
    return {"seconds": time.perf_counter() - start, "ops": n}


async def fanout(layer, n, tag):
    rounds = max(1, -(-n // (FANOUT_MEMBERS * FANOUT_SENDS)))
    group = f"bench.fanout.{tag}"
    members = [f"{group}.member{i}" for i in range(FANOUT_MEMBERS)]
    for m in members:
        await listen(layer, m)  # the pubsub layer's group_add wants channels it listens on
    await asyncio.gather(*(layer.group_add(group, m) for m in members))

    async def drain(m):
        for _ in range(FANOUT_SENDS):
            await layer.receive(m)

    start = time.perf_counter()
    for _ in range(rounds):
        for i in range(FANOUT_SENDS):
            await layer.group_send(group, payload(i))
        await asyncio.gather(*(drain(m) for m in members))
    seconds = time.perf_counter() - start
    await asyncio.gather(*(layer.group_discard(group, m) for m in members))
    return {"seconds": seconds, "ops": rounds * FANOUT_MEMBERS * FANOUT_SENDS}


async def concurrent(layer, n, tag):
    per_pair = -(-n // CONCURRENT_PAIRS)
    base = f"bench.concurrent.{tag}"

    for p in range(CONCURRENT_PAIRS):
        await listen(layer, f"{base}.{p}")

    async def pair(p):
        ch = f"{base}.{p}"

        async def receiver():
            for _ in range(per_pair):
                await layer.receive(ch)

        task = asyncio.ensure_future(receiver())
        for i in range(per_pair):
            await layer.send(ch, payload(i))
        await task

    start = time.perf_counter()
    await asyncio.gather(*(pair(p) for p in range(CONCURRENT_PAIRS)))
    return {"seconds": time.perf_counter() - start, "ops": per_pair * CONCURRENT_PAIRS}


WORKLOADS = {"pingpong": pingpong, "pipeline": pipeline, "fanout": fanout, "concurrent": concurrent}


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--layer", choices=["memory", "redis", "pubsub", "broker"], required=True)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--prefix", default="asgibench")
    parser.add_argument("--expiry", type=int, default=60)
    parser.add_argument("--url", default="tcp://127.0.0.1:6741", help="the broker, for --layer broker")
    args = parser.parse_args()
    tag = f"{os.getpid()}"
    layer = make_layer(args.layer, args.n, args.redis, args.prefix, args.expiry, args.url)
    try:
        result = await WORKLOADS[args.workload](layer, args.n, tag)
    finally:
        if args.layer == "redis":
            await layer.flush()
            await layer.close_pools()
        elif args.layer == "pubsub":
            await layer.flush()
        elif args.layer == "broker":
            await layer.flush()
            await layer.close()
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
