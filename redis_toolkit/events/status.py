"""Stream status for operators (length, groups, pending, lag, consumers) and the dead letters: list, replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from redis.exceptions import ResponseError

from redis_toolkit.client import get_redis
from redis_toolkit.events import codec, registry


class DeadLetter(NamedTuple):
    stream: str
    entry_id: str  # in the dead-letter stream
    fields: dict[str, str]  # the original entry's fields
    event_type: str
    event_id: str
    group: str
    error: str
    deliveries: int
    failed_at: datetime | None

    @classmethod
    def of(cls, stream: str, entry_id: str, raw: dict[str, str]) -> DeadLetter:
        fields = {k: v for k, v in raw.items() if not k.startswith(codec.DEAD_PREFIX)}
        try:
            failed_at = datetime.fromisoformat(raw.get("dead_at", ""))
        except ValueError:
            failed_at = None
        group, error, deliveries = raw.get("dead_group", ""), raw.get("dead_error", ""), raw.get("dead_deliveries")
        event_type, event_id = fields.get("type", "?"), fields.get("id", "?")
        return cls(stream, entry_id, fields, event_type, event_id, group, error, int(deliveries or 0), failed_at)


def known_streams() -> list[str]:
    """Streams written to so far plus those registered handlers read (sorted)."""
    client = get_redis("streams", decode_responses=True)
    return sorted(set(client.smembers(codec.known_streams_key())) | {h.stream for h in registry.handlers()})


def dead_letters(*, stream: str | None = None, limit: int = 100) -> list[DeadLetter]:
    """The newest dead letters first, of one stream or of every known one."""
    client = get_redis("streams", decode_responses=True)
    found: list[DeadLetter] = []
    for name in [stream] if stream else known_streams():
        for entry_id, raw in client.xrevrange(codec.dead_letter_key(name), count=limit):
            found.append(DeadLetter.of(name, entry_id, raw))
    found.sort(key=lambda letter: letter.entry_id, reverse=True)  # ids are millisecond timestamps
    return found[:limit]


def dead_letter_replay(
    *, stream: str, entry_ids: list[str] | None = None, group: str | None = None, dry_run: bool = False
) -> list[DeadLetter]:
    """Move dead letters back to their stream (XADD + XDEL in a MULTI), each for the group that gave up on it
    (the others skip it); returns those moved."""
    client = get_redis("streams", decode_responses=True)
    key = codec.dead_letter_key(codec.check_name(stream, argument="stream"))
    if entry_ids is None:
        entries = client.xrange(key)
    else:
        pipe = client.pipeline(transaction=False)
        for entry_id in entry_ids:
            pipe.xrange(key, entry_id, entry_id)
        entries = [found[0] for found in pipe.execute() if found]
    letters = [DeadLetter.of(stream, entry_id, raw) for entry_id, raw in entries]
    letters = [letter for letter in letters if not group or letter.group == group]
    for start in range(0, 0 if dry_run else len(letters), 500):
        pipe = client.pipeline(transaction=True)
        for letter in letters[start : start + 500]:
            codec.stream_append(pipe, stream, {**letter.fields, codec.REPLAY_GROUP: letter.group})
            pipe.xdel(key, letter.entry_id)
        pipe.execute()
    return letters


class ConsumerStatus(NamedTuple):
    name: str
    pending: int
    idle_ms: int


class GroupStatus(NamedTuple):
    name: str
    pending: int
    lag: int  # entries not yet delivered to the group (counted up to LAG_SCAN_LIMIT where Redis does not know)
    consumers: list[ConsumerStatus]


class StreamStatus(NamedTuple):
    name: str
    length: int
    dead_letters: int
    groups: list[GroupStatus]


LAG_SCAN_LIMIT = 10_000


def _lag(client, key: str, info: dict[str, Any]) -> int:
    if info.get("lag") is not None:  # Redis >= 7 keeps it, unless deletions made it unknown
        return int(info["lag"])
    # Else (and on Redis 6.2) count what lies after the last delivered id (bounded; shown as a lower bound).
    return len(client.xrange(key, f"({info['last-delivered-id']}", "+", count=LAG_SCAN_LIMIT))


def stream_status() -> list[StreamStatus]:
    """Length, dead letters, and per group: pending, lag and consumers with their idle time."""
    client = get_redis("streams", decode_responses=True)
    registered = {h.stream for h in registry.handlers()}
    result = []
    for name in known_streams():
        key = codec.stream_key(name)
        pipe = client.pipeline(transaction=False)
        pipe.exists(key).xlen(key).xlen(codec.dead_letter_key(name))
        exists, length, dead = pipe.execute()
        if not (exists or dead or name in registered):
            continue  # a stream that was deleted and that nothing reads: nothing to show
        groups = []
        try:
            infos = client.xinfo_groups(key)
        except ResponseError:  # the stream does not exist (yet, or any more)
            infos = []
        for info in infos:
            consumers = client.xinfo_consumers(key, info["name"])
            consumers = [ConsumerStatus(c["name"], int(c["pending"]), int(c["idle"])) for c in consumers]
            groups.append(GroupStatus(info["name"], int(info["pending"]), _lag(client, key, info), consumers))
        result.append(StreamStatus(name, length, dead, groups))
    return result


def stream_handled(stream: StreamStatus) -> bool:
    """True when every group reading the stream (registered ones included) has handled everything in it."""
    registered = {h.group for h in registry.handlers() if h.stream == stream.name}
    started = registered <= {group.name for group in stream.groups}  # every registered group reads it
    return started and all(group.pending == 0 and group.lag == 0 for group in stream.groups)
