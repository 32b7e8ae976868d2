"""How an event is a stream entry: names, keys, encoding and decoding (shared by outbox, workers and status)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from redis_toolkit.client import redis_key
from redis_toolkit.conf import toolkit_setting

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
        rule = "dotted words of letters, digits, '_' or '-' (like 'chat.message.posted'), at most 100 characters"
        raise ValueError(f"{argument}={value!r} is not a valid name: use {rule}")
    return value


def stream_of(event_type: str, *, argument: str) -> str:
    """Check the type's name; its stream is its first dotted word ("chat.message.posted" -> "chat")."""
    return check_name(event_type, argument=argument).split(".", 1)[0]


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
    pipe.xadd(stream_key(stream), fields, maxlen=toolkit_setting("STREAMS_MAXLEN"), approximate=True)
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


def dead_letter_fields(fields: dict, source_id: str, group: str, consumer: str, error: str, deliveries: int) -> dict:
    return {
        **{k: v for k, v in fields.items() if not k.startswith(DEAD_PREFIX)},
        "dead_source_id": source_id,
        "dead_group": group,
        "dead_consumer": consumer,
        "dead_error": error[:2000],
        "dead_deliveries": str(deliveries),
        "dead_at": datetime.now(UTC).isoformat(),
    }
