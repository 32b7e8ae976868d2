"""`manage.py broadcast "text" [--room SLUG] [--users a,b,c]`: notify many users, with progress."""

from __future__ import annotations

import sys
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from chat.models import Room
from chatsite.errors import UserError
from notifications.services import broadcast_audience, broadcast_create, broadcast_send
from redis_toolkit.client import redis_outage
from redis_toolkit.locks import LockLost, LockTimeout, LockUnavailable, redis_lock


def progress_bar(out, width: int = 30):
    def show(done: int, total: int) -> None:
        filled = width * done // max(total, 1)
        out.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {done:,}/{total:,}")
        if done >= total:
            out.write("\n")
        out.flush()

    return show


BROADCAST_LOCK = "notifications.broadcast"


class Command(BaseCommand):
    help = "Send a notification to every user, to a room's members (--room) or to listed users (--users)."

    def add_arguments(self, parser):
        parser.add_argument("text", help="The announcement, up to 300 characters")
        parser.add_argument("--room", metavar="SLUG", help="Only the members of this room")
        parser.add_argument("--users", metavar="a,b,c", help="Only these usernames (comma-separated)")
        parser.add_argument("--as", dest="sender", metavar="USERNAME", help="Shown as the sender (default: none)")

    def handle(self, *args, text, room, users, sender, **options):
        if room and users:
            raise CommandError("Give --room or --users, not both.")
        target_room = None
        if room:
            target_room = Room.objects.filter(slug=room).first()
            if target_room is None:
                raise CommandError(f"No room called “{room}”. Nothing was sent.")
        usernames = [name.strip() for name in (users or "").split(",") if name.strip()]
        if users is not None and not usernames:
            raise CommandError("--users needs at least one username. Nothing was sent.")
        created_by = None
        if sender:
            created_by = get_user_model().objects.filter(username=sender).first()
            if created_by is None:
                raise CommandError(f"No such user: {sender}. Nothing was sent.")
        sent, started = None, time.monotonic()
        try:
            with redis_lock(BROADCAST_LOCK, ttl=30, blocking=False, watchdog=True):
                broadcast = broadcast_create(text=text, created_by=created_by, room=target_room, usernames=usernames)
                total = len(broadcast_audience(room=target_room, usernames=usernames))
                show = progress_bar(self.stdout) if total >= 1000 and sys.stdout.isatty() else None
                sent = broadcast_send(broadcast=broadcast, progress=show)
        except UserError as exc:
            raise CommandError(exc.detail) from None
        except LockTimeout:
            raise CommandError(
                "Another broadcast is being sent right now; try again when it has finished. Nothing was sent."
            ) from None
        except (LockUnavailable, LockLost) as exc:
            if sent is None:  # the lock could not be taken
                raise CommandError(f"Redis is not answering, so nothing was sent: {exc}") from None
            # Sent; only keeping or freeing the lock failed (Redis went away): it expires by itself.
        self.stdout.write(self.style.SUCCESS(f"Sent “{broadcast.text}” to {sent:,} of {total:,} users."))
        if redis_outage.last_failure >= started:
            self.stdout.write(
                self.style.WARNING(
                    "Redis was unreachable during the broadcast: every notification is stored and shows on the "
                    "users' pages; open bells and unread counts catch up once Redis is back (the stream workers "
                    "rebuild the counts)."
                )
            )
