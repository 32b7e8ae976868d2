"""Reads for chat: rooms a user can see, access checks, history and unread counts."""

from __future__ import annotations

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from chat.models import Membership, Message, Room
from chatsite.errors import Forbidden, NotFound

HISTORY_LIMIT = 50
MAX_PAGE = 200


def room_can_access(*, room: Room, user) -> bool:
    if not user.is_authenticated:
        return False
    return room.is_public or Membership.objects.filter(room=room, user=user).exists()


def room_can_moderate(*, room: Room, user) -> bool:
    """Staff and room owners may delete anyone's message."""
    return user.is_staff or Membership.objects.filter(room=room, user=user, role=Membership.Role.OWNER).exists()


def room_get_for_user(*, slug: str, user) -> Room:
    """The room, or NotFound / Forbidden (members only for private rooms and DMs)."""
    room = Room.objects.filter(slug=slug).first()
    if room is None:
        raise NotFound(f"There is no room called “{slug}”.")
    if not room_can_access(room=room, user=user):
        raise Forbidden("This room is private; ask a member to add you.")
    return room


def room_list_for_user(*, user) -> QuerySet[Room]:
    """Public rooms and the user's private rooms and DMs, each with `unread` and `joined`."""
    mine = Membership.objects.filter(room=OuterRef("pk"), user=user)
    unread = (
        Message.objects.filter(room=OuterRef("pk"), seq__gt=OuterRef("last_read"), deleted_at__isnull=True)
        .exclude(author=user)
        .values("room")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return (
        Room.objects.filter(Q(kind=Room.Kind.PUBLIC) | Q(Exists(mine)))
        .annotate(
            joined=Exists(mine),
            last_read=Subquery(mine.values("last_read_seq")[:1]),
        )
        .annotate(unread=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)))
        .order_by("kind", "title")
    )


def room_ids_for_user(*, user, limit: int = 200) -> list[int]:
    """Ids of the rooms the user has joined (for live unread counts on the room list)."""
    return list(
        Membership.objects.filter(user=user).order_by("-room__last_seq").values_list("room_id", flat=True)[:limit]
    )


def room_unread_count(*, room: Room, user, last_read_seq: int) -> int:
    return (
        Message.objects.filter(room=room, seq__gt=last_read_seq, deleted_at__isnull=True).exclude(author=user).count()
    )


def message_history(
    *, room: Room, before_seq: int | None = None, after_seq: int | None = None, limit: int = HISTORY_LIMIT
) -> tuple[list[Message], bool]:
    """Up to `limit` messages in seq order, newest page by default; returns (messages, has_more)."""
    limit = max(1, min(limit, MAX_PAGE))
    queryset = Message.objects.filter(room=room).select_related("author").prefetch_related("attachments")
    if after_seq is not None:
        queryset = queryset.filter(seq__gt=after_seq)
        if before_seq is not None:
            queryset = queryset.filter(seq__lt=before_seq)
        page = list(queryset.order_by("seq")[: limit + 1])
        return page[:limit], len(page) > limit
    if before_seq is not None:
        queryset = queryset.filter(seq__lt=before_seq)
    page = list(queryset.order_by("-seq")[: limit + 1])
    return list(reversed(page[:limit])), len(page) > limit


def room_members(*, room: Room) -> QuerySet[Membership]:
    return Membership.objects.filter(room=room).select_related("user").order_by("user__username")
