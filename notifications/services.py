"""Writes for notifications: create (idempotent per event), mark read, broadcast; pushes after commit."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from chatsite.errors import NotFound, UserError
from chatsite.realtime import push_to_user, push_to_users
from chatsite.text import has_visible_text
from notifications import frames
from notifications.models import Broadcast, Notification
from notifications.unread import unread_add, unread_add_many, unread_remove
from redis_toolkit.events.outbox import publish_event

BROADCAST_BATCH = 1000
MAX_TEXT = 300


def _deliver(notification: Notification) -> None:
    # With Redis down the count comes from the database and the push is lost; an open bell is resynced
    # (notifications and count) once Redis is back.
    count = unread_add(notification.recipient_id, [notification.pk])
    push_to_user(notification.recipient_id, frames.notification_new(notification, unread_count=count))


def notification_create(
    *, recipient_id: int, kind: str, event_id: str, text: str, actor=None, room=None, message=None, data=None
) -> Notification | None:
    """Create the recipient's notification for an event once; None when it already exists."""
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                recipient_id=recipient_id,
                kind=kind,
                event_id=event_id,
                text=text[:MAX_TEXT],
                actor=actor,
                room=room,
                message=message,
                data=data or {},
            )
            transaction.on_commit(lambda: _deliver(notification))
    except IntegrityError:
        return None  # this event already notified this recipient: a redelivery
    return notification


def notification_mark_read(*, user, ids: Iterable[int] | None = None) -> tuple[list[int], int]:
    """Mark some (or, with ids=None, all) of the user's notifications read; every tab hears of it.

    Any id that is not one of the user's notifications raises NotFound and nothing changes.
    """
    mine = Notification.objects.filter(recipient=user)
    with transaction.atomic():
        if ids is not None:
            wanted = set(ids)
            found = set(mine.filter(pk__in=wanted).values_list("pk", flat=True))
            if found != wanted:
                raise NotFound("No such notification.")
            mine = mine.filter(pk__in=wanted)
        marked = list(mine.filter(read_at__isnull=True).select_for_update().values_list("pk", flat=True))
        Notification.objects.filter(pk__in=marked).update(read_at=timezone.now())
    count = unread_remove(user.pk, marked)
    if marked:
        push_to_user(user.pk, frames.notification_read(marked, unread_count=count))
    return marked, count


def broadcast_audience(*, room=None, usernames: Iterable[str] | None = None) -> list[int]:
    """User ids a broadcast goes to: a room's members, the named users, or every active user."""
    users = get_user_model().objects.filter(is_active=True)
    if usernames:
        names = sorted(set(usernames))
        found = dict(users.filter(username__in=names).values_list("username", "pk"))
        missing = [n for n in names if n not in found]
        if missing:
            raise UserError(f"No such user: {', '.join(missing)}. Nothing was sent.", code="unknown_user")
        return sorted(found.values())
    if room is not None:
        users = users.filter(memberships__room=room)
    return list(users.order_by("pk").values_list("pk", flat=True))


def broadcast_create(*, text: str, created_by, room=None, usernames: Iterable[str] | None = None) -> Broadcast:
    """Validate and record a broadcast (sending is broadcast_send, usually in a worker)."""
    text = (text or "").strip()
    if not has_visible_text(text):
        raise UserError("A broadcast needs some visible text.", code="empty_text")
    if len(text) > MAX_TEXT:
        raise UserError(f"A broadcast may be at most {MAX_TEXT} characters.", code="text_too_long")
    usernames = sorted(set(usernames or []))
    broadcast_audience(room=room, usernames=usernames)  # unknown users: refuse before anything is stored
    return Broadcast.objects.create(text=text, room=room, usernames=usernames, created_by=created_by)


@transaction.atomic
def broadcast_request(*, text: str, created_by, room=None, usernames: Iterable[str] | None = None) -> Broadcast:
    """Record a broadcast and hand its delivery to the stream workers (admin pages use this)."""
    broadcast = broadcast_create(text=text, created_by=created_by, room=room, usernames=usernames)
    publish_event("notifications.broadcast.requested", {"broadcast_id": broadcast.pk})
    return broadcast


def broadcast_send(*, broadcast: Broadcast, progress: Callable[[int, int], None] | None = None) -> int:
    """Notify the whole audience in batches; safe to run again (already notified users are skipped)."""
    audience = broadcast_audience(room=broadcast.room, usernames=broadcast.usernames)
    event_id = f"broadcast:{broadcast.pk}"
    sent = 0
    for start in range(0, len(audience), BROADCAST_BATCH):
        batch = audience[start : start + BROADCAST_BATCH]
        with transaction.atomic():
            done = set(
                Notification.objects.filter(event_id=event_id, recipient_id__in=batch).values_list(
                    "recipient_id", flat=True
                )
            )
            created = Notification.objects.bulk_create(
                Notification(
                    recipient_id=uid,
                    kind=Notification.Kind.BROADCAST,
                    event_id=event_id,
                    text=broadcast.text,
                    actor=broadcast.created_by,
                    room=broadcast.room,
                )
                for uid in batch
                if uid not in done
            )
        if created:
            counts = unread_add_many({n.recipient_id: [n.pk] for n in created})
            push_to_users(
                {n.recipient_id: frames.notification_new(n, unread_count=counts[n.recipient_id]) for n in created}
            )
        sent += len(created)
        if progress:
            progress(min(start + len(batch), len(audience)), len(audience))
    Broadcast.objects.filter(pk=broadcast.pk).update(recipients=len(audience), completed_at=timezone.now())
    return sent
