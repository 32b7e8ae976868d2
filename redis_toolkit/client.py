"""Redis clients (one pool per process and purpose), key names under the prefix, and outage reporting."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
import weakref

import redis
import redis.asyncio as aredis
import redis.asyncio.sentinel
import redis.sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from redis_toolkit.conf import toolkit_setting

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
_DRIVER_INFO = redis.driver_info.DriverInfo()  # built once: each connection would look its version up (0.65 ms)
_lock = threading.Lock()
_sync_clients: dict[tuple, redis.Redis] = {}
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, aredis.Redis]] = (
    weakref.WeakKeyDictionary()
)


def redis_key(*parts: object) -> str:
    """`redis_key("lock", "relay")` -> "chatsite:lock:relay" (the prefix is REDIS_KEY_PREFIX)."""
    return toolkit_setting("REDIS_KEY_PREFIX") + ":".join(str(part) for part in parts)


def default_retry(*, asyncio_client: bool = False) -> Retry:
    """Retry only connection failures: a timed-out command may have run, so it is not repeated."""
    backoff = ExponentialWithJitterBackoff(base=0.05, cap=1.0)
    return (AsyncRetry if asyncio_client else Retry)(backoff, 3, supported_errors=(RedisConnectionError,))


def _client(module, *, url: str, decode_responses: bool):
    """A client on a BlockingConnectionPool for REDIS_URL, or with REDIS_SENTINELS on one that asks the
    Sentinels for the master (and asks again after a failover)."""
    timeout, retry = toolkit_setting("REDIS_SOCKET_TIMEOUT"), default_retry(asyncio_client=module is aredis)
    options = {"socket_connect_timeout": timeout, "socket_timeout": timeout, "health_check_interval": 30}
    options |= {"decode_responses": decode_responses, "retry": retry, "driver_info": _DRIVER_INFO}
    options["max_connections"] = toolkit_setting("REDIS_MAX_CONNECTIONS")
    if sentinels := toolkit_setting("REDIS_SENTINELS"):
        sentinel = module.sentinel.Sentinel(list(sentinels), socket_timeout=timeout)
        pool = module.sentinel.SentinelConnectionPool(toolkit_setting("REDIS_SENTINEL_MASTER"), sentinel, **options)
    else:  # `timeout`: how long to wait for a free pooled connection
        pool = module.BlockingConnectionPool.from_url(url, timeout=timeout, **options)
    return module.Redis(connection_pool=pool)


def get_redis(purpose: str = "toolkit", *, decode_responses: bool = False) -> redis.Redis:
    """The process-wide client for `purpose`; errors always propagate (no swallowing)."""
    url = toolkit_setting("REDIS_URL")
    key = (os.getpid(), url, purpose, decode_responses)
    if (client := _sync_clients.get(key)) is None:
        with _lock:
            if (client := _sync_clients.get(key)) is None:
                client = _sync_clients[key] = _client(redis, url=url, decode_responses=decode_responses)
    return client


def aget_redis(purpose: str = "toolkit", *, decode_responses: bool = False) -> aredis.Redis:
    """Async twin of get_redis; asyncio pools belong to one event loop, so there is one per loop."""
    url = toolkit_setting("REDIS_URL")
    per_loop, key = _async_clients.setdefault(asyncio.get_running_loop(), {}), (url, purpose, decode_responses)
    if (client := per_loop.get(key)) is None:
        client = per_loop[key] = _client(aredis, url=url, decode_responses=decode_responses)
    return client


def reset_clients() -> None:
    """Forget every pool (tests that point REDIS_URL elsewhere call this)."""
    with _lock:
        for client in _sync_clients.values():
            client.connection_pool.disconnect()
        _sync_clients.clear()
    _async_clients.clear()


class RedisOutage:
    """One log line when this process loses Redis, one when it is back, and the backoff in between
    (shared by the threads of a process, so an outage is reported once)."""

    MIN_BACKOFF, MAX_BACKOFF = 0.2, 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self.last_failure = 0.0
        self._failures = 0

    def failed(self, exc: BaseException, *, then: str) -> float:
        """Record a failed call; returns how long the caller should wait before trying again."""
        with self._lock:
            now = time.monotonic()
            self.last_failure = now
            self._failures += 1
            if self.down_since is None:
                self.down_since = now
                url = toolkit_setting("REDIS_URL")
                logger.error("Redis unreachable at %s (%s: %s); %s", url, type(exc).__name__, exc, then)
            delay = min(self.MAX_BACKOFF, self.MIN_BACKOFF * 2 ** min(self._failures - 1, 10))
        return delay * random.uniform(0.5, 1.0)

    def recovered(self) -> None:
        if self.down_since is None:  # the common case: no lock, no log
            return
        with self._lock:
            if self.down_since is not None:
                logger.warning("Redis answers again after %.1fs", time.monotonic() - self.down_since)
                self.down_since = None
                self._failures = 0

    def recently_failed(self, within: float) -> bool:
        return self.down_since is not None and time.monotonic() - self.last_failure < within


redis_outage = RedisOutage()
