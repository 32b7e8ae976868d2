"""Streams: no-op worker throughput vs a bare XREADGROUP+XACK loop, publish_event cost, commit-to-handler latency."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from bench._stream_handlers import LATENCY_GROUP, started_key
from redis_toolkit.client import get_redis
from redis_toolkit.events.codec import dead_letter_key, encode_entry, known_streams_key, stream_key
from redis_toolkit.events.outbox import publish_event
from redis_toolkit.events.registry import event_handler
from redis_toolkit.events.worker import StreamWorker
from redis_toolkit.models import OutboxEvent

ROOT = Path(__file__).resolve().parent.parent
STREAM = "bench"  # where every "bench.*" event type goes (its first word)


def fill(count: int) -> None:
    client = get_redis("bench")
    client.delete(stream_key(STREAM), dead_letter_key(STREAM))
    payload = '{"room":42,"message_id":123456,"author":7}'
    now = timezone.now()
    for start in range(0, count, 5000):
        pipe = client.pipeline(transaction=False)
        for n in range(start, min(count, start + 5000)):
            fields = encode_entry(event_id=n + 1, event_type="bench.noop", payload_json=payload, occurred_at=now)
            pipe.xadd(stream_key(STREAM), fields)  # no MAXLEN: the whole run must stay in the stream
        pipe.execute()


def bare_loop(batch: int) -> float:
    """The floor: read and acknowledge, nothing else (bytes, no decoding)."""
    client, key = get_redis("bench"), stream_key(STREAM)
    client.xgroup_create(key, "bare", id="0")
    started = time.perf_counter()
    handled = 0
    while True:
        reply = client.xreadgroup("bare", "bench", {key: ">"}, count=batch)
        if not reply:
            break
        ids = [entry_id for entry_id, _ in reply[0][1]]
        client.xack(key, "bare", *ids)
        handled += len(ids)
    return handled / (time.perf_counter() - started)


def worker_loop(batch: int) -> float:
    """StreamWorker with a no-op handler: decode, dispatch, ack (same stream, its own group)."""
    event_handler("bench.noop", group="bench-noop")(lambda event: None)  # stream "bench": the type's first word
    worker = StreamWorker(group="bench-noop", consumer="bench", batch=batch)
    worker.ensure_groups()
    started = time.perf_counter()
    while worker.run_once(wait=False):
        pass
    elapsed = time.perf_counter() - started
    assert worker.dead_lettered == 0, "the benchmark events must all be handled"
    return worker.handled / elapsed


def throughput(events: int, batch: int, rounds: int) -> None:
    print(f"throughput: {events} events, batch {batch}, best of {rounds}")
    best_bare = best_worker = 0.0
    for _ in range(rounds):
        fill(events)
        best_bare = max(best_bare, bare_loop(batch))
        best_worker = max(best_worker, worker_loop(batch))
    print(f"  bare XREADGROUP+XACK loop      {best_bare:>10,.0f} events/s")
    print(f"  StreamWorker, no-op handler    {best_worker:>10,.0f} events/s ({best_worker / best_bare:.0%} of bare)")


def producer(count: int) -> None:
    """What publish_event adds to a one-row transaction (the fast path's XADD after commit included)."""

    def rate(body) -> float:
        started = time.perf_counter()
        for n in range(count):
            with transaction.atomic():
                body(n)
        return count / (time.perf_counter() - started)

    bare = rate(lambda n: OutboxEvent.objects.create(type="bench.row", stream=STREAM, payload={"n": n}))
    published = rate(lambda n: publish_event("bench.row", {"n": n}))
    print(f"producer: {count} one-row transactions, one after another")
    print(f"  INSERT only                    {bare:>10,.0f} transactions/s")
    print(f"  publish_event (+ XADD)         {published:>10,.0f} transactions/s ({published / bare:.0%})")


def latency(rate: int, seconds: float) -> None:
    """Commit -> handler start through publish_event's fast path and a real `run_workers` process."""
    client = get_redis("bench")
    client.delete(stream_key(STREAM), started_key())
    env = {**os.environ, "STREAMS_HANDLER_MODULES": "bench._stream_handlers", "LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "manage.py", "run_workers", "--group", LATENCY_GROUP, "--no-relay"]
    worker = subprocess.Popen(cmd, cwd=ROOT, env=env)
    try:
        time.sleep(2.0)  # the worker process starts and creates its group
        committed: dict[int, float] = {}
        total = int(rate * seconds)
        began = time.perf_counter()
        for n in range(total):
            delay = began + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            stamp: dict[str, float] = {}
            with transaction.atomic():
                # Registered before publish_event's own callback, so it runs first, right after COMMIT.
                transaction.on_commit(lambda stamp=stamp: stamp.setdefault("t", time.time()))
                event = publish_event("bench.latency", {"n": n})
            committed[event.pk] = stamp["t"]
        achieved = total / (time.perf_counter() - began)
        deadline = time.monotonic() + 30
        while client.hlen(started_key()) < total and time.monotonic() < deadline:
            time.sleep(0.05)
        started = {int(k): float(v) for k, v in client.hgetall(started_key()).items()}
    finally:
        worker.terminate()
        worker.wait(timeout=15)
    latencies = sorted((started[pk] - t) * 1000 for pk, t in committed.items() if pk in started)
    lost = total - len(latencies)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"latency: commit -> handler start, {total} events at {achieved:,.0f}/s (target {rate}/s)")
    print(f"  p50 {p50:.1f} ms   p99 {p99:.1f} ms   max {latencies[-1]:.1f} ms   not handled: {lost}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench streams", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="events per throughput round")
    parser.add_argument("--batch", type=int, default=500, help="entries per XREADGROUP in both loops")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=int, default=500, help="events/s for the latency run")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of the latency run")
    parser.add_argument("--transactions", type=int, default=2000, help="transactions in the producer run")
    parser.add_argument("--only", choices=["throughput", "producer", "latency"])
    args = parser.parse_args(argv)
    call_command("migrate", verbosity=0)
    try:
        if args.only in (None, "throughput"):
            throughput(args.events, args.batch, args.rounds)
        if args.only in (None, "producer"):
            producer(args.transactions)
        if args.only in (None, "latency"):
            latency(args.rate, args.seconds)
    finally:
        get_redis("bench").delete(stream_key(STREAM), dead_letter_key(STREAM), started_key())
        get_redis("bench").srem(known_streams_key(), STREAM)
        OutboxEvent.objects.filter(stream=STREAM).delete()
    return 0
