"""Hole 3: every way a session ends closes its room and notification sockets (4401), on every process."""

import asyncio

import pytest
from django.contrib.sessions.backends.cached_db import SessionStore

from chat.services import room_create
from tests.security.conftest import Client, connect, in_room

pytestmark = [pytest.mark.slow]


@pytest.fixture
def two_servers(asgi_server, redis_client):
    room_create(slug="lobby", title="Lobby")
    return asgi_server(), asgi_server()


async def _sockets(server, client):
    return [await in_room(server, client, "lobby"), await connect(server, client, "/ws/notifications/")]


async def _codes(sockets, timeout: float = 1.5) -> list:
    return list(await asyncio.gather(*(sock.closed(timeout=timeout) for sock in sockets)))


def test_logout_closes_the_sessions_open_sockets(two_servers, make_user):
    first, second = two_servers
    alice = make_user("alice")
    browser, other_browser = Client(first, alice), Client(first, alice)

    async def scenario():
        mine, others = await _sockets(second, browser), await _sockets(second, other_browser)
        logged_out = await browser.arequest("POST", "/accounts/logout/", form={})
        codes = await _codes(mine)
        await others[0].send({"type": "message.send", "body": "other browser stays", "client_id": "o"})
        return logged_out.status, codes, (await others[0].expect("message.new"))["message"]["body"]

    assert asyncio.run(scenario()) == (302, [4401, 4401], "other browser stays")


def test_password_change_closes_the_sockets_of_the_other_sessions(two_servers, make_user):
    first, second = two_servers
    alice = make_user("alice", password="old-pw-for-tests-123")
    browser, stolen = Client(first, alice), Client(first, alice)
    new = "New-pw-4-tests!"
    form = {"old_password": "old-pw-for-tests-123", "new_password1": new, "new_password2": new}

    async def scenario():
        thief = await _sockets(second, stolen)
        changed = await browser.arequest("POST", "/accounts/password_change/", form=form)
        return changed.status, await _codes(thief)

    assert asyncio.run(scenario()) == (302, [4401, 4401])


def test_deactivated_user_sockets_are_closed(two_servers, make_user):
    _, second = two_servers
    mallory = make_user("mallory")
    client = Client(second, mallory)

    async def scenario():
        sockets = await _sockets(second, client)
        await asyncio.to_thread(_deactivate, mallory.pk)
        return await _codes(sockets)

    assert asyncio.run(scenario()) == [4401, 4401]


def _deactivate(user_id: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    user = get_user_model().objects.get(pk=user_id)
    user.is_active = False
    user.save()
    connection.close()


def test_expired_session_sockets_are_closed(two_servers, make_user):
    _, second = two_servers
    client = Client(second, make_user("alice"))
    store = SessionStore(client.session_key)
    store.set_expiry(2)  # seconds from now
    store.save()

    async def scenario():
        sockets = await _sockets(second, client)
        return await _codes(sockets, timeout=4)

    assert asyncio.run(scenario()) == [4401, 4401]
    assert client.get("/").status == 302, "HTTP agrees: the session is over"
