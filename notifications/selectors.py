"""Reads for notifications."""

from django.db.models import F, Max, QuerySet

from notifications.models import Notification


def notification_list(*, user, order: str = "unread") -> QuerySet[Notification]:
    """The user's notifications: unread first (then newest), or simply newest first."""
    queryset = Notification.objects.filter(recipient=user).select_related("actor", "room")
    if order == "unread":
        return queryset.order_by(F("read_at").asc(nulls_first=True), "-created_at", "-id")
    return queryset.order_by("-created_at", "-id")


def notification_newest_id(*, user) -> int:
    """The id of the user's newest notification (0 when none): what a socket opened now has seen."""
    return Notification.objects.filter(recipient=user).aggregate(newest=Max("pk"))["newest"] or 0


def notifications_after(*, user, after_id: int, limit: int) -> list[Notification]:
    """The user's notifications newer than `after_id`, oldest first; the newest `limit` of them."""
    newest = notification_list(user=user, order="newest").filter(pk__gt=after_id).order_by("-id")[:limit]
    return list(reversed(newest))
