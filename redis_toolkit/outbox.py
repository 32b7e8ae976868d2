"""Record events in the caller's transaction; send them to Redis Streams right after commit, or via the relay."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from redis_toolkit.connections import get_redis
from redis_toolkit.fencing import fence_advance
from redis_toolkit.keys import redis_key
from redis_toolkit.locks import LockLost, LockTimeout, LockUnavailable, StaleFencingToken, redis_lock
from redis_toolkit.models import OutboxEvent
from redis_toolkit.outage import UNREACHABLE, redis_outage
from redis_toolkit.streams import check_name, encode_entry, stream_append, stream_for_type

logger = logging.getLogger(__name__)

RELAY_LOCK = "outbox-relay"
RELAY_BATCH = 1000
PUSHED_CAP = 200_000
# After a failed push the fast path stays off this long, so requests do not each wait on a dead Redis;
# the relay sends what accumulates meanwhile.
FAST_PATH_PAUSE = 5.0


class TransactionRequired(RuntimeError):
    """publish_event() was called outside transaction.atomic(): the event would not share its change's fate."""


def publish_event(type: str, payload: dict, *, stream: str | None = None) -> OutboxEvent:
    """Record an event in the current transaction; it goes to its stream right after commit.

    Call it inside the transaction.atomic() that makes the change: the event is committed or
    rolled back with it. `payload` is a small JSON-serialisable dict (ids, not objects).
    """
    if not transaction.get_connection().in_atomic_block:
        raise TransactionRequired(
            f"publish_event({type!r}) must be called inside transaction.atomic(), with the change it describes"
        )
    check_name(type, argument="type")
    stream = check_name(stream, argument="stream") if stream is not None else stream_for_type(type)
    if not isinstance(payload, dict):
        raise TypeError(f"publish_event(payload=...) takes a dict, not {payload.__class__.__name__}")
    try:
        payload_json = json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"publish_event(payload=...) is not JSON-serialisable: {exc}") from None
    event = OutboxEvent.objects.create(type=type, stream=stream, payload=payload)
    # Django drops this callback if the transaction (or the savepoint around it) rolls back.
    transaction.on_commit(lambda: _push_after_commit(event, payload_json), robust=True)
    return event


def pushed_key() -> str:
    """Ids the fast path put in their streams, until the relay records them sent (a sorted set by id)."""
    return redis_key("outbox", "pushed")


def _push_after_commit(event: OutboxEvent, payload_json: str) -> None:
    """The fast path: XADD now; on any failure the relay sends the event later.

    It writes nothing to the database: a second commit per event would halve what a producer can
    do. Instead the same MULTI notes the id in `pushed_key()`, and the relay marks such rows sent
    in bulk, without sending them again.
    """
    if redis_outage.recently_failed(FAST_PATH_PAUSE):
        return
    fields = encode_entry(
        event_id=event.pk, event_type=event.type, payload_json=payload_json, occurred_at=event.occurred_at
    )
    try:
        pipe = get_redis("streams").pipeline(transaction=True)
        stream_append(pipe, event.stream, fields)
        pipe.zadd(pushed_key(), {str(event.pk): event.pk})
        # Bounded: if no relay confirms for a long time, the oldest notes go and those events are sent twice.
        pipe.zremrangebyrank(pushed_key(), 0, -PUSHED_CAP - 1)
        pipe.execute()
    except UNREACHABLE as exc:
        redis_outage.failed(exc, then="events wait in the outbox; the relay sends them when Redis answers")
        return
    except RedisError:
        logger.exception("could not push %s to its stream; the relay will send it", event)
        return
    redis_outage.recovered()


