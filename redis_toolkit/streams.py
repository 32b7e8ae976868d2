"""Redis Streams plumbing shared by the outbox relay, the workers, the commands and the admin."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from redis_toolkit.connections import get_redis
from redis_toolkit.keys import redis_key

NAME_RE = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
# Fields a dead letter adds to the original entry's fields; replay strips them again.
DEAD_PREFIX = "dead_"
REPLAY_GROUP = "replay_group"


class MalformedEntry(ValueError):
    """A stream entry that cannot be an event (missing field, bad JSON...); goes to the dead letters."""


@dataclass(frozen=True, slots=True)
class Event:
    """What a handler receives; `id` (the outbox row id) is the same on every redelivery: use it as idempotency key."""

    id: int
    type: str
    payload: dict
    occurred_at: datetime
    stream: str
    entry_id: str
    deliveries: int = 1


def check_name(value: str, *, argument: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value) or len(value) > 100:
        raise ValueError(
            f"{argument}={value!r} is not a valid name: use dotted words of letters, digits, '_' or '-' "
            "(like 'chat.message.posted'), at most 100 characters"
        )
    return value


def stream_for_type(event_type: str) -> str:
    """Default stream of an event type: its first dotted word ("chat.message.posted" -> "chat")."""
    return event_type.split(".", 1)[0]


def stream_key(stream: str) -> str:
    return redis_key("stream", stream)


def dead_letter_key(stream: str) -> str:
    return redis_key("stream", stream, "dead")


def known_streams_key() -> str:
    """A set of every stream name written to, so status pages need no SCAN."""
    return redis_key("streams")


def encode_entry(*, event_id: int, event_type: str, payload_json: str, occurred_at: datetime) -> dict[str, str]:
    return {"id": str(event_id), "type": event_type, "payload": payload_json, "occurred_at": occurred_at.isoformat()}


def stream_append(pipe, stream: str, fields: dict[str, str]) -> None:
    """Queue one bounded XADD (and the stream's name in the known set) on a pipeline."""
    pipe.xadd(stream_key(stream), fields, maxlen=settings.STREAMS_MAXLEN, approximate=True)
    pipe.sadd(known_streams_key(), stream)


def decode_entry(stream: str, entry_id: str, fields: dict[str, str], deliveries: int) -> Event:
    """Build an Event from an entry's fields, or raise MalformedEntry saying what is wrong."""
    missing = [name for name in ("id", "type", "payload", "occurred_at") if name not in fields]
    if missing:
        raise MalformedEntry(f"malformed entry: no {', '.join(repr(m) for m in missing)} field")
    try:
        event_id = int(fields["id"])
    except ValueError:
        raise MalformedEntry(f"malformed entry: id {fields['id']!r} is not an integer") from None
    try:
        payload = json.loads(fields["payload"])
    except ValueError as exc:
        raise MalformedEntry(f"malformed payload: not valid JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise MalformedEntry(f"malformed payload: a JSON {type(payload).__name__}, expected an object")
    try:
        occurred_at = datetime.fromisoformat(fields["occurred_at"])
    except ValueError:
        raise MalformedEntry(f"malformed entry: occurred_at {fields['occurred_at']!r} is not an ISO date") from None
    return Event(event_id, fields["type"], payload, occurred_at, stream, entry_id, deliveries)


# ------------------------------------------------------------------ dead letters


@dataclass(frozen=True)
class DeadLetter:
    stream: str
    entry_id: str  # in the dead-letter stream
    fields: dict[str, str]  # the original entry's fields

    group: str
    error: str
    deliveries: int
    failed_at: datetime | None

    @property
    def event_type(self) -> str:
        return self.fields.get("type", "?")

    @property
    def event_id(self) -> str:
        return self.fields.get("id", "?")


def dead_letter_fields(
    fields: dict[str, str], *, source_id: str, group: str, consumer: str, error: str, deliveries: int
) -> dict[str, str]:
    return {
        **{k: v for k, v in fields.items() if not k.startswith(DEAD_PREFIX)},
        "dead_source_id": source_id,
        "dead_group": group,
        "dead_consumer": consumer,
        "dead_error": error[:2000],
        "dead_deliveries": str(deliveries),
        "dead_at": datetime.now(UTC).isoformat(),
    }


def _dead_letter(stream: str, entry_id: str, raw: dict[str, str]) -> DeadLetter:
    try:
        failed_at = datetime.fromisoformat(raw.get("dead_at", ""))
    except ValueError:
        failed_at = None
    return DeadLetter(
        stream=stream,
        entry_id=entry_id,
        fields={k: v for k, v in raw.items() if not k.startswith(DEAD_PREFIX)},
        group=raw.get("dead_group", ""),
        error=raw.get("dead_error", ""),
        deliveries=int(raw.get("dead_deliveries", "0") or 0),
        failed_at=failed_at,
    )


def known_streams() -> list[str]:
    """Streams written to so far plus those registered handlers read (sorted)."""
    from redis_toolkit.workers import default_registry

    client = get_redis("streams", decode_responses=True)
    return sorted(set(client.smembers(known_streams_key())) | default_registry.streams())


def dead_letters(*, stream: str | None = None, limit: int = 100) -> list[DeadLetter]:
    """The newest dead letters first, of one stream or of every known one."""
    client = get_redis("streams", decode_responses=True)
    found: list[DeadLetter] = []
    for name in [stream] if stream else known_streams():
        for entry_id, raw in client.xrevrange(dead_letter_key(name), count=limit):
            found.append(_dead_letter(name, entry_id, raw))
    found.sort(key=lambda letter: letter.entry_id, reverse=True)  # ids are millisecond timestamps
    return found[:limit]


def dead_letter_replay(*, stream: str, entry_ids: list[str] | None = None, group: str | None = None) -> int:
    """Move dead letters back to their stream, each for the group that gave up on it; returns how many.

    The move (XADD to the stream + XDEL from the dead letters) is one MULTI, so an entry is never in
    both places nor lost. Other groups on the stream skip a replayed entry: they handled it already.
    """
    client = get_redis("streams", decode_responses=True)
    key = dead_letter_key(check_name(stream, argument="stream"))
    if entry_ids is None:
        entries = client.xrange(key)
    else:
        pipe = client.pipeline(transaction=False)
        for entry_id in entry_ids:
            pipe.xrange(key, entry_id, entry_id)
        entries = [found[0] for found in pipe.execute() if found]
    moved = 0
    for start in range(0, len(entries), 500):
        pipe = client.pipeline(transaction=True)
        for entry_id, raw in entries[start : start + 500]:
            letter = _dead_letter(stream, entry_id, raw)
            if group and letter.group != group:
                continue
            stream_append(pipe, stream, {**letter.fields, REPLAY_GROUP: letter.group})
            pipe.xdel(key, entry_id)
            moved += 1
        pipe.execute()
    return moved


# ------------------------------------------------------------------ status


@dataclass(frozen=True)
class ConsumerStatus:
    name: str
    pending: int
    idle_ms: int


@dataclass(frozen=True)
class GroupStatus:
    name: str
    pending: int
    lag: int | None  # entries not yet delivered to the group; None when Redis cannot tell
    last_delivered_id: str
    consumers: list[ConsumerStatus]


@dataclass(frozen=True)
class StreamStatus:
    name: str
    length: int
    dead_letters: int
    groups: list[GroupStatus]


LAG_SCAN_LIMIT = 10_000


def _lag(client, key: str, info: dict[str, Any]) -> int | None:
    if info.get("lag") is not None:  # Redis >= 7 keeps it, unless deletions made it unknown
        return int(info["lag"])
    # Redis 6.2: count what lies after the last delivered id (bounded; shown as a lower bound).
    return len(client.xrange(key, f"({info['last-delivered-id']}", "+", count=LAG_SCAN_LIMIT))


def stream_status() -> list[StreamStatus]:
    """Length, dead letters, and per group: pending, lag and consumers with their idle time."""
    from redis.exceptions import ResponseError

    from redis_toolkit.workers import default_registry

    client = get_redis("streams", decode_responses=True)
    registered = default_registry.streams()
    result = []
    for name in known_streams():
        key = stream_key(name)
        pipe = client.pipeline(transaction=False)
        pipe.exists(key).xlen(key).xlen(dead_letter_key(name))
        exists, length, dead = pipe.execute()
        if not (exists or dead or name in registered):
            continue  # a stream that was deleted and that nothing reads: nothing to show
        groups = []
        try:
            infos = client.xinfo_groups(key)
        except ResponseError:  # the stream does not exist (yet, or any more)
            infos = []
        for info in infos:
            consumers = [
                ConsumerStatus(c["name"], int(c["pending"]), int(c["idle"]))
                for c in client.xinfo_consumers(key, info["name"])
            ]
            groups.append(
                GroupStatus(
                    name=info["name"],
                    pending=int(info["pending"]),
                    lag=_lag(client, key, info),
                    last_delivered_id=info["last-delivered-id"],
                    consumers=consumers,
                )
            )
        result.append(StreamStatus(name, length, dead, groups))
    return result
