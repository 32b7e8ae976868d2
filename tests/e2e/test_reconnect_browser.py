"""The room page comes back by itself within 2 s of the server returning, and catches up."""

from __future__ import annotations

import time

import pytest

from chat.models import Message
from chat.services import room_create
from tests.e2e.conftest import in_thread

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_room_page_reconnects_within_two_seconds_of_the_server_returning(
    asgi_server, spare_redis, signed_in_page, make_user
):
    make_user("alice")
    bob = make_user("bob")
    room = room_create(slug="lobby", title="Lobby")
    server = asgi_server(REDIS_URL=spare_redis.url)
    page = signed_in_page(server, "alice")
    page.goto("/rooms/lobby/")
    status = page.locator("#connection")
    page.get_by_role("textbox", name="Message").wait_for()
    page.wait_for_function("document.getElementById('connection').hidden")

    server.stop()  # SIGTERM: the page gets 1012, then finds nobody there and backs off
    status.wait_for(state="visible")
    time.sleep(6)  # long enough for an unbounded backoff to have grown past many seconds
    from chat.services import message_post

    in_thread(message_post, room=room, author=bob, body="said while alice was away")
    server.start()
    back = time.monotonic()
    page.wait_for_function("document.getElementById('connection').hidden", timeout=10_000)
    waited = time.monotonic() - back
    print(f"room page reconnected {waited:.2f}s after the server listened again")
    assert waited < 2.0
    page.get_by_text("said while alice was away").wait_for()
    assert Message.objects.filter(room=room).count() == 1
