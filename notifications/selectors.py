"""Reads for notifications."""

from django.db.models import F, QuerySet

from notifications.models import Notification


def notification_list(*, user, order: str = "unread") -> QuerySet[Notification]:
    """The user's notifications: unread first (then newest), or simply newest first."""
    queryset = Notification.objects.filter(recipient=user).select_related("actor", "room")
    if order == "unread":
        return queryset.order_by(F("read_at").asc(nulls_first=True), "-created_at", "-id")
    return queryset.order_by("-created_at", "-id")
