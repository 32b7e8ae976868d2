"""The bell's unread count, kept in Redis as the set of unread notification ids (one round trip to read).

A set, not a counter, so re-adding an id on a redelivered event changes nothing. The member "*"
marks a set that was built from the database: without it (Redis restarted, key expired) the set is
rebuilt from the database on the next read or change.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count

from redis_toolkit.client import UNREACHABLE, get_redis, redis_key, redis_outage
from redis_toolkit.events.outbox import publish_event
from redis_toolkit.scripts import LuaScript

BUILT = "*"
PROBE_SECONDS = 1.0  # while Redis fails, one page per second per process tries it again
TTL_SECONDS = 7 * 24 * 3600

# KEYS[1] set; ARGV[1] 'add'|'remove', ARGV[2] ttl, ARGV[3..] ids. Returns the count, or -1 if not built.
_CHANGE = LuaScript("""
if redis.call('SISMEMBER', KEYS[1], '*') == 0 then return -1 end
for i = 3, #ARGV do
  if ARGV[1] == 'add' then redis.call('SADD', KEYS[1], ARGV[i]) else redis.call('SREM', KEYS[1], ARGV[i]) end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return redis.call('SCARD', KEYS[1]) - 1
""")


def _key(user_id: int) -> str:
    return redis_key("notifications", "unread", user_id)


def _unread_ids(user_id: int) -> list[int]:
    from notifications.models import Notification

    return list(Notification.objects.filter(recipient_id=user_id, read_at__isnull=True).values_list("id", flat=True))


def _rebuild(user_id: int) -> int:
    ids = _unread_ids(user_id)
    pipe = get_redis().pipeline()
    pipe.delete(_key(user_id))
    pipe.sadd(_key(user_id), BUILT, *ids)
    pipe.expire(_key(user_id), TTL_SECONDS)
    pipe.execute()
    _missed.discard(user_id)
    return len(ids)


# Users whose set missed a change while Redis was unreachable (this process's): rebuilt once it answers,
# or a Redis that comes back with its data would show the old count until the set expires.
_missed: set[int] = set()
STALE_EVENT = "notifications.unread.stale"


def _missed_while_down(user_ids: Iterable[int]) -> None:
    """Sets that missed a change: rebuilt by this process at their next use, and by the stream workers
    (an outbox event, kept in the database until Redis is back) in case this process ends first."""
    user_ids = sorted(set(user_ids))
    _missed.update(user_ids)
    with transaction.atomic():
        publish_event(STALE_EVENT, {"user_ids": user_ids})


def unread_forget(user_ids: Iterable[int]) -> None:
    """Drop these users' sets: the next read or change rebuilds each from the database. Raises while Redis is down."""
    user_ids = list(user_ids)
    if user_ids:
        get_redis().delete(*(_key(user_id) for user_id in user_ids))
    _missed.difference_update(user_ids)


def _counted_without_redis(user_id: int, exc: BaseException) -> int:
    redis_outage.failed(exc, then="the bell counts from the database until it is back")
    return len(_unread_ids(user_id))


def unread_count(user_id: int) -> int:
    """The bell's count; from the database while Redis is unreachable (every page shows the bell)."""
    if redis_outage.recently_failed(PROBE_SECONDS):
        return len(_unread_ids(user_id))
    try:
        if user_id in _missed:
            count = _rebuild(user_id)
        else:
            count = get_redis().scard(_key(user_id))
            count = count - 1 if count else _rebuild(user_id)
    except UNREACHABLE as exc:
        return _counted_without_redis(user_id, exc)
    redis_outage.recovered()
    return count


def unread_rebuild(user_id: int) -> int:
    """The count from the database, written back to Redis: adds made while Redis was down are in it again."""
    try:
        return _rebuild(user_id)
    except UNREACHABLE as exc:
        return _counted_without_redis(user_id, exc)


def _change(mode: str, user_id: int, ids: Iterable[int]) -> int:
    """Apply a change the database already holds; while Redis is unreachable, count from the database."""
    if redis_outage.recently_failed(PROBE_SECONDS):
        _missed_while_down([user_id])
        return len(_unread_ids(user_id))
    try:
        if user_id in _missed:
            return _rebuild(user_id)
        count = _CHANGE(get_redis(), [_key(user_id)], [mode, TTL_SECONDS, *ids])
        return count if count >= 0 else _rebuild(user_id)
    except UNREACHABLE as exc:
        _missed_while_down([user_id])
        return _counted_without_redis(user_id, exc)


def unread_add(user_id: int, ids: Iterable[int]) -> int:
    return _change("add", user_id, ids)


def unread_remove(user_id: int, ids: Iterable[int]) -> int:
    return _change("remove", user_id, ids)


def unread_add_many(changes: dict[int, list[int]]) -> dict[int, int | None]:
    """Add ids for many users in one pipelined round trip (broadcasts).

    Returns each user's new count; None where the set was not built (it is rebuilt on the next read).
    While Redis is unreachable the counts come from the database (one query) and the sets are rebuilt later.
    """
    if not redis_outage.recently_failed(PROBE_SECONDS):
        pipe = get_redis().pipeline(transaction=False)
        for user_id, ids in changes.items():
            _CHANGE.queue(pipe, [_key(user_id)], ["add", TTL_SECONDS, *ids])
        try:
            replies = pipe.execute()
        except UNREACHABLE as exc:
            redis_outage.failed(exc, then="bell counts come from the database and are rebuilt once it is back")
        else:
            redis_outage.recovered()
            return {user_id: (count if count >= 0 else None) for user_id, count in zip(changes, replies, strict=True)}
    _missed_while_down(changes)
    return _counts_from_database(list(changes))


def _counts_from_database(user_ids: list[int]) -> dict[int, int]:
    from notifications.models import Notification

    unread = Notification.objects.filter(recipient_id__in=user_ids, read_at__isnull=True)
    counts = dict(unread.values("recipient_id").annotate(n=Count("id")).values_list("recipient_id", "n"))
    return {user_id: counts.get(user_id, 0) for user_id in user_ids}
