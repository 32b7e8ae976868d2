"""Uncontended lock acquire+release pairs per second and Redis round trips per pair, vs redis-py's Lock.

make bench BENCH_ARGS="locks --seconds 3"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import Callable, Iterator

import redis.asyncio.connection as async_connection
import redis.connection as sync_connection
from redis.asyncio.lock import Lock as AsyncRedisPyLock
from redis.lock import Lock as RedisPyLock

from redis_toolkit.client import aget_redis, get_redis, redis_key
from redis_toolkit.locks import PURPOSE, aredis_lock, redis_lock


@contextlib.contextmanager
def round_trips() -> Iterator[list[int]]:
    """Count commands sent to Redis (one send = one round trip; a pipeline would be one send)."""
    count = [0]
    sync_send = sync_connection.AbstractConnection.send_packed_command
    async_send = async_connection.AbstractConnection.send_packed_command

    def counted_send(self, *args, **kwargs):
        count[0] += 1
        return sync_send(self, *args, **kwargs)

    async def acounted_send(self, *args, **kwargs):
        count[0] += 1
        return await async_send(self, *args, **kwargs)

    sync_connection.AbstractConnection.send_packed_command = counted_send
    async_connection.AbstractConnection.send_packed_command = acounted_send
    try:
        yield count
    finally:
        sync_connection.AbstractConnection.send_packed_command = sync_send
        async_connection.AbstractConnection.send_packed_command = async_send


def sync_variants(name: str) -> dict[str, Callable[[], None]]:
    client = get_redis(PURPOSE)  # the connection pool our locks use, so both sides pay the same
    redis_py = RedisPyLock(client, redis_key("bench", "redis-py-lock"), timeout=10)

    def redis_py_pair() -> None:
        redis_py.acquire(blocking=False)
        redis_py.release()

    def ours_with() -> None:
        with redis_lock(name, ttl=10):
            pass

    def ours_watchdog() -> None:
        with redis_lock(name, ttl=10, watchdog=True):
            pass

    return {
        "redis-py `Lock` (sync)": redis_py_pair,
        "`with redis_lock(...)`": ours_with,
        "`with redis_lock(..., watchdog=True)`": ours_watchdog,
    }


def async_variants(name: str) -> dict[str, Callable[[], object]]:
    client = aget_redis(PURPOSE)
    redis_py = AsyncRedisPyLock(client, redis_key("bench", "redis-py-alock"), timeout=10)

    async def redis_py_pair() -> None:
        await redis_py.acquire(blocking=False)
        await redis_py.release()

    async def ours_with() -> None:
        async with aredis_lock(name, ttl=10):
            pass

    return {
        "redis-py `asyncio.Lock`": redis_py_pair,
        "`async with aredis_lock(...)`": ours_with,
    }


SLICE = 0.05  # seconds; variants take turns slice by slice so load from other processes hits all alike


def measure(pair: Callable[[], None]) -> float:
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < SLICE:
        for _ in range(50):
            pair()
        done += 50
    return done / elapsed


async def ameasure(pair: Callable[[], object]) -> float:
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < SLICE:
        for _ in range(50):
            await pair()
        done += 50
    return done / elapsed


def report(results: dict[str, list[float]], trips: dict[str, float], baselines: dict[str, str]) -> None:
    print(
        "| Variant | pairs/s (median of slices) | best slice | vs redis-py (median of paired slices) "
        "| round trips per pair |"
    )
    print("|---|---:|---:|---:|---:|")
    for label, rates in results.items():
        base = results[baselines[label]]
        ratio = statistics.median(rate / other for rate, other in zip(rates, base, strict=True))
        print(f"| {label} | {statistics.median(rates):,.0f} | {max(rates):,.0f} | {ratio:.2f}× | {trips[label]:.2f} |")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench locks")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured time per variant")
    args = parser.parse_args(argv)
    rounds = max(1, round(args.seconds / SLICE))
    name = f"bench-{uuid.uuid4().hex[:8]}"

    variants = sync_variants(name)
    results: dict[str, list[float]] = {label: [] for label in variants}
    trips: dict[str, float] = {}
    for pair in variants.values():
        pair()  # load the scripts, open the connection
    for label, pair in variants.items():
        with round_trips() as count:
            for _ in range(200):
                pair()
        trips[label] = count[0] / 200
    for _ in range(rounds):
        for label, pair in variants.items():
            results[label].append(measure(pair))

    async_labels: set[str] = set()

    async def run_async() -> None:
        avariants = async_variants(name)
        async_labels.update(avariants)
        for label in avariants:
            results[label] = []
        for pair in avariants.values():
            await pair()
        for label, pair in avariants.items():
            with round_trips() as count:
                for _ in range(200):
                    await pair()
            trips[label] = count[0] / 200
        for _ in range(rounds):
            for label, pair in avariants.items():
                results[label].append(await ameasure(pair))

    asyncio.run(run_async())
    sync_base, async_base = next(iter(variants)), "redis-py `asyncio.Lock`"
    report(results, trips, {label: async_base if label in async_labels else sync_base for label in results})
    return 0
