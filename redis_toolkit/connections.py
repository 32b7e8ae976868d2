"""One Redis connection pool per process and purpose, built from settings in this one place."""

from __future__ import annotations

import asyncio
import os
import threading
import weakref

import redis
import redis.asyncio as aredis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

_lock = threading.Lock()
_sync_clients: dict[tuple[int, str, str], redis.Redis] = {}
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], aredis.Redis]] = (
    weakref.WeakKeyDictionary()
)


def default_retry(*, asyncio_client: bool = False) -> Retry:
    """Retry only connection failures: a timed-out command may have run, so it is not repeated."""
    backoff = ExponentialWithJitterBackoff(base=0.05, cap=1.0)
    if asyncio_client:
        from redis.asyncio.retry import Retry as AsyncRetry

        return AsyncRetry(backoff, 3, supported_errors=(RedisConnectionError,))
    return Retry(backoff, 3, supported_errors=(RedisConnectionError,))


def _options() -> tuple[str, dict]:
    from django.conf import settings

    timeout = settings.REDIS_SOCKET_TIMEOUT
    return settings.REDIS_URL, {
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "health_check_interval": 30,
        "max_connections": settings.REDIS_MAX_CONNECTIONS,
        "timeout": timeout,  # how long to wait for a free pooled connection
    }


def _sentinel_pool(module, decode_responses: bool, retry, options: dict):
    """With REDIS_SENTINELS set, a pool that asks the Sentinels for the master (again after a failover)."""
    from django.conf import settings

    if not getattr(settings, "REDIS_SENTINELS", None):
        return None
    options = {k: v for k, v in options.items() if k != "timeout"}  # a BlockingConnectionPool option
    sentinel = module.sentinel.Sentinel(settings.REDIS_SENTINELS, socket_timeout=options["socket_timeout"])
    master = settings.REDIS_SENTINEL_MASTER
    return module.sentinel.SentinelConnectionPool(
        master, sentinel, decode_responses=decode_responses, retry=retry, **options
    )


def get_redis(purpose: str = "toolkit", *, decode_responses: bool = False) -> redis.Redis:
    """The process-wide client for `purpose`; errors always propagate (no swallowing)."""
    from django.conf import settings

    # Looked up before the options are built: this runs once or twice per lock acquire/release.
    key = (os.getpid(), settings.REDIS_URL, f"{purpose}:{decode_responses}")
    client = _sync_clients.get(key)
    if client is None:
        with _lock:
            client = _sync_clients.get(key)
            if client is None:
                url, options = _options()
                pool = _sentinel_pool(redis, decode_responses, default_retry(), options) or (
                    redis.BlockingConnectionPool.from_url(
                        url, decode_responses=decode_responses, retry=default_retry(), **options
                    )
                )
                client = _sync_clients[key] = redis.Redis(connection_pool=pool)
    return client


def aget_redis(purpose: str = "toolkit", *, decode_responses: bool = False) -> aredis.Redis:
    """Async twin of get_redis; asyncio pools belong to one event loop, so there is one per loop."""
    from django.conf import settings

    loop = asyncio.get_running_loop()
    per_loop = _async_clients.setdefault(loop, {})
    key = (settings.REDIS_URL, f"{purpose}:{decode_responses}")
    client = per_loop.get(key)
    if client is None:
        url, options = _options()
        retry = default_retry(asyncio_client=True)
        pool = _sentinel_pool(aredis, decode_responses, retry, options) or aredis.BlockingConnectionPool.from_url(
            url, decode_responses=decode_responses, retry=retry, **options
        )
        client = per_loop[key] = aredis.Redis(connection_pool=pool)
    return client


def reset_clients() -> None:
    """Forget every pool (tests that point REDIS_URL elsewhere call this)."""
    with _lock:
        for client in _sync_clients.values():
            client.connection_pool.disconnect()
        _sync_clients.clear()
    _async_clients.clear()
