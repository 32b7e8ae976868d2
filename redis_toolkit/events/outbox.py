"""The transactional outbox: events recorded with their change, pushed to Redis Streams after commit or by the relay."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from redis_toolkit import locks
from redis_toolkit.client import UNREACHABLE, get_redis, redis_key, redis_outage
from redis_toolkit.conf import toolkit_setting
from redis_toolkit.events.codec import encode_entry, stream_append, stream_of
from redis_toolkit.events.registry import refresh_db_connections
from redis_toolkit.events.status import stream_handled, stream_status
from redis_toolkit.models import Fence, OutboxEvent

logger = logging.getLogger(__name__)

RELAY_LOCK = "outbox-relay"
RELAY_BATCH = 1000
PURGE_CHUNK = 5000  # rows per outbox_purge
PUSHED_CAP = 200_000
FAST_PATH_PAUSE = 5.0  # seconds the fast path stays off after a failed push; the relay sends meanwhile
# Fence rows "outbox.handled:<stream>" hold a time (µs) before which every sent row was handled by every
# group; later ones are sent again if Redis loses its data (docs/architecture.md, "Events").
HANDLED = "outbox.handled:"
CLOCK_SPARE = timedelta(minutes=1)  # for the clocks of different relay hosts


class TransactionRequired(RuntimeError):
    """publish_event() was called outside transaction.atomic(): the event would not share its change's fate."""


def publish_event(type: str, payload: dict) -> OutboxEvent:
    """Record an event (a small JSON dict: ids, not objects) in the transaction of its change; sent after commit."""
    return publish_events(type, [payload])[0]


