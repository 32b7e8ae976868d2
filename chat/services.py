"""Writes for chat: rooms, memberships, messages and read state; each one transaction, pushes after commit."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from chat import frames
from chat.formatting import render_body
from chat.models import DirectRoom, Membership, Message, Reaction, Room
from chat.reaction_emoji import emoji_normalize
from chat.selectors import message_reply_count, room_can_access, room_can_moderate, room_title_taken
from chatsite.errors import Forbidden, NotFound, UserError
from chatsite.realtime import broadcast_to_room_on_commit
from chatsite.text import has_visible_text, strip_bidi_controls
from redis_toolkit.events.outbox import publish_event

MAX_BODY_CHARS = 4000
MAX_CLIENT_ID_CHARS = 64
# DMs are named dm-<low id>-<high id>; no other room may take a name there (DMs are found by their
# pair of users, but a look-alike room would still mislead readers of the URL).
RESERVED_SLUG_PREFIX = "dm-"


def _clean_body(body: str) -> str:
    if not isinstance(body, str) or not has_visible_text(body):
        raise UserError(
            "A message needs some visible text (spaces and invisible characters alone do not count).", code="empty_body"
        )
    if len(body) > MAX_BODY_CHARS:
        raise UserError(f"A message may be at most {MAX_BODY_CHARS:,} characters long.", code="body_too_long")
    return body.strip("\n\r ")


def _reply_original(*, room: Room, reply_to: int | None) -> Message | None:
    if reply_to is None:
        return None
    original = Message.objects.select_related("author").filter(room=room, pk=reply_to).first()
    if original is None:
        raise NotFound("The message you are replying to is not in this room.")
    if original.deleted_at is not None:
        raise UserError("The message you are replying to was deleted.", code="deleted")
    return original


def message_build(
    *, room: Room, author, body: str, client_id: str = "", reply_to: int | None = None, attachments=()
) -> Message:
    """An unsaved message, validated and rendered (its HTML once, here): every posting path builds with this."""
    files_only = bool(attachments) and isinstance(body, str) and not has_visible_text(body)
    body = "" if files_only else _clean_body(body)
    client_id = client_id or ""
    if len(client_id) > MAX_CLIENT_ID_CHARS:
        raise UserError(f"client_id may be at most {MAX_CLIENT_ID_CHARS} characters.", code="invalid_frame")
    original = _reply_original(room=room, reply_to=reply_to)
    message = Message(
        room=room, author=author, body=body, html=render_body(body).html, client_id=client_id, reply_to=original
    )
    message.reaction_summary, message.reply_count = [], 0  # a new message has neither: no query for its frame
    return message


def message_post(
    *,
    room: Room,
    author,
    body: str,
    client_id: str = "",
    reply_to: int | None = None,
    attachments: list[str] | tuple = (),
) -> tuple[Message, bool]:
    """Persist a message with the room's next seq and push it after commit.

    Returns (message, created). Re-sending a client_id already used in this room returns the first
    message instead of a duplicate, so clients can retry safely. `reply_to` (a message id of the
    same room, not deleted) makes it a reply; the original's new reply count is pushed too.
    `attachments` are ids of the author's unsent uploads to this room; a bad one refuses the whole message.
    Sockets post through chat.posting.apost_message instead (many posts per transaction); both store
    with chat.posting.message_post_many.
    """
    from chat.posting import Post, message_post_many  # it builds on this module

    (result,) = message_post_many([Post(room, author, body, client_id or "", reply_to, attachments or ())])
    if isinstance(result, Exception):
        raise result
    for frame in result.frames:
        broadcast_to_room_on_commit(room.pk, frame)
    return result.message, result.created


def _message_for_change(*, room: Room, message_id: int, user) -> Message:
    # Read the room again: a socket's copy is from when it connected, and the room may have gone private since.
    current = Room.objects.filter(pk=room.pk).first()
    if current is None:
        raise NotFound("This room no longer exists.")
    if not room_can_access(room=current, user=user):
        raise Forbidden("You are no longer a member of this room.")
    try:
        return (
            Message.objects.select_for_update(of=("self",))
            .select_related("room", "author")
            .get(room=room, pk=message_id)
        )
    except (Message.DoesNotExist, ValueError, TypeError):
        raise NotFound("There is no such message in this room.") from None


@transaction.atomic
def message_edit(*, room: Room, message_id: int, editor, body: str) -> Message:
    """Change the text of one's own message; everyone in the room sees the edit."""
    body = _clean_body(body)
    message = _message_for_change(room=room, message_id=message_id, user=editor)
    if message.author_id != editor.pk:
        raise Forbidden("You can only edit your own messages.")
    if message.deleted_at is not None:
        raise UserError("This message was deleted.", code="deleted")
    message.body = body
    message.html = render_body(body).html
    message.edited_at = timezone.now()
    message.save(update_fields=["body", "html", "edited_at"])
    publish_event("chat.message.edited", {"message_id": message.pk, "room_id": room.pk, "seq": message.seq})
    broadcast_to_room_on_commit(room.pk, frames.message_edited(message))
    return message


