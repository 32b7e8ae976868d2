"""Rate limits on the room socket: a message over the limit is refused, not stored, and the socket stays open."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message
from redis_toolkit.ratelimit.core import rate_limit_reset
from tests.chat.conftest import open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_client")]


async def test_message_over_the_limit_gets_an_error_frame_and_is_not_stored(room, make_user, join, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "chat.message": {"limits": "2/1m", "fail": "open"}}
    mia = await sync_to_async(make_user)("mia")
    rate_limit_reset("chat.message", str(mia.pk))  # user ids repeat across tests on SQLite
    socket = await join(mia, room)

    for n in range(3):
        await socket.send({"type": "message.send", "body": f"hello {n}", "client_id": f"c-{n}"})
    # The refusal is the socket's own reply; the two messages come back through Redis: either may be first.
    frames = [await socket.expect("message.new", "error") for _ in range(3)]
    first, second = [frame for frame in frames if frame["type"] == "message.new"]
    (error,) = [frame for frame in frames if frame["type"] == "error"]

    assert [first["message"]["body"], second["message"]["body"]] == ["hello 0", "hello 1"]
    assert error["code"] == "rate_limited"
    assert 58 < error["retry_after"] <= 60
    assert await Message.objects.filter(room=room).acount() == 2
    await socket.send({"type": "sync", "after_seq": 0})  # the socket is still open and answering
    assert (await socket.expect("sync.done"))["last_seq"] == 2
    await socket.close()


async def _refused_connect(user, path: str) -> tuple[dict, dict]:
    from tests.chat.conftest import open_socket

    connected, _, socket = await open_socket(user, path)
    assert connected
    error = json.loads((await socket.communicator.receive_output(timeout=2))["text"])
    return error, await socket.communicator.receive_output(timeout=2)


async def test_socket_opens_over_the_users_limit_are_refused_with_4429(room, make_user, join, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "sockets.connect": {"limits": "2/1m", "fail": "open"}}
    mia = await sync_to_async(make_user)("mia")
    first, second = await join(mia, room), await join(mia, room)

    error, closed = await _refused_connect(mia, "/ws/notifications/")  # every socket of the user counts

    assert error["code"] == "rate_limited"
    assert 58 < error["retry_after"] <= 60
    assert closed == {"type": "websocket.close", "code": 4429}
    other = await join(await sync_to_async(make_user)("noa"), room)  # others are not affected
    for socket in (first, second, other):
        await socket.close()


async def test_socket_opens_over_the_addresss_limit_are_refused_with_4429(room, make_user, join, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "sockets.connect.ip": {"limits": "2/1m", "fail": "open"}}
    users = [await sync_to_async(make_user)(name) for name in ("ann", "ben", "cat")]
    first, second = await join(users[0], room), await join(users[1], room)

    error, closed = await _refused_connect(users[2], f"/ws/rooms/{room.slug}/")  # same address, another user

    assert error["code"] == "rate_limited"
    assert closed == {"type": "websocket.close", "code": 4429}
    for socket in (first, second):
        await socket.close()


async def test_sockets_opening_at_once_are_each_counted_and_the_one_over_the_limit_refused(room, make_user, settings):
    """The connect checks of sockets opening in the same turn share one pipeline, and each socket its verdict."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "sockets.connect": {"limits": "2/1m", "fail": "open"}}
    mia = await sync_to_async(make_user)("mia")

    opened = await asyncio.gather(*(open_socket(mia, f"/ws/rooms/{room.slug}/") for _ in range(3)))
    first_frames = [json.loads((await s.communicator.receive_output(timeout=2))["text"]) for _, _, s in opened]

    assert sorted(frame["type"] for frame in first_frames) == ["error", "presence", "presence"]
    (refused,) = [s for (_, _, s), frame in zip(opened, first_frames, strict=True) if frame["type"] == "error"]
    assert await refused.communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": 4429}
    for _, _, socket in opened:
        await socket.close()
