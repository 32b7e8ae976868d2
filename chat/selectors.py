"""Reads for chat: rooms a user can see, history, unread counts."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from chat.models import Room


def room_list_for_user(*, user) -> QuerySet[Room]:
    """Public rooms and the private rooms and DMs the user belongs to."""
    return Room.objects.filter(Q(kind=Room.Kind.PUBLIC) | Q(memberships__user=user)).distinct()
