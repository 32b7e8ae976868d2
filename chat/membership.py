"""Writes for room management: who is a member, with which role, and a room's name, topic and privacy.

Permission checks live here (not in views or consumers): owners invite, remove and change roles and
edit the room; any member leaves. Losing access takes effect at once, on every server process: the
user's room sockets close with 4403 and their room lists drop the room.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from chat import frames
from chat.models import Membership, Room
from chat.room_list import room_list_item
from chat.selectors import room_title_taken
from chat.services import membership_add, room_clean_text
from chatsite.errors import Forbidden, NotFound, UserError
from chatsite.realtime import (
    broadcast_to_room_on_commit,
    close_member_sockets_on_commit,
    push_room_access_on_commit,
    recheck_room_access_on_commit,
)

CLOSE_FORBIDDEN = 4403  # chatsite.ws.CLOSE_FORBIDDEN; chat's services do not import the consumer base


def _managed(room: Room) -> None:
    if room.kind == Room.Kind.DIRECT:
        raise Forbidden("A direct message always has its two people; it cannot be managed.")


def _lock(room: Room) -> None:
    # Membership changes of one room take turns: two owners leaving at once would each see the other
    # still an owner (READ COMMITTED) and leave the room with none.
    if not Room.objects.select_for_update().filter(pk=room.pk).exists():
        raise NotFound("This room no longer exists.")


def _membership(room: Room, user) -> Membership | None:
    return Membership.objects.select_related("user").filter(room=room, user=user).first()


def _require_owner(room: Room, actor) -> None:
    mine = Membership.objects.filter(room=room, user=actor).values_list("role", flat=True).first()
    if mine != Membership.Role.OWNER:
        raise Forbidden("Only the room's owners can do that.")


def membership_user(*, username: str):
    """The active user called `username`, or NotFound (never says whether an inactive one exists)."""
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound(f"There is no user called “{username[:150]}”.")
    return user


@transaction.atomic
def membership_invite(*, room: Room, actor, user) -> Membership:
    """An owner adds a member; the invited user is notified and sees the room in their list at once."""
    _managed(room)
    _require_owner(room, actor)
    membership, created = membership_add(room=room, user=user, added_by=actor)
    if not created:
        raise UserError(f"{user.username} is already a member.", code="already_member")
    membership.user = user
    item = room_list_item(user=user, room=room)
    push_room_access_on_commit(user.pk, room.pk, frames.room_added(room, item=item), member=True)
    broadcast_to_room_on_commit(room.pk, frames.member_changed(membership, room_slug=room.slug, change="added"))
    return membership


@transaction.atomic
def membership_remove(*, room: Room, actor, user) -> None:
    """An owner removes a member, or a member leaves. Their sockets on the room close (4403) at once."""
    _managed(room)
    _lock(room)
    membership = _membership(room, user)
    if membership is None:
        raise NotFound(f"{user.username} is not a member of this room.")
    if actor.pk != user.pk:
        _require_owner(room, actor)
        if membership.role == Membership.Role.OWNER:
            raise Forbidden("Owners cannot remove another owner; make them a member first.")
    elif membership.role == Membership.Role.OWNER and _last_owner(room, membership):
        raise UserError("You are the last owner: make another member an owner before leaving.", code="last_owner")
    membership.delete()
    membership_gone_on_commit(membership=membership)


def membership_gone_on_commit(*, membership: Membership) -> None:
    """A membership was deleted (by membership_remove, or in the admin): after commit the user's sockets on
    the room close (4403), their room lists drop it and the room's members panel hears of it."""
    room, user_id = membership.room, membership.user_id
    close_member_sockets_on_commit(room.pk, user_id, code=CLOSE_FORBIDDEN)
    push_room_access_on_commit(user_id, room.pk, frames.room_removed(room), member=False)
    broadcast_to_room_on_commit(room.pk, frames.member_changed(membership, room_slug=room.slug, change="removed"))


def _last_owner(room: Room, membership: Membership) -> bool:
    others = Membership.objects.filter(room=room).exclude(pk=membership.pk)
    return others.exists() and not others.filter(role=Membership.Role.OWNER).exists()


@transaction.atomic
def membership_set_role(*, room: Room, actor, user, role: str) -> Membership:
    """An owner makes a member an owner or an owner a member (the last owner stays one)."""
    _managed(room)
    if role not in Membership.Role.values:
        raise UserError(f"A role is one of: {', '.join(Membership.Role.values)}.", code="invalid_role")
    _lock(room)
    _require_owner(room, actor)
    membership = _membership(room, user)
    if membership is None:
        raise NotFound(f"{user.username} is not a member of this room.")
    if membership.role == role:
        return membership
    if role == Membership.Role.MEMBER and not (
        Membership.objects.filter(room=room, role=Membership.Role.OWNER).exclude(pk=membership.pk).exists()
    ):
        raise UserError("A room needs at least one owner.", code="last_owner")
    membership.role = role
    membership.save(update_fields=["role"])
    broadcast_to_room_on_commit(room.pk, frames.member_changed(membership, room_slug=room.slug, change="role"))
    return membership


@transaction.atomic
def room_update(
    *, room: Room, actor, title: str | None = None, topic: str | None = None, private: bool | None = None
) -> Room:
    """An owner renames the room, sets its topic, or makes it private or public.

    Making it private closes (4403) the open sockets of everyone on it who is not a member.
    """
    _managed(room)
    _require_owner(room, actor)
    room = Room.objects.select_for_update().get(pk=room.pk)
    room.title, room.topic = room_clean_text(
        title=room.title if title is None else title, topic=room.topic if topic is None else topic
    )
    went_private = private is True and room.kind == Room.Kind.PUBLIC
    if private is not None:
        room.kind = Room.Kind.PRIVATE if private else Room.Kind.PUBLIC
    # The rule room_create applies: no two public rooms of one name (one could pass for the other).
    existing = room_title_taken(title=room.title, kind=room.kind, exclude=room)
    if existing is not None:
        raise UserError(
            f"A public room called “{existing.title}” already exists; pick another name.",
            code="title_taken",
            slug=existing.slug,
        )
    room.save(update_fields=["title", "topic", "kind"])
    broadcast_to_room_on_commit(room.pk, frames.room_updated(room))
    if went_private:
        recheck_room_access_on_commit(room.pk)
    return room
