"""`run_workers`: a thread per consumer group, the outbox relay and the periodic tasks, until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from django.db import connections

from redis_toolkit.events.outbox import OutboxRelay
from redis_toolkit.events.periodic import PeriodicRunner
from redis_toolkit.events.registry import HandlerRegistry, default_consumer_name, default_registry
from redis_toolkit.events.worker import StreamWorker

logger = logging.getLogger(__name__)


def run_workers(
    *,
    groups: list[str],
    consumer: str | None = None,
    batch: int | None = None,
    relay: bool = True,
    periodic: bool = True,
    stop: threading.Event | None = None,
    registry: HandlerRegistry = default_registry,
) -> int:
    """Run a thread per group, the outbox relay and periodic tasks until SIGTERM/SIGINT; returns the exit status."""
    stop = stop or threading.Event()
    consumer = consumer or default_consumer_name()
    workers = [StreamWorker(group=g, consumer=consumer, batch=batch, registry=registry) for g in groups]
    failed = threading.Event()

    def guarded(name: str, target: Callable[[threading.Event], None]) -> threading.Thread:
        def body() -> None:
            try:
                target(stop)
            except BaseException:
                logger.exception("%s crashed; stopping the worker process", name)
                failed.set()
                stop.set()
            finally:
                connections.close_all()

        return threading.Thread(target=body, name=name)

    threads = [guarded(f"group-{w.group}", w.run) for w in workers]
    if relay:
        threads.append(guarded("outbox-relay", OutboxRelay().run))
    if periodic:
        threads.append(guarded("periodic", PeriodicRunner().run))

    def on_signal(signum, _frame) -> None:
        logger.info("%s: finishing the current batch, then exiting", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        # A process started in the background with SIGINT ignored keeps ignoring the terminal's Ctrl-C.
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, on_signal)
    if not workers:
        logger.info("no event handlers are registered; running the outbox relay only")
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)
    logger.info("worker %s stopped", consumer)
    return 1 if failed.is_set() else 0
