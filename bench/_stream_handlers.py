"""Handlers the latency benchmark's worker process loads (STREAMS_HANDLER_MODULES=bench._stream_handlers)."""

import time

from redis_toolkit.client import get_redis, redis_key
from redis_toolkit.events.registry import event_handler

LATENCY_GROUP = "bench-latency"


def started_key() -> str:
    return redis_key("bench", "started")


@event_handler("bench.latency", group=LATENCY_GROUP)
def record_start(event) -> None:
    started = time.time()  # first thing: "handler start"
    get_redis("bench").hset(started_key(), str(event.id), repr(started))
