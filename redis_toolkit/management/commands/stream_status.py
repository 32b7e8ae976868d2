"""`manage.py stream_status`: length, groups, pending, lag, consumers and dead letters of every stream."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from redis_toolkit.events.outbox import outbox_backlog
from redis_toolkit.events.status import LAG_SCAN_LIMIT, stream_status


def format_ms(ms: int) -> str:
    if ms < 1000:
        return f"{ms}ms"
    if ms < 120_000:
        return f"{ms / 1000:.1f}s"
    if ms < 7_200_000:
        return f"{ms // 60_000}m"
    return f"{ms // 3_600_000}h"


def format_lag(lag: int) -> str:
    return f"{lag}+" if lag >= LAG_SCAN_LIMIT else str(lag)


class Command(BaseCommand):
    help = "Print, per stream and consumer group: length, pending, lag, consumers and their idle time, dead letters."

    def handle(self, *args, **options):
        waiting, oldest = outbox_backlog()
        age = f", the oldest from {format_ms(int((timezone.now() - oldest).total_seconds() * 1000))} ago"
        self.stdout.write(f"outbox: {waiting} event(s) waiting for the relay{age if oldest else ''}")
        streams = stream_status()
        if not streams:
            self.stdout.write("no streams yet")
        for stream in streams:
            self.stdout.write(f"stream {stream.name}: length {stream.length}, dead letters {stream.dead_letters}")
            if not stream.groups:
                self.stdout.write("  no consumer groups")
            for group in stream.groups:
                self.stdout.write(
                    f"  group {group.name}: pending {group.pending}, lag {format_lag(group.lag)}, "
                    f"consumers {len(group.consumers)}"
                )
                for consumer in group.consumers:
                    self.stdout.write(
                        f"    consumer {consumer.name}: pending {consumer.pending}, idle {format_ms(consumer.idle_ms)}"
                    )
