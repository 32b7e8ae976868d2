"""The reader's room list as pages show it, and one item of it rendered the same way for a live `room.added`."""

from __future__ import annotations

from django.template.loader import render_to_string

from chat.models import Room
from chat.selectors import room_list_for_user


def room_label(room: Room, user) -> str:
    """A room's name for this reader: the other person of a DM, else the title."""
    if room.kind == Room.Kind.DIRECT:
        names = [name.strip() for name in room.title.split("&")]
        return next((name for name in names if name != user.username), room.title)
    return room.title


def room_prefix(room: Room) -> str:
    """How a room's name starts everywhere (header, composer, lists): @alice, #general, or a private name."""
    return {Room.Kind.DIRECT: "@", Room.Kind.PUBLIC: "#"}.get(room.kind, "")


def rooms_for_nav(user) -> list[Room]:
    """The reader's rooms with `label`, `prefix` and `show_slug` (set when two rooms would look the same)."""
    rooms = list(room_list_for_user(user=user))
    seen: dict[tuple[str, str], int] = {}
    for room in rooms:
        room.label, room.prefix = room_label(room, user), room_prefix(room)
        key = (room.kind, room.label.casefold())
        seen[key] = seen.get(key, 0) + 1
    for room in rooms:
        room.show_slug = seen[(room.kind, room.label.casefold())] > 1
    return rooms


def room_list_item(*, user, room: Room) -> dict:
    """`room` as the user's room lists render it: `html` (the home page), `html_compact` (the room page's drawer)."""
    listed = next(r for r in rooms_for_nav(user) if r.pk == room.pk)
    return {
        "html": render_to_string("chat/_room_item.html", {"room": listed}).strip(),
        "html_compact": render_to_string("chat/_room_item.html", {"room": listed, "compact": True}).strip(),
    }
