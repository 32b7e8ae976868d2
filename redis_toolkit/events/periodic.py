"""Periodic tasks: every worker process schedules them, one runs each per interval fleet-wide (a lock per task)."""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis_toolkit.client import UNREACHABLE
from redis_toolkit.events.codec import check_name
from redis_toolkit.events.registry import refresh_db_connections
from redis_toolkit.locks import LockError, LockTimeout, redis_lock

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    every: float
    func: Callable[[], object]


_tasks: dict[str, PeriodicTask] = {}


def periodic_task(name: str, *, every: float) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Decorator: `@periodic_task("notifications.purge_read", every=3600)` in an app's handlers.py."""
    check_name(name, argument="name")
    if not isinstance(every, int | float) or every <= 0:
        raise ValueError(f"every={every!r} must be a number of seconds above 0")

    def register(func: Callable[[], object]) -> Callable[[], object]:
        _tasks[name] = PeriodicTask(name, float(every), func)
        return func

    return register


def run_due(task: PeriodicTask) -> bool:
    """Run the task here unless another process ran it within its interval; True when it ran here."""
    lock = redis_lock(f"periodic:{task.name}", ttl=max(30.0, task.every / 2), blocking=False, watchdog=True)
    started = time.monotonic()
    try:
        lease = lock.__enter__()
    except LockTimeout:
        return False
    with contextlib.ExitStack() as held:
        held.push(lock)  # the lock's __exit__, as `with lock:` runs it, without entering it again
        task.func()
        # The lease outlives the run until `every` seconds after the start: fleet-wide, once per interval.
        # A task that failed gives it back at once instead, so the next due time tries again.
        lease.release_after(task.every - (time.monotonic() - started))
    return True


class PeriodicRunner:
    """A worker thread: tries each task when it is due locally; the lock decides who really runs it."""

    def __init__(self, tasks: list[PeriodicTask] | None = None, *, tick: float = 1.0, jitter: float = 10.0) -> None:
        self.tasks = tasks if tasks is not None else sorted(_tasks.values(), key=lambda task: task.name)
        self.tick, self.jitter = tick, jitter

    def run(self, stop: threading.Event) -> None:
        # Spread the first attempts so a fleet restarted at once does not stampede the locks.
        due = {task.name: time.monotonic() + random.uniform(0, min(task.every, self.jitter)) for task in self.tasks}
        while not stop.wait(self.tick):
            for task in self.tasks:
                if time.monotonic() < due[task.name]:
                    continue
                due[task.name] = time.monotonic() + task.every
                try:
                    if run_due(task):
                        logger.debug("periodic task %s ran", task.name)
                except (LockError, *UNREACHABLE) as exc:
                    logger.warning("periodic task %s skipped: %s", task.name, exc)
                except Exception:
                    logger.exception("periodic task %s failed", task.name)
                finally:
                    refresh_db_connections()