def outbox_relay_batch(*, fencing_token: int, limit: int = RELAY_BATCH, min_age: timedelta | None = None) -> int:
    """Take up to `limit` unsent rows older than `min_age`, in id order; returns how many it marked sent.

    Rows the fast path pushed are only marked; the others are sent first. Marking happens after
    Redis accepted them, in a transaction that first checks the relay's fencing token, so a relay
    that lost its lock marks nothing (it may have sent a batch twice: delivery is at-least-once,
    handlers are idempotent).
    """
    if min_age is None:
        min_age = timedelta(milliseconds=settings.STREAMS_RELAY_MIN_AGE_MS)
    rows = list(
        OutboxEvent.objects.filter(sent_at__isnull=True, occurred_at__lte=timezone.now() - min_age).order_by("id")[
            :limit
        ]
    )
    if not rows:
        return 0
    client = get_redis("streams")
    ids = [row.pk for row in rows]
    pushed = client.zmscore(pushed_key(), ids)
    missed = [row for row, score in zip(rows, pushed, strict=True) if score is None]
    if missed:
        pipe = client.pipeline(transaction=False)
        for row in missed:
            payload_json = json.dumps(row.payload, cls=DjangoJSONEncoder, separators=(",", ":"))
            fields = encode_entry(
                event_id=row.pk, event_type=row.type, payload_json=payload_json, occurred_at=row.occurred_at
            )
            stream_append(pipe, row.stream, fields)
        pipe.execute()
        logger.info("outbox relay sent %d event(s) the fast path had not", len(missed))
    with transaction.atomic():
        fence_advance(RELAY_LOCK, fencing_token)
        OutboxEvent.objects.filter(pk__in=ids, sent_at__isnull=True).update(sent_at=timezone.now())
    client.zrem(pushed_key(), *ids)
    return len(rows)


def outbox_purge(*, older_than: timedelta | None = None, limit: int = 5000) -> int:
    """Delete sent rows older than the retention (never unsent ones); returns how many."""
    if older_than is None:
        older_than = timedelta(hours=settings.STREAMS_OUTBOX_KEEP_HOURS)
    ids = list(
        OutboxEvent.objects.filter(occurred_at__lt=timezone.now() - older_than, sent_at__isnull=False).values_list(
            "pk", flat=True
        )[:limit]
    )
    if not ids:
        return 0
    deleted, _ = OutboxEvent.objects.filter(pk__in=ids).delete()
    return deleted


def outbox_backlog() -> tuple[int, datetime | None]:
    """Rows the relay should have taken by now (so: waiting for it), and when the oldest occurred.

    Younger unsent rows are normal: the fast path pushed them and the relay has yet to mark them.
    """
    due = settings.STREAMS_RELAY_MIN_AGE_MS + 2 * settings.STREAMS_RELAY_INTERVAL_MS
    waiting = OutboxEvent.objects.filter(
        sent_at__isnull=True, occurred_at__lt=timezone.now() - timedelta(milliseconds=due)
    )
    return waiting.count(), waiting.order_by("id").values_list("occurred_at", flat=True).first()


class OutboxRelay:
    """The safety net behind the fast path: one active relay at a time, elected by the distributed lock."""

    PURGE_EVERY = 60.0  # seconds
    PURGE_CHUNK = 5000

    def __init__(self, *, interval: float | None = None) -> None:
        self.interval = interval if interval is not None else settings.STREAMS_RELAY_INTERVAL_MS / 1000
        self._next_purge = 0.0

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                with redis_lock(RELAY_LOCK, ttl=10.0, blocking=False, watchdog=True) as lease:
                    redis_outage.recovered()
                    logger.info("outbox relay active (fencing token %s)", lease.fencing_token)
                    self._lead(lease, stop)
            except LockTimeout:  # another process relays; stand by
                redis_outage.recovered()
                stop.wait(self.interval)
            except (LockLost, StaleFencingToken) as exc:
                logger.warning("outbox relay stood down: %s", exc)
                stop.wait(self.interval)
            except (*UNREACHABLE, LockUnavailable) as exc:
                stop.wait(redis_outage.failed(exc, then="the outbox relay retries with backoff and resumes by itself"))
            except (RedisError, DatabaseError):
                logger.exception("outbox relay failed; retrying")
                stop.wait(max(self.interval, 1.0))

    def _lead(self, lease, stop: threading.Event) -> None:
        from redis_toolkit.workers import refresh_db_connections

        while not stop.is_set() and not lease.lost:
            refresh_db_connections()
            marked = outbox_relay_batch(fencing_token=lease.fencing_token)
            if time.monotonic() >= self._next_purge:
                self._next_purge = time.monotonic() + self.PURGE_EVERY
                self._purge(stop)
            if marked < RELAY_BATCH:
                stop.wait(self.interval)

    def _purge(self, stop: threading.Event) -> None:
        """Delete expired rows in chunks, so one purge never holds the database for long."""
        for _ in range(100):  # up to 500,000 rows a minute; more waits for the next round
            if stop.is_set() or outbox_purge(limit=self.PURGE_CHUNK) < self.PURGE_CHUNK:
                return
