"""Who gets notified of what: the rules the stream handlers apply (idempotent per event)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from chat.models import Membership, Message, Room
from chat.selectors import message_mentioned_usernames
from notifications.models import Broadcast, Notification
from notifications.services import broadcast_send, notification_create

SNIPPET = 80
# People one message can notify by @name: a body of 4,000 characters names about a thousand, which
# made every message a broadcast anyone could send. Past the first ones, the names stay links only.
MAX_MENTIONS = 30


def _snippet(body: str) -> str:
    body = " ".join(body.split())
    return body if len(body) <= SNIPPET else body[: SNIPPET - 1] + "…"


def message_posted_notifies_nobody(payload: dict) -> bool:
    """The event alone shows that no rule applies (not a DM, no reply, no @name): most messages, no database read.

    Events published before the payload carried these hints (still in the outbox or a stream) lack them
    and are read the full way.
    """
    missing = object()
    hints = (payload.get("direct", missing), payload.get("reply_to", missing), payload.get("mentions", missing))
    return hints == (False, None, 0)


def notify_message_posted(*, event_id: str, message_id: int) -> int:
    """A reply and mentions in any room, or a direct-message notification in a DM; returns how many were made.

    Whoever is both answered and mentioned gets one notification (the reply): one per recipient and event.
    """
    message = Message.objects.select_related("room", "author", "reply_to").filter(pk=message_id).first()
    if message is None or message.deleted_at is not None or message.author is None:
        return 0  # gone before we got to it: nothing to tell anyone
    if message.room.kind == Room.Kind.DIRECT:
        return _notify_direct_message(event_id=event_id, message=message)
    return _notify_reply(event_id=event_id, message=message) + _notify_mentions(event_id=event_id, message=message)


def _notify_reply(*, event_id: str, message: Message) -> int:
    """The answered message's author hears of the reply (not when answering oneself, not from a muted room)."""
    original, room, author = message.reply_to, message.room, message.author
    if original is None or original.author_id in (None, author.pk):
        return 0
    recipient = get_user_model().objects.filter(pk=original.author_id, is_active=True).first()
    membership = Membership.objects.filter(room=room, user_id=original.author_id).first()
    if recipient is None or (membership is None and not room.is_public) or (membership and membership.muted):
        return 0
    text = f"{author.username} replied to you in #{room.title}: {_snippet(message.body)}"
    return int(
        _notify_about(message, recipient_id=recipient.pk, kind=Notification.Kind.REPLY, event_id=event_id, text=text)
    )


def _notify_mentions(*, event_id: str, message: Message) -> int:
    names = message_mentioned_usernames(body=message.body)
    if not names:
        return 0
    room, author = message.room, message.author
    if len(names) > MAX_MENTIONS:
        names = sorted(names, key=lambda name: message.body.find(f"@{name}"))[:MAX_MENTIONS]
    candidates = get_user_model().objects.filter(username__in=names, is_active=True).exclude(pk=author.pk)
    members = Membership.objects.filter(room=room, user__in=candidates)
    muted = set(members.filter(muted=True).values_list("user_id", flat=True))
    allowed = candidates if room.is_public else candidates.filter(pk__in=members.values("user_id"))
    made = 0
    for user_id in allowed.exclude(pk__in=muted).values_list("pk", flat=True):
        text = f"{author.username} mentioned you in #{room.title}: {_snippet(message.body)}"
        made += _notify_about(
            message, recipient_id=user_id, kind=Notification.Kind.MENTION, event_id=event_id, text=text
        )
    return made


def _notify_about(message: Message, *, recipient_id: int, kind: str, event_id: str, text: str) -> bool:
    created = notification_create(
        recipient_id=recipient_id,
        kind=kind,
        event_id=event_id,
        text=text,
        actor=message.author,
        room=message.room,
        message=message,
        data={"seq": message.seq},
    )
    return created is not None


def _notify_direct_message(*, event_id: str, message: Message) -> int:
    room, author = message.room, message.author
    made = 0
    for membership in Membership.objects.filter(room=room).exclude(user=author):
        with transaction.atomic():
            # Lock the recipient's membership: concurrent workers must not both see "no unread DM note".
            Membership.objects.select_for_update().filter(pk=membership.pk).first()
            waiting = Notification.objects.filter(
                recipient_id=membership.user_id, room=room, kind=Notification.Kind.DIRECT_MESSAGE, read_at__isnull=True
            ).exists()
            if waiting or membership.muted:
                continue  # one notification per unread conversation, not one per message
            text = f"{author.username} sent you a message: {_snippet(message.body)}"
            kind = Notification.Kind.DIRECT_MESSAGE
            made += _notify_about(message, recipient_id=membership.user_id, kind=kind, event_id=event_id, text=text)
    return made


def notify_member_added(*, event_id: str, room_id: int, user_id: int, added_by_id: int | None) -> bool:
    """An invitation when someone else adds the user to a private room."""
    room = Room.objects.filter(pk=room_id).first()
    if room is None or room.kind != Room.Kind.PRIVATE or added_by_id in (None, user_id):
        return False
    actor = get_user_model().objects.filter(pk=added_by_id).first()
    who = actor.username if actor else "Someone"
    return (
        notification_create(
            recipient_id=user_id,
            kind=Notification.Kind.ROOM_INVITE,
            event_id=event_id,
            text=f"{who} added you to the private room {room.title}",
            actor=actor,
            room=room,
        )
        is not None
    )


def send_broadcast(*, broadcast_id: int) -> int:
    broadcast = Broadcast.objects.select_related("room", "created_by").filter(pk=broadcast_id).first()
    return 0 if broadcast is None else broadcast_send(broadcast=broadcast)
