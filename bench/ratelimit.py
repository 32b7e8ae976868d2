"""Rate-limit checks per second: chatsite's sliding-window log against `limits`' Redis moving window.

`python -m bench ratelimit [--seconds 3] [--redis-url URL]`. Each scenario runs from one synchronous
client, one check at a time (the latency-bound case), alternating the two implementations in short
rounds (0.1 s) and reporting the median round, so load from other processes hits both alike. Then chatsite's
async twin with concurrent tasks. Finally it counts round trips per check on a private redis-server:
replies the client read, and EVALSHA calls in INFO commandstats.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager

import redis
from django.conf import settings
from django.test import override_settings

from redis_toolkit.client import get_redis, reset_clients
from redis_toolkit.ratelimit.core import PURPOSE, arate_limit, rate_limit

KEYS = 1000
ROUND = 0.1  # seconds per round of one implementation: short, so slow drifts in load hit both
TWO_WINDOWS = {"bench.two": {"limits": "10/1s, 600/1m", "fail": "closed"}}
PREFIX = "chatsite-bench:"


def rate(check: Callable[[int], object], seconds: float, offset: int = 0) -> float:
    """Checks per second of `check(i)` called back to back for about `seconds`."""
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(100):
            check(offset + count)
            count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def compare(seconds: float, *checks: Callable[[int], object]) -> list[float]:
    """Median rate of each check over short alternating rounds."""
    for check in checks:
        rate(check, 0.1)  # warm up: connections, script cache
    rounds: list[list[float]] = [[] for _ in checks]
    for n in range(max(3, round(seconds / ROUND))):
        for i, check in enumerate(checks):
            rounds[i].append(rate(check, ROUND, offset=n * 1_000_000))
    return [statistics.median(r) for r in rounds]


async def ameasure(seconds: float, tasks: int, rule) -> float:
    """Checks per second from `tasks` concurrent tasks of one event loop (one pool)."""
    count, deadline = 0, time.perf_counter() + 0.3  # warm up first: the pool opens its connections

    async def worker(n: int) -> None:
        nonlocal count
        i = n
        while time.perf_counter() < deadline:
            await arate_limit(rule, f"k{i % KEYS}")
            count += 1
            i += tasks

    await asyncio.gather(*(worker(n) for n in range(tasks)))
    started = time.perf_counter()
    count, deadline = 0, started + seconds
    await asyncio.gather(*(worker(n) for n in range(tasks)))
    return count / (time.perf_counter() - started)


@contextmanager
def redis_at(url: str):
    # A key prefix of the benchmark's own: deleting its keys afterwards touches nobody else's.
    toolkit = {**settings.REDIS_TOOLKIT, "REDIS_URL": url, "RATE_LIMITS": TWO_WINDOWS, "REDIS_KEY_PREFIX": PREFIX}
    with override_settings(REDIS_TOOLKIT=toolkit):
        reset_clients()
        try:
            yield
        finally:
            reset_clients()


def delete_keys(url: str, pattern: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=pattern, count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


def throughput(url: str, seconds: float) -> list[tuple[str, float, float]]:
    from limits import parse
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    prefix = PREFIX + "limits"
    per_second, burst, sustained = parse("100/second"), parse("10/second"), parse("600/minute")
    rows = []
    with redis_at(url):
        limiter = MovingWindowRateLimiter(RedisStorage(url, key_prefix=prefix))  # its own plain pool
        # The same library on chatsite's pool (a BlockingConnectionPool: bounded, waits when all are busy).
        on_our_pool = MovingWindowRateLimiter(
            RedisStorage(url, key_prefix=prefix + ":pool", connection_pool=get_redis(PURPOSE).connection_pool)
        )
        scenarios = [
            (
                f"one window 100/s, {KEYS} keys (allowed)",
                lambda i: rate_limit((100, 1), f"k{i % KEYS}"),
                lambda i: limiter.hit(per_second, f"k{i % KEYS}"),
            ),
            (
                "  the same, limits on chatsite's connection pool",
                lambda i: rate_limit((100, 1), f"p{i % KEYS}"),
                lambda i: on_our_pool.hit(per_second, f"p{i % KEYS}"),
            ),
            (
                "one window 100/s, one hot key (mostly refused)",
                lambda i: rate_limit((100, 1), "hot"),
                lambda i: limiter.hit(per_second, "hot"),
            ),
            (
                f"burst 10/s + sustained 600/min, {KEYS} keys",
                lambda i: rate_limit("bench.two", f"k{i % KEYS}"),
                # limits checks each limit separately: two round trips, and not atomic together
                lambda i: limiter.hit(burst, f"b{i % KEYS}") and limiter.hit(sustained, f"s{i % KEYS}"),
            ),
        ]
        for name, ours, theirs in scenarios:
            rows.append((name, *compare(seconds, ours, theirs)))
        for tasks in (1, 32):
            checks = asyncio.run(ameasure(seconds, tasks, (100, 1)))
            rows.append((f"async arate_limit, {tasks} concurrent task(s), {KEYS} keys", checks, float("nan")))
    delete_keys(url, f"{PREFIX}*")
    return rows


def round_trips(checks: int = 1000) -> tuple[float, int]:
    """(replies read per check, EVALSHA calls) for `checks` checks against a private redis-server."""
    from chatsite.dev.embedded_redis import start_redis_server

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = start_redis_server(port=port, data_dir=None)
    url = f"redis://127.0.0.1:{port}/0"
    reads = 0
    original = redis.connection.AbstractConnection.read_response

    def counting_read(self, *args, **kwargs):
        nonlocal reads
        reads += 1
        return original(self, *args, **kwargs)

    try:
        with redis_at(url):
            rate_limit("bench.two", "warm-up")  # loads the script once
            stats = redis.Redis.from_url(url)
            before = stats.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
            redis.connection.AbstractConnection.read_response = counting_read
            try:
                for i in range(checks):
                    rate_limit("bench.two", f"k{i % 7}")
            finally:
                redis.connection.AbstractConnection.read_response = original
            evalsha = stats.info("commandstats")["cmdstat_evalsha"]["calls"] - before
    finally:
        server.terminate()
        server.wait()
    return reads / checks, evalsha


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ratelimit", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per scenario and implementation (default 3)")
    parser.add_argument("--redis-url", default=settings.REDIS_URL, help="Redis to measure against (REDIS_URL)")
    args = parser.parse_args(argv)

    server = redis.Redis.from_url(args.redis_url).info("server")
    print(
        f"Redis {server['redis_version']} at {args.redis_url}; median of {ROUND:g} s rounds, {args.seconds:g} s each\n"
    )
    print(f"{'scenario (one synchronous client unless async)':<58} {'chatsite/s':>11} {'limits/s':>10} {'ratio':>6}")
    for name, ours, theirs in throughput(args.redis_url, args.seconds):
        known = theirs == theirs  # NaN for rows with nothing to compare
        theirs_text = f"{theirs:10.0f}" if known else f"{'-':>10}"
        ratio = f"{ours / theirs:5.2f}x" if known else f"{'-':>6}"
        print(f"{name:<58} {ours:11.0f} {theirs_text} {ratio}")

    per_check, evalsha = round_trips()
    print(f"\nround trips per check (2-window rule, private redis-server): {per_check:.3f} replies read per check,")
    print(f"{evalsha} EVALSHA calls in INFO commandstats for 1000 checks")
    return 0
