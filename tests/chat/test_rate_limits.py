"""Rate limits on the room socket: a message over the limit is refused, not stored, and the socket stays open."""

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message
from redis_toolkit.ratelimit.core import rate_limit_reset

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_client")]


async def test_message_over_the_limit_gets_an_error_frame_and_is_not_stored(room, make_user, join, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "chat.message": {"limits": "2/1m", "fail": "open"}}
    mia = await sync_to_async(make_user)("mia")
    rate_limit_reset("chat.message", str(mia.pk))  # user ids repeat across tests on SQLite
    socket = await join(mia, room)

    for n in range(3):
        await socket.send({"type": "message.send", "body": f"hello {n}", "client_id": f"c-{n}"})
    first, second = await socket.expect("message.new"), await socket.expect("message.new")
    error = await socket.expect("error")

    assert [first["message"]["body"], second["message"]["body"]] == ["hello 0", "hello 1"]
    assert error["code"] == "rate_limited"
    assert 58 < error["retry_after"] <= 60
    assert await Message.objects.filter(room=room).acount() == 2
    await socket.send({"type": "sync", "after_seq": 0})  # the socket is still open and answering
    assert (await socket.expect("sync.done"))["last_seq"] == 2
    await socket.close()
