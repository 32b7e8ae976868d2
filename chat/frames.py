"""Room frames: the plain dicts every room socket receives, built in one place (sent through chatsite.realtime)."""

from __future__ import annotations

from django.urls import reverse

from chat.models import Message, Room
from chat.selectors import message_reply_count, reaction_summaries
from chat.uploads import attachments_data

QUOTE_CHARS = 120


def message_data(message: Message, *, room_slug: str | None = None, author_name: str | None = None) -> dict:
    """The public shape of a message (docs/protocol.md); deleted messages keep no body."""
    deleted = message.deleted_at is not None
    return {
        "id": message.pk,
        "seq": message.seq,
        "room": room_slug or message.room.slug,
        "author": author_name if author_name is not None else (message.author.username if message.author else None),
        "author_id": message.author_id,
        "body": "" if deleted else message.body,
        "html": "" if deleted else message.html,
        "created_at": message.created_at.isoformat(),
        "edited_at": message.edited_at.isoformat() if message.edited_at else None,
        "deleted": deleted,
        "client_id": message.client_id or None,
        "reply_to": message.reply_to_id,
        "reply": _quote(message.reply_to) if message.reply_to_id else None,
        "reply_count": _reply_count(message),
        "reactions": _reactions(message),
        "attachments": attachments_data(message),
    }


def _quote(original: Message | None) -> dict | None:
    """A short, plain-text quote of the answered message (the page shows it above the reply)."""
    if original is None:
        return None
    deleted = original.deleted_at is not None
    text = "" if deleted else " ".join(original.body.split())
    return {
        "id": original.pk,
        "seq": original.seq,
        "author": original.author.username if original.author else None,
        "excerpt": text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…",
        "deleted": deleted,
    }


# Selectors attach these to history pages (one query per page); a lone message asks the database.
def _reply_count(message: Message) -> int:
    count = getattr(message, "reply_count", None)
    return count if count is not None else message_reply_count(message_id=message.pk)


def _reactions(message: Message) -> list[dict]:
    summary = getattr(message, "reaction_summary", None)
    return summary if summary is not None else reaction_summaries(message_ids=[message.pk]).get(message.pk, [])


def message_new(message: Message, **names) -> dict:
    return {"type": "message.new", "message": message_data(message, **names)}


def message_edited(message: Message) -> dict:
    return {"type": "message.edited", "message": message_data(message)}


def message_deleted(message: Message) -> dict:
    return {"type": "message.deleted", "id": message.pk, "seq": message.seq, "room": message.room.slug}


def reaction(message: Message, *, emoji: str, users: list[str], room_slug: str) -> dict:
    return {
        "type": "reaction",
        "id": message.pk,
        "seq": message.seq,
        "room": room_slug,
        "emoji": emoji,
        "count": len(users),
        "users": users,
    }


def replies(original: Message, *, room_slug: str, count: int) -> dict:
    return {"type": "message.replies", "id": original.pk, "seq": original.seq, "room": room_slug, "count": count}


def typing(*, room_slug: str, user_id: int, username: str, active: bool) -> dict:
    return {"type": "typing", "room": room_slug, "user": {"id": user_id, "username": username}, "active": active}


def presence(*, room_slug: str, online: list[dict]) -> dict:
    return {"type": "presence", "room": room_slug, "online": online}


def unread(*, room_slug: str, count: int, last_read_seq: int) -> dict:
    return {"type": "unread", "room": room_slug, "count": count, "last_read_seq": last_read_seq}


# ------------------------------------------------------------------ room management
def room_summary(room) -> dict:
    """A room as a room list shows it (room.added to an invited user's notification socket)."""
    return {
        "slug": room.slug,
        "title": room.title,
        "topic": room.topic,
        "kind": room.kind,
        "url": reverse("room", args=[room.slug]),
    }


def member_data(membership) -> dict:
    return {"id": membership.user_id, "username": membership.user.username, "role": membership.role}


def room_added(room, *, item: dict) -> dict:
    """`item`: the room rendered as the user's room lists show it (chat.room_list.room_list_item)."""
    return {"type": "room.added", "room": {**room_summary(room), **item}}


def room_removed(room) -> dict:
    return {"type": "room.removed", "room": room.slug}


def room_item(*, user, slug: str) -> dict | None:
    """`room.item`: one room of the user's lists re-rendered by the page's own template after its newest
    message changed (preview, time, count, place); None when the room is not in the user's list."""
    from chat.room_list import room_list_item  # renders templates: loaded only where a list is kept live

    room = Room.objects.filter(slug=slug).first()
    try:
        item = room_list_item(user=user, room=room) if room is not None else None
    except StopIteration:  # not (or no longer) one of the user's rooms
        item = None
    return {"type": "room.item", "room": slug, **item} if item is not None else None


def member_changed(membership, *, room_slug: str, change: str) -> dict:
    """`change`: "added", "removed" or "role"; the room's members panels update from it."""
    return {"type": "member.changed", "room": room_slug, "change": change, "member": member_data(membership)}


def room_updated(room) -> dict:
    return {"type": "room.updated", "room": room_summary(room)}
