"""The `presence.state` frame: a page going away or coming back shows in everyone's presence list."""

import pytest
from asgiref.sync import sync_to_async

from redis_toolkit.ratelimit.core import rate_limit_reset

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_client")]


@pytest.fixture
def people(make_user):
    return make_user("alice"), make_user("bob")


async def test_a_hidden_page_shows_as_away_and_back_as_active(room, people, join):
    alice, bob = people
    bob_socket = await join(bob, room)
    alice_socket = await join(alice, room)
    await bob_socket.expect("presence")  # alice arrived

    await alice_socket.send({"type": "presence.state", "state": "away"})
    away = await bob_socket.expect("presence")
    assert {u["username"]: u["state"] for u in away["online"]} == {"alice": "away", "bob": "active"}

    await alice_socket.send({"type": "presence.state", "state": "away"})  # no change, no frame
    assert await bob_socket.quiet("presence")

    await alice_socket.send({"type": "presence.state", "state": "active"})
    back = await bob_socket.expect("presence")
    assert {u["username"]: u["state"] for u in back["online"]}["alice"] == "active"
    await alice_socket.close()
    await bob_socket.close()


@pytest.mark.parametrize("state", ["busy", 3, None])
async def test_an_unknown_state_gets_an_error_frame(room, people, join, state):
    socket = await join(people[0], room)

    await socket.send({"type": "presence.state", "state": state})

    error = await socket.expect("error")
    assert error["code"] == "invalid_frame"
    assert "state" in error["detail"]
    await socket.close()


async def test_state_changes_over_the_rate_limit_are_dropped_silently(room, people, join, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "chat.presence": {"limits": "1/1m", "fail": "open"}}
    alice, bob = people
    await sync_to_async(rate_limit_reset)("chat.presence", str(alice.pk))
    bob_socket = await join(bob, room)
    alice_socket = await join(alice, room)
    await bob_socket.expect("presence")

    await alice_socket.send({"type": "presence.state", "state": "away"})
    await bob_socket.expect("presence")
    await alice_socket.send({"type": "presence.state", "state": "active"})  # refused: a flapping page

    assert await bob_socket.quiet("presence")
    assert await alice_socket.quiet("error")
    await alice_socket.close()
    await bob_socket.close()


async def test_with_redis_unreachable_the_state_is_dropped_and_the_socket_keeps_working(
    room, people, join, settings, spare_redis, caplog
):
    socket = await join(people[0], room)
    settings.REDIS_URL, settings.REDIS_SOCKET_TIMEOUT = spare_redis.url, 1  # presence and rate limits go there
    spare_redis.stop()

    await socket.send({"type": "presence.state", "state": "away"})
    await socket.send({"type": "sync", "after_seq": 0})

    assert (await socket.expect("sync.done", "error", timeout=10))["type"] == "sync.done"
    assert "presence state not stored" in caplog.text
    await socket.close()