def publish_events(type: str, payloads: list[dict]) -> list[OutboxEvent]:
    """publish_event for many events of one type: one INSERT for the rows, one pipeline after commit."""
    if not transaction.get_connection().in_atomic_block:
        raise TransactionRequired(
            f"publish_event({type!r}) must be called inside transaction.atomic(), with its change"
        )
    stream = stream_of(type, argument="type")
    for payload in payloads:
        if not isinstance(payload, dict):
            raise TypeError(f"publish_event(payload=...) takes a dict, not {payload.__class__.__name__}")
    try:
        encoded = [json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")) for payload in payloads]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"publish_event(payload=...) is not JSON-serialisable: {exc}") from None
    events = OutboxEvent.objects.bulk_create([OutboxEvent(type=type, stream=stream, payload=p) for p in payloads])
    if events and events[0].pk is None:  # a database that returns no ids from a bulk insert
        raise RuntimeError("publish_event needs a database that returns ids from a bulk insert")
    # Django drops this callback if the transaction (or the savepoint around it) rolls back.
    transaction.on_commit(lambda: _push_after_commit(list(zip(events, encoded, strict=True))), robust=True)
    return events


def pushed_key() -> str:
    """Ids the fast path sent, until the relay marks them sent (a sorted set by id)."""
    return redis_key("outbox", "pushed")


def intact_key() -> str:
    """Set by the relay; missing means Redis lost its data (or is new): sent events may be gone."""
    return redis_key("outbox", "intact")


def _fields(row: OutboxEvent, payload_json: str | None = None) -> dict[str, str]:
    if payload_json is None:
        payload_json = json.dumps(row.payload, cls=DjangoJSONEncoder, separators=(",", ":"))
    return encode_entry(event_id=row.pk, event_type=row.type, payload_json=payload_json, occurred_at=row.occurred_at)


def _push_after_commit(events: list[tuple[OutboxEvent, str]]) -> None:
    """The fast path: XADD now and note the ids in pushed_key() (no second commit); on failure the relay sends them."""
    if not events or redis_outage.recently_failed(FAST_PATH_PAUSE):
        return
    try:
        pipe = get_redis("streams").pipeline(transaction=True)
        for event, payload_json in events:
            stream_append(pipe, event.stream, _fields(event, payload_json))
        pipe.zadd(pushed_key(), {str(event.pk): event.pk for event, _ in events})
        # Bounded: if no relay confirms for a long time, the oldest notes go and those events are sent twice.
        pipe.zremrangebyrank(pushed_key(), 0, -PUSHED_CAP - 1)
        pipe.execute()
    except UNREACHABLE as exc:
        redis_outage.failed(exc, then="events wait in the outbox; the relay sends them when Redis answers")
        return
    except RedisError:
        logger.exception("could not push %s to its stream; the relay will send it", [e for e, _ in events])
        return
    redis_outage.recovered()


def _send(client, rows) -> None:
    pipe = client.pipeline(transaction=False)
    for row in rows:
        stream_append(pipe, row.stream, _fields(row))
    pipe.execute()


def _handled_marks() -> dict[str, datetime]:
    marks = Fence.objects.filter(resource__startswith=HANDLED).values_list("resource", "last_token")
    return {resource[len(HANDLED) :]: datetime.fromtimestamp(micros / 1e6, UTC) for resource, micros in marks}


def outbox_resend_lost() -> int:
    """Redis came back without its data: send again every sent row no group is known to have handled."""
    client, marks, sent, batch = get_redis("streams"), _handled_marks(), 0, []
    streams = OutboxEvent.objects.filter(sent_at__isnull=False).order_by("stream").values_list("stream", flat=True)
    for stream in streams.distinct():
        rows = OutboxEvent.objects.filter(stream=stream, sent_at__isnull=False).order_by("id")
        if stream in marks:
            rows = rows.filter(sent_at__gte=marks[stream] - CLOCK_SPARE)
        for row in rows.iterator(chunk_size=RELAY_BATCH):
            batch.append(row)
            if len(batch) == RELAY_BATCH:
                _send(client, batch)
                sent, batch = sent + len(batch), []
    _send(client, batch)
    if sent := sent + len(batch):
        logger.warning("Redis lost its data: the outbox relay sent %d event(s) again that may not be handled", sent)
    return sent


def outbox_mark_handled() -> None:
    """Record, per stream, that every row sent until now was handled, when every group has caught up."""
    now = timezone.now()
    caught_up = [stream.name for stream in stream_status() if stream_handled(stream)]
    # A loss during the look would make empty streams look handled: only marks taken while intact count.
    if not caught_up or not get_redis("streams").exists(intact_key()):
        return
    for stream in caught_up:
        Fence.objects.update_or_create(
            resource=HANDLED + stream, defaults={"last_token": int(now.timestamp() * 1e6), "updated_at": now}
        )


def outbox_relay_batch(*, fencing_token: int) -> int:
    """Send (unless the fast path did) and mark up to RELAY_BATCH unsent rows older than STREAMS_RELAY_MIN_AGE_MS;
    returns how many. Marking checks the relay's fencing token first, so a relay that lost its lock marks nothing."""
    client = get_redis("streams")
    if not client.exists(intact_key()):
        outbox_resend_lost()
        client.set(intact_key(), 1)
    min_age = timedelta(milliseconds=toolkit_setting("STREAMS_RELAY_MIN_AGE_MS"))
    rows = OutboxEvent.objects.filter(sent_at__isnull=True, occurred_at__lte=timezone.now() - min_age)
    if not (rows := list(rows.order_by("id")[:RELAY_BATCH])):
        return 0
    ids = [row.pk for row in rows]
    if missed := [row for row, score in zip(rows, client.zmscore(pushed_key(), ids), strict=True) if score is None]:
        _send(client, missed)
        logger.info("outbox relay sent %d event(s) the fast path had not", len(missed))
    with transaction.atomic():
        locks.fence_advance(RELAY_LOCK, fencing_token)
        OutboxEvent.objects.filter(pk__in=ids, sent_at__isnull=True).update(sent_at=timezone.now())
    client.zrem(pushed_key(), *ids)
    return len(rows)


def outbox_purge() -> int:
    """Delete up to PURGE_CHUNK rows older than STREAMS_OUTBOX_KEEP_HOURS that every group handled (not unsent ones)."""
    deleted, cutoff = 0, timezone.now() - timedelta(hours=toolkit_setting("STREAMS_OUTBOX_KEEP_HOURS"))
    for stream, handled_before in _handled_marks().items():
        rows = OutboxEvent.objects.filter(
            stream=stream, occurred_at__lt=cutoff, sent_at__lt=handled_before - CLOCK_SPARE
        )
        ids = list(rows.values_list("pk", flat=True)[: PURGE_CHUNK - deleted])
        if ids:
            deleted += OutboxEvent.objects.filter(pk__in=ids).delete()[0]
    return deleted


def outbox_backlog() -> tuple[int, datetime | None]:
    """Unsent rows the relay should have taken by now (younger ones are the fast path's), and the oldest's time."""
    due = toolkit_setting("STREAMS_RELAY_MIN_AGE_MS") + 2 * toolkit_setting("STREAMS_RELAY_INTERVAL_MS")
    waiting = OutboxEvent.objects.filter(
        sent_at__isnull=True, occurred_at__lt=timezone.now() - timedelta(milliseconds=due)
    )
    return waiting.count(), waiting.order_by("id").values_list("occurred_at", flat=True).first()


class OutboxRelay:
    """The safety net behind the fast path: one active relay at a time, elected by the distributed lock."""

    PURGE_EVERY = 60.0  # seconds
    MARK_EVERY = 2.0  # seconds between looks at whether the groups have caught up

    def __init__(self) -> None:
        self.interval = toolkit_setting("STREAMS_RELAY_INTERVAL_MS") / 1000
        self._next_purge = self._next_mark = 0.0

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                with locks.redis_lock(RELAY_LOCK, ttl=10.0, blocking=False, watchdog=True) as lease:
                    redis_outage.recovered()
                    logger.info("outbox relay active (fencing token %s)", lease.fencing_token)
                    self._lead(lease, stop)
            except locks.LockTimeout:  # another process relays; stand by
                redis_outage.recovered()
                stop.wait(self.interval)
            except locks.StaleFencingToken as exc:
                # A Redis restored from an older copy hands out tokens the database already saw. Raise its
                # counter to the newest token accepted, so the next lease (ours or another's) passes.
                logger.warning("outbox relay stood down: %s; raising the fencing counter to %s", exc, exc.accepted)
                with contextlib.suppress(locks.LockUnavailable):  # Redis gone again: the next round tries again
                    locks.fencing_counter_raise(RELAY_LOCK, exc.accepted)
                stop.wait(self.interval)
            except locks.LockLost as exc:
                logger.warning("outbox relay stood down: %s", exc)
                stop.wait(self.interval)
            except (*UNREACHABLE, locks.LockUnavailable) as exc:
                stop.wait(redis_outage.failed(exc, then="the outbox relay retries with backoff and resumes by itself"))
            except (RedisError, DatabaseError):
                logger.exception("outbox relay failed; retrying")
                stop.wait(max(self.interval, 1.0))

    def _lead(self, lease, stop: threading.Event) -> None:
        while not stop.is_set() and not lease.lost:
            refresh_db_connections()
            marked = outbox_relay_batch(fencing_token=lease.fencing_token)
            if time.monotonic() >= self._next_mark:
                self._next_mark = time.monotonic() + self.MARK_EVERY
                outbox_mark_handled()
            if time.monotonic() >= self._next_purge:
                self._next_purge = time.monotonic() + self.PURGE_EVERY
                for _ in range(100):  # chunks, so one purge never holds the database for long
                    if stop.is_set() or outbox_purge() < PURGE_CHUNK:
                        break
            if marked < RELAY_BATCH:
                stop.wait(self.interval)
