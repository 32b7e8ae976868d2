"""TEMP stand-in for the locks branch: SET NX PX + INCR, owner-checked release; dropped at merge."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from chatsite.redis_toolkit.connections import get_redis
from chatsite.redis_toolkit.keys import redis_key

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return redis.call('INCR', KEYS[2]) end
return false
"""
_EXTEND = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class LockTimeout(Exception):
    """The lock is held by someone else (non-blocking) or was not free in time."""


class LockLost(Exception):
    """The lease expired or was taken over while its holder still ran."""


@dataclass
class Lease:
    name: str
    owner: str
    fencing_token: int
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)


def _script(source: str):
    return get_redis("locks").register_script(source)


def _watch(lease: Lease, ttl_ms: int) -> None:
    extend = _script(_EXTEND)
    while not lease._stop.wait(ttl_ms / 3000):
        try:
            if not extend(keys=[redis_key("lock", lease.name)], args=[lease.owner, ttl_ms]):
                lease.lost = True
                return
        except Exception:
            lease.lost = True
            return


@contextmanager
def redis_lock(
    name: str,
    *,
    ttl: float = 10.0,
    blocking: bool = True,
    blocking_timeout: float | None = None,
    watchdog: bool = False,
) -> Iterator[Lease]:
    owner, ttl_ms = uuid.uuid4().hex, int(ttl * 1000)
    deadline = None if blocking_timeout is None else time.monotonic() + blocking_timeout
    acquire = _script(_ACQUIRE)
    while True:
        token = acquire(keys=[redis_key("lock", name), redis_key("lock", name, "fence")], args=[owner, ttl_ms])
        if token:
            break
        if not blocking or (deadline is not None and time.monotonic() >= deadline):
            raise LockTimeout(f"lock {name!r} is held by another owner")
        time.sleep(0.05)
    lease = Lease(name, owner, int(token))
    watcher = threading.Thread(target=_watch, args=(lease, ttl_ms), daemon=True) if watchdog else None
    if watcher:
        watcher.start()
    try:
        yield lease
    finally:
        lease._stop.set()
        if watcher:
            watcher.join()
        released = _script(_RELEASE)(keys=[redis_key("lock", name)], args=[owner])
        if not released:
            lease.lost = True
    if lease.lost:
        raise LockLost(f"lock {name!r} was lost before it was released")
