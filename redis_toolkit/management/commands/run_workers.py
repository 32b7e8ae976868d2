"""`manage.py run_workers`: the stream workers of every registered handler, and the outbox relay."""

import sys

from django.core.management.base import BaseCommand, CommandError

from redis_toolkit.events.registry import default_registry, load_handlers
from redis_toolkit.events.runner import run_workers


class Command(BaseCommand):
    help = (
        "Handle events: one consumer per group of registered handlers (XREADGROUP in batches, XACK after "
        "success, retries, dead letters) plus the leader-elected outbox relay. SIGTERM/SIGINT finish the "
        "current batch and exit."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--group", action="append", dest="groups", metavar="G", help="run only this group (repeatable)"
        )
        parser.add_argument("--consumer", metavar="NAME", help="consumer name in the groups (default: <host>-<pid>)")
        parser.add_argument("--batch", type=int, metavar="N", help="entries per read (default: STREAMS_BATCH_SIZE)")
        parser.add_argument("--no-relay", action="store_true", help="do not run the outbox relay in this process")
        parser.add_argument(
            "--no-periodic", action="store_true", help="do not run periodic maintenance tasks in this process"
        )

    def handle(self, *args, groups, consumer, batch, no_relay, no_periodic, **options):
        load_handlers()
        registered = default_registry.groups()
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
        status = run_workers(
            groups=groups or registered, consumer=consumer, batch=batch, relay=not no_relay, periodic=not no_periodic
        )
        if status:
            sys.exit(status)
