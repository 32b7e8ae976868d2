"""Stream handlers of the notifications group: events in, notifications out (run by run_workers)."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from notifications import rules
from notifications.models import Notification
from notifications.unread import STALE_EVENT, unread_forget
from redis_toolkit.events.periodic import periodic_task
from redis_toolkit.events.registry import event_handler

GROUP = "notifications"


@event_handler("chat.message.posted", group=GROUP, fields={"message_id": int})
def message_posted(event) -> None:
    if rules.message_posted_notifies_nobody(event.payload):
        return
    rules.notify_message_posted(event_id=str(event.id), message_id=event.payload["message_id"])


@event_handler("chat.member.added", group=GROUP, fields={"room_id": int, "user_id": int})
def member_added(event) -> None:
    payload = event.payload
    rules.notify_member_added(
        event_id=str(event.id),
        room_id=payload["room_id"],
        user_id=payload["user_id"],
        added_by_id=payload.get("added_by_id"),
    )


@event_handler("notifications.broadcast.requested", group=GROUP, fields={"broadcast_id": int})
def broadcast_requested(event) -> None:
    rules.send_broadcast(broadcast_id=event.payload["broadcast_id"])


@event_handler(STALE_EVENT, group=GROUP, fields={"user_ids": list})
def unread_stale(event) -> None:
    """Bell counts that missed changes while Redis was unreachable: rebuilt from the database at their next read."""
    unread_forget(event.payload["user_ids"])


@event_handler("chat.message.edited", group=GROUP)
@event_handler("chat.message.deleted", group=GROUP)
def message_changed(event) -> None:
    """Known, so not dead-lettered; notifications point at the message and show its current state."""


@periodic_task("notifications.purge_read", every=3600)
def purge_read() -> None:
    """Read notifications older than NOTIFICATIONS_KEEP_READ_DAYS are deleted (unread ones stay)."""
    cutoff = timezone.now() - timedelta(days=settings.NOTIFICATIONS_KEEP_READ_DAYS)
    Notification.objects.filter(read_at__lt=cutoff).delete()
