"""Session engine: Django's cached_db whose Redis cache never fails a request (the database decides).

cached_db already reads the database on a cache miss, but the `sessions` alias raises (it must never
swallow errors silently), so with Redis down a signed-in page answered 500 after the timeouts. Here
every cache call goes through `_SafeCache`: a failure is logged once per outage (redis_outage), the
next calls skip Redis for a second instead of each waiting on it, and the session is read from and
written to the database alone. A session changed or deleted while Redis was unreachable may still be
cached there with its old content, so its key is remembered and dropped from the cache first thing
once Redis answers again: a sign-out during the outage stays signed out.
"""

from __future__ import annotations

import logging
import threading

from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from redis.exceptions import RedisError

from chatsite import metrics
from redis_toolkit.client import redis_outage

logger = logging.getLogger(__name__)

PROBE_SECONDS = 1.0  # while Redis is failing, one request per second per process tries it
FAILURES = (RedisError, OSError)
_MISSING = object()


class _SafeCache:
    """The subset of the cache API cached_db uses; errors become misses and skipped writes."""

    _stale: set[str] = set()  # keys whose cached copy may be out of date (process-wide)
    _lock = threading.Lock()

    def __init__(self, cache) -> None:
        self.cache = cache

    def _skip(self) -> bool:
        return redis_outage.recently_failed(PROBE_SECONDS)

    def _failed(self, exc: BaseException) -> None:
        metrics.REDIS_ERRORS.labels("sessions").inc()
        redis_outage.failed(exc, then="sessions are read from the database until it is back")

    def _forget_stale(self) -> bool:
        """Drop from Redis the entries written or deleted in the database alone; False if Redis failed."""
        with self._lock:
            stale, _SafeCache._stale = list(self._stale), set()
        try:
            self.cache.delete_many(stale)
        except FAILURES as exc:
            with self._lock:
                _SafeCache._stale.update(stale)
            self._failed(exc)
            return False
        return True

    def _call(self, method: str, key: str, *args, write: bool):
        if self._skip():
            if write:
                with self._lock:
                    _SafeCache._stale.add(key)
            return _MISSING
        if self._stale and not self._forget_stale():
            if write:
                with self._lock:
                    _SafeCache._stale.add(key)
            return _MISSING
        try:
            result = getattr(self.cache, method)(key, *args)
        except FAILURES as exc:
            if write:
                with self._lock:
                    _SafeCache._stale.add(key)
            self._failed(exc)
            return _MISSING
        redis_outage.recovered()
        return result

    def get(self, key: str):
        result = self._call("get", key, write=False)
        return None if result is _MISSING else result

    def set(self, key: str, value, timeout) -> None:
        self._call("set", key, value, timeout, write=True)

    def delete(self, key: str) -> None:
        self._call("delete", key, write=True)

    def __contains__(self, key: str) -> bool:
        result = self._call("has_key", key, write=False)
        return result is not _MISSING and bool(result)

    # Async twins: django-redis has no native async client, its a-methods run the sync ones in a thread.
    async def aget(self, key: str):
        from asgiref.sync import sync_to_async

        return await sync_to_async(self.get)(key)

    async def aset(self, key: str, value, timeout) -> None:
        from asgiref.sync import sync_to_async

        await sync_to_async(self.set)(key, value, timeout)

    async def adelete(self, key: str) -> None:
        from asgiref.sync import sync_to_async

        await sync_to_async(self.delete)(key)


class SessionStore(CachedDBStore):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._cache = _SafeCache(self._cache)
