"""Room frames: the plain dicts every room socket receives, built in one place (sent through chatsite.realtime)."""

from __future__ import annotations

from chat.models import Message
from chat.uploads import attachments_data


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
        "created_at": message.created_at.isoformat(),
        "edited_at": message.edited_at.isoformat() if message.edited_at else None,
        "deleted": deleted,
        "client_id": message.client_id or None,
        "attachments": attachments_data(message),
    }


def message_new(message: Message, **names) -> dict:
    return {"type": "message.new", "message": message_data(message, **names)}


def message_edited(message: Message) -> dict:
    return {"type": "message.edited", "message": message_data(message)}


def message_deleted(message: Message) -> dict:
    return {"type": "message.deleted", "id": message.pk, "seq": message.seq, "room": message.room.slug}


def typing(*, room_slug: str, user_id: int, username: str, active: bool) -> dict:
    return {"type": "typing", "room": room_slug, "user": {"id": user_id, "username": username}, "active": active}


def presence(*, room_slug: str, online: list[dict]) -> dict:
    return {"type": "presence", "room": room_slug, "online": online}


def unread(*, room_slug: str, count: int, last_read_seq: int) -> dict:
    return {"type": "unread", "room": room_slug, "count": count, "last_read_seq": last_read_seq}
