"""`manage.py run_workers`: a thread per consumer group, the outbox relay and periodic tasks, until SIGTERM/SIGINT."""

import logging
import signal
import sys
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from redis_toolkit.events import registry
from redis_toolkit.events.outbox import OutboxRelay
from redis_toolkit.events.periodic import PeriodicRunner
from redis_toolkit.events.worker import StreamWorker

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run a consumer per handler group, the outbox relay and periodic tasks; SIGTERM finishes the batch, then exits."
    )

    def add_arguments(self, parser):
        parser.add_argument("--group", action="append", dest="groups", metavar="G", help="only this group (repeatable)")
        parser.add_argument("--consumer", metavar="NAME", help="consumer name in the groups (default: <host>-<pid>)")
        parser.add_argument("--batch", type=int, metavar="N", help="entries per read (default: STREAMS_BATCH_SIZE)")
        parser.add_argument("--no-relay", action="store_true", help="do not run the outbox relay in this process")
        parser.add_argument("--no-periodic", action="store_true", help="do not run periodic tasks in this process")

    def handle(self, *args, groups, consumer, batch, no_relay, no_periodic, **options):
        registry.load_handlers()
        registered = registry.groups()
        unknown = sorted(set(groups or ()) - set(registered))
        if unknown:
            raise CommandError(
                f"--group {', '.join(unknown)}: no handlers registered for it; "
                f"registered groups: {', '.join(registered) or 'none'}"
            )
        if batch is not None and batch < 1:
            raise CommandError(f"--batch {batch}: must be at least 1")
        if consumer is not None and not consumer.strip():
            raise CommandError("--consumer: the name must not be empty")
        consumer = consumer or registry.default_consumer_name()
        workers = [StreamWorker(group=group, consumer=consumer, batch=batch) for group in groups or registered]
        if not workers:
            logger.info("no event handlers are registered; running the outbox relay only")
        targets = [(f"group-{worker.group}", worker.run) for worker in workers]
        if not no_relay:
            targets.append(("outbox-relay", OutboxRelay().run))
        if not no_periodic:
            targets.append(("periodic", PeriodicRunner().run))
        failed = run_threads(targets)
        logger.info("worker %s stopped", consumer)
        if failed:
            sys.exit(1)


def run_threads(targets: list) -> bool:
    """Run each `(name, target(stop))` in a thread until SIGTERM/SIGINT; True if one crashed (it stops them all)."""
    stop, failed = threading.Event(), threading.Event()

    def guarded(name, target) -> threading.Thread:
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

    def on_signal(signum, _frame) -> None:
        logger.info("%s: finishing the current batch, then exiting", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        # A process started in the background with SIGINT ignored keeps ignoring the terminal's Ctrl-C.
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, on_signal)
    threads = [guarded(name, target) for name, target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)
    return failed.is_set()