@transaction.atomic
def message_delete(*, room: Room, message_id: int, actor) -> Message:
    """Delete (hide) a message: its author, a room owner or staff may; live clients see it disappear."""
    message = _message_for_change(room=room, message_id=message_id, user=actor)
    if message.author_id != actor.pk and not room_can_moderate(room=room, user=actor):
        raise Forbidden("You can only delete your own messages.")
    if message.deleted_at is None:
        message.deleted_at = timezone.now()
        message.save(update_fields=["deleted_at"])
        publish_event(
            "chat.message.deleted",
            {"message_id": message.pk, "room_id": room.pk, "seq": message.seq, "actor_id": actor.pk},
        )
        broadcast_to_room_on_commit(room.pk, frames.message_deleted(message))
        if message.reply_to_id is not None:
            _push_reply_count(room=room, original=message.reply_to)
    return message


def _push_reply_count(*, room: Room, original: Message) -> None:
    count = message_reply_count(message_id=original.pk)
    broadcast_to_room_on_commit(room.pk, frames.replies(original, room_slug=room.slug, count=count))


MAX_EMOJI_PER_MESSAGE = 50


def _clean_emoji(emoji: str) -> str:
    canonical = emoji_normalize(emoji) if isinstance(emoji, str) else None
    if canonical is None:
        raise UserError("A reaction is exactly one emoji.", code="invalid_emoji")
    return canonical


def _reaction_change(*, room: Room, message_id: int, user, emoji: str, add: bool) -> tuple[dict, bool]:
    emoji = _clean_emoji(emoji)
    with transaction.atomic():
        # The message's row lock orders concurrent reactions, so each pushed count includes the ones before it.
        message = _message_for_change(room=room, message_id=message_id, user=user)
        if message.deleted_at is not None:
            raise UserError("This message was deleted.", code="deleted")
        mine = Reaction.objects.filter(message=message, user=user, emoji=emoji)
        if add and not mine.exists():
            used = Reaction.objects.filter(message=message).values("emoji").distinct()
            if used.count() >= MAX_EMOJI_PER_MESSAGE and not used.filter(emoji=emoji).exists():
                detail = f"A message can have at most {MAX_EMOJI_PER_MESSAGE} different reactions."
                raise UserError(detail, code="too_many_reactions")
            Reaction.objects.create(message=message, user=user, emoji=emoji)
            changed = True
        else:
            changed = not add and mine.delete()[0] > 0
        users = list(
            Reaction.objects.filter(message=message, emoji=emoji)
            .order_by("created_at", "pk")
            .values_list("user__username", flat=True)
        )
        frame = frames.reaction(message, emoji=emoji, users=users, room_slug=room.slug)
        if changed:
            broadcast_to_room_on_commit(room.pk, frame)
    return frame, changed


def reaction_add(*, room: Room, message_id: int, user, emoji: str) -> tuple[dict, bool]:
    """Add the user's `emoji` to a message of the room (once); every member sees the new count.

    Returns (the `reaction` frame, changed); adding an emoji one already added changes nothing. Spellings
    of one emoji (with or without variation selectors) are one reaction, under its fully-qualified form.
    """
    return _reaction_change(room=room, message_id=message_id, user=user, emoji=emoji, add=True)


def reaction_remove(*, room: Room, message_id: int, user, emoji: str) -> tuple[dict, bool]:
    """Take back the user's `emoji` (any spelling of it) from a message; every member sees the new count."""
    return _reaction_change(room=room, message_id=message_id, user=user, emoji=emoji, add=False)


def room_join(*, room: Room, user) -> Membership:
    """Make a signed-in user a member of a public room (read state starts at the newest message).

    Only public rooms can be joined this way; private rooms and DMs get members from membership_add
    (room creation, an owner's invitation, opening a DM), never from reading or muting.
    """
    if not room.is_public:
        existing = Membership.objects.filter(room=room, user=user).first()
        if existing is None:
            raise Forbidden("This room is private; ask a member to add you.")
        return existing
    membership, _ = Membership.objects.get_or_create(room=room, user=user, defaults={"last_read_seq": room.last_seq})
    return membership


@transaction.atomic
def membership_add(*, room: Room, user, added_by=None, role: str = Membership.Role.MEMBER) -> tuple[Membership, bool]:
    """Add a member (private rooms invite them: a `chat.member.added` event).

    No permission check here: callers are the services that decide who may add (room_create,
    direct_room_open, chat.membership.membership_invite) and the operator's create_room command.
    """
    membership, created = Membership.objects.get_or_create(room=room, user=user, defaults={"role": role})
    if created:
        publish_event(
            "chat.member.added",
            {"room_id": room.pk, "user_id": user.pk, "added_by_id": added_by.pk if added_by else None},
        )
    return membership, created


def membership_set_muted(*, room: Room, user, muted: bool) -> Membership:
    """Mute a room: no mention notifications from it (its unread count still shows)."""
    membership = room_join(room=room, user=user)
    if membership.muted != muted:
        membership.muted = muted
        membership.save(update_fields=["muted"])
    return membership


