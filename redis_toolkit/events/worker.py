"""StreamWorker: one consumer of one group; owns ack, retry, claim of silent consumers and dead letters."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from redis.exceptions import RedisError, ResponseError

from redis_toolkit.client import UNREACHABLE, get_redis, redis_outage
from redis_toolkit.conf import toolkit_setting
from redis_toolkit.events import codec, registry

logger = logging.getLogger(__name__)

MAX_RETRY_DELAY_MS = 300_000
# A consumer with nothing pending that has not read for this long is a worker that is gone.
FORGET_CONSUMER_AFTER_MS = 3_600_000
RETRY = object()  # a handler failed: the entry stays pending for a retry


class StreamWorker:
    """One consumer of one group over every stream its handlers read: at-least-once, acknowledged after the
    handlers return, retried with a doubling delay, dead-lettered at STREAMS_MAX_DELIVERIES (docs/architecture.md)."""

    def __init__(self, *, group: str, consumer: str | None = None, batch: int | None = None) -> None:
        handlers = [h for h in registry.handlers() if h.group == group]
        if not handlers:
            known = ", ".join(registry.groups()) or "none"
            raise ValueError(f"no handlers are registered for group {group!r} (registered groups: {known})")
        self.group, self.consumer = group, consumer or registry.default_consumer_name()
        self.batch = batch or toolkit_setting("STREAMS_BATCH_SIZE")
        self.by_type: dict[str, list] = {}
        for handler in handlers:
            self.by_type.setdefault(handler.event_type, []).append(handler)
        self.known_types = {h.event_type for h in registry.handlers()}
        self.streams = sorted({h.stream for h in handlers})
        self.keys = {codec.stream_key(s): s for s in self.streams}
        self.max_deliveries = toolkit_setting("STREAMS_MAX_DELIVERIES")
        self.retry_delay_ms = toolkit_setting("STREAMS_RETRY_DELAY_MS")
        self.claim_idle_ms = toolkit_setting("STREAMS_CLAIM_IDLE_MS")
        # Sweeps (retries, claims) run between reads, so a read must not block longer than a sweep period,
        # nor as long as the socket timeout.
        self.sweep_interval = min(self.retry_delay_ms, self.claim_idle_ms) / 2000
        self.block_ms = int(min(1000, self.sweep_interval * 1000, toolkit_setting("REDIS_SOCKET_TIMEOUT") * 500))
        self.client = get_redis("streams", decode_responses=True)
        self._claim_cursor = dict.fromkeys(self.streams, "0-0")
        self._next_sweep, self._next_forget, self._groups_ready = 0.0, time.monotonic() + 60, False
        self.handled = self.retried = self.dead_lettered = 0

    def run(self, stop: threading.Event) -> None:
        """Read and handle batches until `stop` is set; the batch in hand is always finished first."""
        logger.info("worker %s: group %r reads %s", self.consumer, self.group, ", ".join(self.streams))
        while not stop.is_set():
            try:
                self.run_once()
                redis_outage.recovered()
            except UNREACHABLE as exc:
                then = f"the worker of group {self.group!r} retries with backoff and resumes by itself"
                stop.wait(redis_outage.failed(exc, then=then))
            except RedisError as exc:
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    # Redis lost the stream or the group (restarted without its data): recreate them.
                    logger.warning("group %r is missing on %s; recreating it", self.group, ", ".join(self.streams))
                    self._groups_ready = False
                else:
                    logger.exception("worker %s: Redis error; retrying", self.consumer)
                    stop.wait(1.0)

    def run_once(self, *, wait: bool = True) -> int:
        """Retry/claim if due, then read and handle one batch; returns how many entries were read."""
        if not self._groups_ready:
            self.ensure_groups()
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self.sweep_interval
            self.sweep()
        streams = dict.fromkeys(self.keys, ">")
        reply = self.client.xreadgroup(
            self.group, self.consumer, streams, count=self.batch, block=self.block_ms if wait else None
        )
        for key, entries in reply or ():
            self._process(self.keys[key], entries)
        return sum(len(entries) for _, entries in reply or ())

    def ensure_groups(self) -> None:
        """Create the group on each stream (from its first entry, so nothing published earlier is skipped)."""
        pipe = self.client.pipeline(transaction=False)
        for key in self.keys:
            pipe.xgroup_create(key, self.group, id="0", mkstream=True)
        pipe.sadd(codec.known_streams_key(), *self.streams)
        for result in pipe.execute(raise_on_error=False):
            if isinstance(result, Exception) and "BUSYGROUP" not in str(result):
                raise result
        self._groups_ready = True

    # --------------------------------------------------------------- retries and claims

    def sweep(self) -> None:
        for stream in self.streams:
            self._retry_own(stream)
            self._claim_idle(stream)
        if time.monotonic() >= self._next_forget:  # consumers long gone with nothing pending leave the list
            self._next_forget = time.monotonic() + 60
            for key in self.keys:
                for c in self.client.xinfo_consumers(key, self.group):
                    if c["pending"] == 0 and c["idle"] > FORGET_CONSUMER_AFTER_MS and c["name"] != self.consumer:
                        self.client.xgroup_delconsumer(key, self.group, c["name"])

    def _retry_delay_ms(self, deliveries: int) -> int:
        return min(MAX_RETRY_DELAY_MS, self.retry_delay_ms * 2 ** max(0, deliveries - 1))

    def _retry_own(self, stream: str) -> None:
        """Re-deliver this consumer's failed entries whose retry delay has passed (XCLAIM counts a delivery)."""
        key, client = codec.stream_key(stream), self.client
        pending = client.xpending_range(key, self.group, "-", "+", self.batch, self.consumer, idle=self.retry_delay_ms)
        due = {
            p["message_id"]: p["times_delivered"] + 1
            for p in pending
            if p["time_since_delivered"] >= self._retry_delay_ms(p["times_delivered"])
        }
        if not due:
            return
        claimed = client.xclaim(key, self.group, self.consumer, self.retry_delay_ms, list(due))
        entries = [(entry_id, fields) for entry_id, fields in claimed if entry_id is not None]
        if gone := set(due) - {entry_id for entry_id, _ in entries}:
            self._ack_trimmed(stream, gone)
        self.retried += len(entries)
        self._process(stream, entries, due)

    def _claim_idle(self, stream: str) -> None:
        """Take over entries pending on a consumer that has been silent for STREAMS_CLAIM_IDLE_MS."""
        key, cursor = codec.stream_key(stream), self._claim_cursor[stream]
        reply = self.client.xautoclaim(key, self.group, self.consumer, self.claim_idle_ms, cursor, count=self.batch)
        self._claim_cursor[stream] = reply[0]
        if len(reply) > 2 and reply[2]:  # Redis >= 7 drops trimmed entries from the PEL and names them
            self._warn_trimmed(stream, reply[2])
        # Redis 6.2 returns (None, None) for a trimmed entry; _retry_own acknowledges it later.
        entries = [(entry_id, fields) for entry_id, fields in reply[1] if entry_id is not None]
        if not entries:
            return
        pipe = self.client.pipeline(transaction=False)
        for entry_id, _ in entries:
            pipe.xpending_range(key, self.group, entry_id, entry_id, 1, consumername=self.consumer)
        deliveries = {p["message_id"]: p["times_delivered"] for found in pipe.execute() for p in found}
        logger.warning("worker %s: claimed %d entries of %s from silent consumers", self.consumer, len(entries), stream)
        self._process(stream, entries, deliveries)

    def _ack_trimmed(self, stream: str, entry_ids: Iterable[str]) -> None:
        """Entries that could not be claimed: acknowledge those trimmed away (another consumer has the rest)."""
        key, entry_ids = codec.stream_key(stream), sorted(entry_ids)
        pipe = self.client.pipeline(transaction=False)
        for entry_id in entry_ids:
            pipe.xrange(key, entry_id, entry_id)
        if trimmed := [entry_id for entry_id, found in zip(entry_ids, pipe.execute(), strict=True) if not found]:
            self.client.xack(key, self.group, *trimmed)
            self._warn_trimmed(stream, trimmed)

    def _warn_trimmed(self, stream: str, entry_ids: list[str]) -> None:
        lost = f"{len(entry_ids)} entr(ies) of {stream} trimmed before they were handled (raise STREAMS_MAXLEN?)"
        logger.error("group %r lost %s: %s", self.group, lost, ", ".join(entry_ids[:10]))

    # --------------------------------------------------------------- handling

    def _process(self, stream: str, entries: list, deliveries: dict[str, int] | None = None) -> None:
        """Handle entries, then acknowledge and dead-letter in one MULTI; failed ones stay pending for a retry."""
        if not entries:
            return
        registry.refresh_db_connections()
        key, acks, pipe = codec.stream_key(stream), [], self.client.pipeline(transaction=True)
        for entry_id, fields in entries:
            count = (deliveries or {}).get(entry_id, 1)
            verdict = self._handle(stream, entry_id, fields, count)
            if verdict is None:
                acks.append(entry_id)
            elif verdict is not RETRY:  # a reason: off to the dead letters
                logger.error("group %r dead-lettered %s entry %s: %s", self.group, stream, entry_id, verdict)
                self.dead_lettered += 1
                letter = codec.dead_letter_fields(fields, entry_id, self.group, self.consumer, verdict, count)
                maxlen = toolkit_setting("STREAMS_DEAD_LETTER_MAXLEN")
                pipe.xadd(codec.dead_letter_key(stream), letter, maxlen=maxlen, approximate=True)
                acks.append(entry_id)
        if acks:
            pipe.xack(key, self.group, *acks)
            pipe.execute()

    def _handle(self, stream: str, entry_id: str, fields: dict, count: int) -> str | object | None:
        """None: done (acknowledge); RETRY: leave it pending; else the reason to dead-letter it."""
        if count > self.max_deliveries:
            # Delivered that often without an ack: it kills the workers handling it, so stop trying.
            return f"delivered {count} times without being acknowledged (did it crash the worker?)"
        if fields.get(codec.REPLAY_GROUP, self.group) != self.group:
            return None  # replayed for another group; this one handled it already
        handlers = self.by_type.get(fields.get("type"))
        if handlers is None and fields.get("type") in self.known_types:
            return None  # another group's event
        try:
            event = codec.decode_entry(stream, entry_id, fields, count)
        except codec.MalformedEntry as exc:
            return str(exc)
        if handlers is None:
            return f"unknown event type {event.type!r}: no handler is registered for it"
        for handler in handlers:
            try:
                handler.check(event)
                handler.func(event)
            except registry.InvalidEvent as exc:
                return f"invalid event: {exc} ({handler.name})"
            except Exception as exc:
                what = f"{handler.name} failed on {event.type} event {event.id}, attempt {count}"
                if count >= self.max_deliveries:
                    logger.exception(what)
                    return f"{type(exc).__name__}: {exc} ({handler.name})"
                retry = f"of {self.max_deliveries}; retrying in {self._retry_delay_ms(count)} ms"
                logger.warning("%s %s", what, retry, exc_info=True)
                return RETRY  # _retry_own delivers it again
        self.handled += 1
        return None
