"""Room events: plain dicts built here, encoded to JSON once, and fanned out to a room's group."""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from chat.models import Message


def room_group(room_id: int) -> str:
    return f"chat.room.{room_id}"


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
    }


def encode(frame: dict) -> str:
    return json.dumps(frame, separators=(",", ":"))


def _group_event(frame: dict) -> dict:
    # Encoded once here; every member's consumer sends the same text as is. `frame` names the
    # frame type so room-list watchers can skip typing and presence without decoding.
    return {"type": "room.frame", "frame": frame["type"], "text": encode(frame)}


async def abroadcast(room_id: int, frame: dict) -> None:
    await get_channel_layer().group_send(room_group(room_id), _group_event(frame))


def broadcast(room_id: int, frame: dict) -> None:
    async_to_sync(get_channel_layer().group_send)(room_group(room_id), _group_event(frame))


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