def room_mark_read(*, room: Room, user, seq: int) -> Membership:
    """Move the user's read marker forward to `seq` (never backwards, never past the newest message)."""
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise UserError("seq must be a whole number of 0 or more.", code="invalid_frame")
    membership = Membership.objects.filter(room=room, user=user).first()
    if membership is None:  # reading never makes a member (a removed member must not put itself back)
        raise Forbidden("You are not a member of this room.")
    target = min(seq, Room.objects.values_list("last_seq", flat=True).get(pk=room.pk))
    if target > membership.last_read_seq:
        Membership.objects.filter(pk=membership.pk, last_read_seq__lt=target).update(last_read_seq=target)
        membership.last_read_seq = target
    return membership


MAX_TITLE_CHARS = 120
MAX_TOPIC_CHARS = 300


def room_clean_text(*, title: str, topic: str = "") -> tuple[str, str]:
    """A room's title and topic as stored: no direction controls, trimmed, within their lengths."""
    title, topic = strip_bidi_controls(title or "").strip(), strip_bidi_controls(topic or "").strip()
    if not has_visible_text(title):
        raise UserError("A room needs a name with visible characters.", code="invalid_title")
    if not has_visible_text(topic):
        topic = ""
    if len(title) > MAX_TITLE_CHARS:
        raise UserError(f"A room title may be at most {MAX_TITLE_CHARS} characters.", code="invalid_title")
    if len(topic) > MAX_TOPIC_CHARS:
        raise UserError(f"A topic may be at most {MAX_TOPIC_CHARS} characters.", code="invalid_topic")
    return title, topic


def _clean_slug(slug: str) -> str:
    try:
        validate_slug(slug)
    except ValidationError:
        raise UserError(
            f"“{slug}” is not a valid room name for a URL; use letters, numbers, hyphens or underscores.",
            code="invalid_slug",
        ) from None
    if len(slug) > 80:
        raise UserError("A room's URL name may be at most 80 characters.", code="invalid_slug")
    if slug.lower().startswith(RESERVED_SLUG_PREFIX):
        raise UserError(
            f"Room names starting with “{RESERVED_SLUG_PREFIX}” are kept for direct messages.", code="invalid_slug"
        )
    return slug.lower()


@transaction.atomic
def room_create(
    *, slug: str, title: str = "", created_by=None, private: bool = False, topic: str = "", members=()
) -> Room:
    """Create a public or private room; the creator owns it and `members` are added."""
    slug = _clean_slug(slug)
    title, topic = room_clean_text(title=title or slug.replace("-", " ").title(), topic=topic)
    if Room.objects.filter(slug=slug).exists():
        raise UserError(f"A room called “{slug}” already exists.", code="room_exists")
    kind = Room.Kind.PRIVATE if private else Room.Kind.PUBLIC
    existing = room_title_taken(title=title, kind=kind)
    if existing is not None:
        raise UserError(
            f"A public room called “{existing.title}” already exists; join it or pick another name.",
            code="title_taken",
            slug=existing.slug,
        )
    room = Room.objects.create(slug=slug, title=title, topic=topic, kind=kind, created_by=created_by)
    if created_by is not None:
        membership_add(room=room, user=created_by, role=Membership.Role.OWNER)
    for user in members:
        if created_by is None or user.pk != created_by.pk:
            membership_add(room=room, user=user, added_by=created_by)
    return room


def room_slug_for_title(title: str) -> str:
    """A free URL name for a new room's title: "Team Lunch" -> "team-lunch" (or "team-lunch-2")."""
    base = slugify(title)[:70] or "room"
    if base.startswith(RESERVED_SLUG_PREFIX):
        base = f"room-{base}"[:70]
    slug, n = base, 1
    while Room.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def direct_room_open(*, user, other) -> Room:
    """The private two-member room of a pair of users, created on first use.

    Found by kind and by the pair (unique in the database), never by its name, so no room someone
    else named can stand in for it.
    """
    if user.pk == other.pk:
        raise UserError("You cannot send direct messages to yourself.", code="invalid_target")
    low, high = sorted([user, other], key=lambda u: u.pk)
    pair = DirectRoom.objects.select_related("room").filter(user_low=low, user_high=high, room__kind=Room.Kind.DIRECT)
    if (existing := pair.first()) is not None:
        return existing.room
    slug, n = f"{RESERVED_SLUG_PREFIX}{low.pk}-{high.pk}", 1
    while Room.objects.filter(slug=slug).exists():  # an old unpaired DM room kept the plain name
        n += 1
        slug = f"{RESERVED_SLUG_PREFIX}{low.pk}-{high.pk}-{n}"
    try:
        with transaction.atomic():
            room = Room.objects.create(
                slug=slug,
                title=f"{low.username} & {high.username}",
                kind=Room.Kind.DIRECT,
                created_by=user,
            )
            DirectRoom.objects.create(room=room, user_low=low, user_high=high)
            membership_add(room=room, user=low)
            membership_add(room=room, user=high)
    except IntegrityError:  # the other user opened it at the same moment
        return pair.get().room
    return room
