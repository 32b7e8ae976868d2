"""A small thread pool for the database work of socket handshakes, beside Channels' one shared DB thread.

`database_sync_to_async` runs every call of the process on one thread, one after another, and asks the
database `SELECT 1` before each (close_old_connections resets Django's health check every call): under a
reconnect storm handshakes queued behind each other and behind every message being posted. Here a few
threads, each with its own connection, serve the handshakes concurrently (PostgreSQL runs them side by
side; SQLite's WAL lets readers in while one writes), and a thread checks its connection's health at most
once a second, or at once after an error.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections

HEALTH_CHECK_SECONDS = 1.0

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()
_local = threading.local()


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(settings.SOCKET_DB_THREADS, thread_name_prefix="socket-db")
    return _executor


def _persistent() -> bool:
    return all(conn.settings_dict.get("CONN_MAX_AGE") != 0 for conn in connections.all(initialized_only=True))


def _run(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    now = time.monotonic()
    if now - getattr(_local, "checked", 0.0) > HEALTH_CHECK_SECONDS:
        close_old_connections()  # a connection past CONN_MAX_AGE or broken is replaced; health checked once
        _local.checked = now
    try:
        return fn(*args, **kwargs)
    finally:
        if not _persistent() or any(conn.errors_occurred for conn in connections.all(initialized_only=True)):
            close_old_connections()  # CONN_MAX_AGE=0 means no connection kept; an error means check it now
            _local.checked = 0.0


async def arun(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a sync function that uses the ORM on the pool, from the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), _run, fn, args, kwargs)


def row_values(fields, row) -> list:
    """A hand-written query's row as the ORM would give it (SQLite's booleans and dates; PostgreSQL's as is)."""
    connection = connections["default"]
    values = []
    for (col, converters), value in zip(_converters(tuple(fields), connection.vendor), row, strict=True):
        for converter in converters:
            value = converter(value, col, connection)
        values.append(value)
    return values


@functools.cache
def _converters(fields: tuple, vendor: str) -> list[tuple[Any, list]]:
    connection = connections["default"]
    out = []
    for field in fields:
        col = field.get_col(field.model._meta.db_table)
        out.append((col, connection.ops.get_db_converters(col) + field.get_db_converters(connection)))
    return out
