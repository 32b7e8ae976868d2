"""Notification frames, built in one place (sent to every tab of a user through chatsite.realtime)."""

from __future__ import annotations

from django.urls import reverse

from notifications.models import Notification


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
