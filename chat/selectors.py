"""Reads for chat: rooms a user can see, access checks, history and unread counts."""

from __future__ import annotations

import functools

from django.db import connection
from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Substr

from chat.formatting import mentioned_usernames
from chat.models import Membership, Message, Reaction, Room
from chatsite.errors import Forbidden, NotFound
from chatsite.socket_db import row_values

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


@functools.cache  # per database vendor: the quoting differs
def _room_and_membership_sql(vendor: str) -> tuple[str, list]:
    # The room and the user's membership of it in one statement (a socket open makes one DB call).
    quote = connection.ops.quote_name
    fields = list(Room._meta.concrete_fields)
    select = ", ".join(f"r.{quote(field.column)}" for field in fields)
    member, room_fk, user_fk = Membership._meta, quote("room_id"), quote("user_id")
    sql = (
        f"SELECT {select}, m.{quote(member.pk.column)} FROM {quote(Room._meta.db_table)} r"
        f" LEFT JOIN {quote(member.db_table)} m ON m.{room_fk} = r.{quote(Room._meta.pk.column)} AND m.{user_fk} = %s"
        f" WHERE r.{quote('slug')} = %s"
    )
    return sql, fields


def room_for_socket(*, slug: str, user) -> tuple[Room, bool]:
    """What room_get_for_user decides, and whether the user is a member, in one query (every socket open).

    NotFound / Forbidden as room_get_for_user; (room, is_member) otherwise.
    """
    sql, fields = _room_and_membership_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, slug])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"There is no room called “{slug}”.")
    *values, membership_id = row
    room = Room.from_db(connection.alias, [field.attname for field in fields], row_values(fields, values))
    if not room.is_public and membership_id is None:
        raise Forbidden("This room is private; ask a member to add you.")
    return room, membership_id is not None


PREVIEW_CHARS = 120


def room_list_for_user(*, user) -> QuerySet[Room]:
    """Public rooms and the user's private rooms and DMs, most recently active first.

    Each room carries `unread`, `joined`, `last_activity` (its newest visible message, else its
    creation) and a preview of that message (`preview_body`, `preview_author`): one query, however
    many rooms, because every room listed is one the user may read.
    """
    latest = Message.objects.filter(room=OuterRef("pk"), deleted_at__isnull=True).order_by("-seq")[:1]
    mine = Membership.objects.filter(room=OuterRef("pk"), user=user)
    unread = (
        Message.objects.filter(room=OuterRef("pk"), seq__gt=OuterRef("last_read"), deleted_at__isnull=True)
        .exclude(author=user)
        .order_by()  # Message's default order (room → Room.title) would join chat_room per room
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
        .annotate(
            unread=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)),
            last_activity=Coalesce(
                Subquery(latest.values("created_at"), output_field=DateTimeField()), F("created_at")
            ),
            preview_body=Subquery(
                latest.annotate(short=Substr("body", 1, PREVIEW_CHARS)).values("short"), output_field=CharField()
            ),
            preview_author=Subquery(latest.values("author__username"), output_field=CharField()),
        )
        .order_by("-last_activity", "title")
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
    queryset = messages_with_conversation(Message.objects.filter(room=room))
    if after_seq is not None:
        queryset = queryset.filter(seq__gt=after_seq)
        if before_seq is not None:
            queryset = queryset.filter(seq__lt=before_seq)
        page = list(queryset.order_by("seq")[: limit + 1])
        return messages_with_reactions(page[:limit]), len(page) > limit
    if before_seq is not None:
        queryset = queryset.filter(seq__lt=before_seq)
    page = list(queryset.order_by("-seq")[: limit + 1])
    return messages_with_reactions(list(reversed(page[:limit]))), len(page) > limit


def message_history_around(*, room: Room, seq: int, limit: int = HISTORY_LIMIT) -> tuple[list[Message], bool, bool]:
    """About `limit` messages centred on `seq` (a reply's original), in order: (messages, has_older, has_newer)."""
    limit = max(1, min(limit, MAX_PAGE))
    queryset = messages_with_conversation(Message.objects.filter(room=room))
    older = list(queryset.filter(seq__lt=seq).order_by("-seq")[: limit // 2 + 1])
    newer = list(queryset.filter(seq__gte=seq).order_by("seq")[: limit - limit // 2 + 1])
    has_older, has_newer = len(older) > limit // 2, len(newer) > limit - limit // 2
    page = list(reversed(older[: limit // 2])) + newer[: limit - limit // 2]
    return messages_with_reactions(page), has_older, has_newer


def messages_with_conversation(queryset: QuerySet[Message]) -> QuerySet[Message]:
    """Authors, reply quotes and reply counts in the page's one query; attachments in one more."""
    replies = (
        Message.objects.filter(reply_to=OuterRef("pk"), deleted_at__isnull=True)
        .values("reply_to")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return (
        queryset.select_related("author", "reply_to__author")
        .prefetch_related("attachments")
        .annotate(reply_count=Coalesce(Subquery(replies, output_field=IntegerField()), Value(0)))
    )


def messages_with_reactions(messages: list[Message]) -> list[Message]:
    """Each message's `reaction_summary`, for all of them in one query."""
    summaries = reaction_summaries(message_ids=[m.pk for m in messages])
    for message in messages:
        message.reaction_summary = summaries.get(message.pk, [])
    return messages


def reaction_summaries(*, message_ids: list[int]) -> dict[int, list[dict]]:
    """Per message, `[{emoji, count, users}]` in the order each emoji was first used; users by time of reacting."""
    if not message_ids:
        return {}
    rows = (
        Reaction.objects.filter(message_id__in=message_ids)
        .order_by("created_at", "pk")
        .values_list("message_id", "emoji", "user__username")
    )
    by_message: dict[int, dict[str, list[str]]] = {}
    for message_id, emoji, username in rows:
        by_message.setdefault(message_id, {}).setdefault(emoji, []).append(username)
    return {
        message_id: [{"emoji": e, "count": len(users), "users": users} for e, users in emojis.items()]
        for message_id, emojis in by_message.items()
    }


def message_mentioned_usernames(*, body: str) -> set[str]:
    """The @names a body mentions, as its HTML marks them (not inside code or link text, not e-mail addresses)."""
    return mentioned_usernames(body)


def message_reply_count(*, message_id: int) -> int:
    return Message.objects.filter(reply_to_id=message_id, deleted_at__isnull=True).count()


def room_members(*, room: Room) -> QuerySet[Membership]:
    return Membership.objects.filter(room=room).select_related("user").order_by("user__username")


def room_title_taken(*, title: str, kind: str, exclude: Room | None = None) -> Room | None:
    """The public room already called `title` (case-insensitive), other than `exclude`, if any.

    Only public titles must be unique: a check across private rooms would tell anyone which names
    other people's private rooms use. Lists tell same-titled private rooms apart by their slug.
    """
    if kind != Room.Kind.PUBLIC:
        return None
    rooms = Room.objects.filter(kind=kind, title__iexact=title.strip())
    return (rooms.exclude(pk=exclude.pk) if exclude is not None else rooms).first()
