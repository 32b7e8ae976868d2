"""Notification frames, built in one place, and their delivery to every tab of a user."""

from __future__ import annotations

import asyncio
import json

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.urls import reverse

from notifications.models import Notification


def user_group(user_id: int) -> str:
    return f"notifications.user.{user_id}"


def notification_url(notification: Notification) -> str:
    if notification.room_id is None:
        return reverse("notifications:list")
    url = reverse("room", args=[notification.room.slug])
    seq = notification.data.get("seq")
    return f"{url}#seq-{seq}" if seq else url


def notification_data(notification: Notification) -> dict:
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "text": notification.text,
        "actor": notification.actor.username if notification.actor_id else None,
        "room": notification.room.slug if notification.room_id else None,
        "url": notification_url(notification),
        "created_at": notification.created_at.isoformat(),
        "read": notification.read_at is not None,
    }


def notification_new(notification: Notification, *, unread_count: int) -> dict:
    return {"type": "notification.new", "notification": notification_data(notification), "unread_count": unread_count}


def notification_read(ids: list[int], *, unread_count: int) -> dict:
    return {"type": "notification.read", "ids": ids, "unread_count": unread_count}


def _event(frame: dict) -> dict:
    return {"type": "user.frame", "text": json.dumps(frame, separators=(",", ":"))}


async def apush(user_id: int, frame: dict) -> None:
    """Send one frame to every notification socket (every tab) of a user."""
    await get_channel_layer().group_send(user_group(user_id), _event(frame))


def push(user_id: int, frame: dict) -> None:
    async_to_sync(apush)(user_id, frame)


async def _apush_many(frames: dict[int, dict]) -> None:
    layer = get_channel_layer()
    await asyncio.gather(*(layer.group_send(user_group(uid), _event(frame)) for uid, frame in frames.items()))


def push_many(frames: dict[int, dict]) -> None:
    """One frame per user, published concurrently (broadcasts to thousands)."""
    async_to_sync(_apush_many)(frames)
