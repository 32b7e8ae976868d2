"""One log line when this process loses Redis and one when it is back, and the backoff in between."""

from __future__ import annotations

import logging
import random
import threading
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
MIN_BACKOFF = 0.2
MAX_BACKOFF = 5.0


class RedisOutage:
    """Shared by the threads of a process, so an outage is reported once, not once per thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self.last_failure = 0.0
        self._failures = 0

    def failed(self, exc: BaseException, *, then: str) -> float:
        """Record a failed call; returns how long the caller should wait before trying again."""
        from django.conf import settings

        with self._lock:
            now = time.monotonic()
            self.last_failure = now
            self._failures += 1
            if self.down_since is None:
                self.down_since = now
                logger.error(
                    "Redis unreachable at %s (%s: %s); %s",
                    settings.REDIS_URL,
                    type(exc).__name__,
                    exc,
                    then,
                )
            delay = min(MAX_BACKOFF, MIN_BACKOFF * 2 ** min(self._failures - 1, 10))
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

    def reset(self) -> None:
        with self._lock:
            self.down_since, self.last_failure, self._failures = None, 0.0, 0


redis_outage = RedisOutage()
