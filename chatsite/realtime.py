"""The one way to push frames to sockets: channel-layer group names, encode-once sends, on-commit forms.

Pushes that take access away (a removal, a sign-out, a password change) are also recorded in the
outbox as a re-check: Pub/Sub drops what it cannot deliver, and a process that dies with its push in
hand, during a blip its subscribers never noticed, would leave a socket open on a room or a session it
lost. The stream workers deliver the re-check (the socket asks the database) once Redis answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from redis.exceptions import ConnectionError as RedisConnectionError

from redis_toolkit.events.outbox import publish_event
from redis_toolkit.events.registry import InvalidEvent, event_handler


def room_group(room_id: int) -> str:
    return f"chat.room.{room_id}"


def user_group(user_id: int) -> str:
    return f"notifications.user.{user_id}"


def member_group(room_id: int, user_id: int) -> str:
    """Every room socket one user has open on one room (closed together when they lose access)."""
    return f"chat.member.{room_id}.{user_id}"


def account_group(user_id: int) -> str:
    """Every socket of one user, room and notification sockets alike, whatever the session."""
    return f"accounts.user.{user_id}"


def session_group(session_key: str) -> str:
    # Channels group names allow [a-zA-Z0-9-_.] under 100 characters; a digest keeps the key itself out of Redis.
    return "accounts.session." + hashlib.sha256(session_key.encode()).hexdigest()[:32]


def encode(frame: dict) -> str:
    return json.dumps(frame, separators=(",", ":"))


def _room_event(frame: dict) -> dict:
    # Encoded once here; every member's consumer sends the same text as is. `frame` names the
    # frame type so room-list watchers can skip typing and presence without decoding.
    # A message.new names its seq, so each socket can drop one it already sent and fill gaps.
    event = {"type": "room.frame", "frame": frame["type"], "text": encode(frame)}
    if frame["type"] == "message.new":
        event["seq"] = frame["message"]["seq"]
    return event


def _user_event(frame: dict) -> dict:
    event = {"type": "user.frame", "text": encode(frame)}
    if frame["type"] == "notification.new":
        event["notification_id"] = frame["notification"]["id"]  # what a resync after an outage starts from
    return event


def _send_on_commit(group: str, event: dict) -> None:
    transaction.on_commit(partial(async_to_sync(get_channel_layer().group_send), group, event))


# ------------------------------------------------------------------------------ rooms
async def abroadcast_to_room(room_id: int, frame: dict) -> None:
    """Send one frame to every socket watching a room."""
    await get_channel_layer().group_send(room_group(room_id), _room_event(frame))


async def abroadcast_many_to_room(room_id: int, frames: list[dict]) -> bool:
    """Send frames, in order, to every socket watching a room, in one round trip; False when Redis refused them."""
    layer = get_channel_layer()
    failures = getattr(layer, "publish_failures", 0)
    events = [_room_event(frame) for frame in frames]
    if hasattr(layer, "group_send_many"):  # chatsite.layer: one pipeline
        await layer.group_send_many(room_group(room_id), events)
    else:
        for event in events:
            await layer.group_send(room_group(room_id), event)
    return getattr(layer, "publish_failures", 0) == failures


def broadcast_to_room(room_id: int, frame: dict) -> None:
    async_to_sync(abroadcast_to_room)(room_id, frame)


def broadcast_to_room_on_commit(room_id: int, frame: dict) -> None:
    """broadcast_to_room once the current transaction commits (at once outside one)."""
    transaction.on_commit(partial(broadcast_to_room, room_id, frame))


# ------------------------------------------------------------------------------ users
async def apush_to_user(user_id: int, frame: dict) -> None:
    """Send one frame to every notification socket (every tab) of a user."""
    await get_channel_layer().group_send(user_group(user_id), _user_event(frame))


def push_to_user(user_id: int, frame: dict) -> None:
    async_to_sync(apush_to_user)(user_id, frame)


def push_to_user_on_commit(user_id: int, frame: dict) -> None:
    transaction.on_commit(partial(push_to_user, user_id, frame))


async def _apush_to_users(frames: dict[int, dict]) -> None:
    layer = get_channel_layer()
    await asyncio.gather(*(layer.group_send(user_group(uid), _user_event(frame)) for uid, frame in frames.items()))


def push_to_users(frames: dict[int, dict]) -> None:
    """One frame per user, published concurrently (broadcasts to thousands)."""
    async_to_sync(_apush_to_users)(frames)


def push_room_access_on_commit(user_id: int, room_id: int, frame: dict, *, member: bool) -> None:
    """After commit, tell the user's notification sockets they joined or left a room (`frame` goes to the page).

    The sockets themselves start or stop watching the room's group, so a removed member's room list
    hears nothing more from the room.
    """
    event = {"type": "user.room_access", "room_id": room_id, "member": member, "text": encode(frame)}
    _send_on_commit(user_group(user_id), event)
    if not member:  # a room list that missed this would go on hearing the room: it re-reads its rooms
        recheck_durably(user_group(user_id), "room.access")


# ------------------------------------------------------------------------ access lost
RECHECK_EVENT = "realtime.recheck"
# What a durable re-check may ask of a socket: both re-read the database, so a late or repeated one is
# harmless (a member removed, then invited back, stays).
RECHECKS = {"room.access", "session.check"}


def recheck_durably(group: str, check: str) -> None:
    """Record, with the current change (or at once), that the sockets of `group` must run `check`."""
    if check not in RECHECKS:
        raise ValueError(f"check must be one of {sorted(RECHECKS)}")
    with transaction.atomic():
        publish_event(RECHECK_EVENT, {"group": group, "check": check})


@event_handler(RECHECK_EVENT, group="realtime", fields={"group": str, "check": str})
def recheck_deliver(event) -> None:
    """Stream handler (every app's handlers module imports this one): push the re-check; retried if Redis refused it."""
    if event.payload["check"] not in RECHECKS:
        raise InvalidEvent(f"unknown check {event.payload['check']!r}")
    layer = get_channel_layer()
    failures = getattr(layer, "publish_failures", 0)
    async_to_sync(layer.group_send)(event.payload["group"], {"type": event.payload["check"]})
    if getattr(layer, "publish_failures", 0) != failures:  # chatsite.layer counts what Redis refused
        raise RedisConnectionError("the channel layer could not publish the re-check")


def close_member_sockets_on_commit(room_id: int, user_id: int, *, code: int) -> None:
    """After commit, close every room socket of `user_id` on `room_id`, on every server process."""
    _send_on_commit(member_group(room_id, user_id), {"type": "socket.close", "code": code})
    recheck_durably(member_group(room_id, user_id), "room.access")


def recheck_room_access_on_commit(room_id: int) -> None:
    """After commit, make every socket on a room check again that its user may be there (e.g. it went private)."""
    _send_on_commit(room_group(room_id), {"type": "room.access"})
    recheck_durably(room_group(room_id), "room.access")


def recheck_account_on_commit(user_id: int) -> None:
    """After commit, make every socket of a user check its session again (password change, deactivation)."""
    _send_on_commit(account_group(user_id), {"type": "session.check"})
    recheck_durably(account_group(user_id), "session.check")


# --------------------------------------------------------------------------- sessions
def push_to_session(session_key: str, event: dict) -> None:
    """Send a control event (e.g. `{"type": "session.revoked"}`) to every socket of one browser session."""
    async_to_sync(get_channel_layer().group_send)(session_group(session_key), event)


def push_to_session_on_commit(session_key: str, event: dict) -> None:
    transaction.on_commit(partial(push_to_session, session_key, event))
    if event["type"] == "session.revoked":  # the session is gone from the database: a re-check closes too
        recheck_durably(session_group(session_key), "session.check")
