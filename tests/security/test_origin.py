"""Hole 8 and what held: a socket opens only from the site's own origin (scheme, host and port), signed in."""

import asyncio

import pytest

from chat.services import room_create
from tests.security.conftest import Client, Refused, connect

pytestmark = [pytest.mark.slow]


def _try(server, client, origin) -> int | str:
    async def attempt():
        try:
            sock = await connect(server, client, "/ws/notifications/", origin=origin)
        except Refused as exc:
            return exc.status
        await sock.close()
        return "open"

    return asyncio.run(attempt())


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",  # cross-site WebSocket hijacking
        "http://localhost:9999",  # same host name, another port
        "https://127.0.0.1",  # same host, another scheme and port
        "http://127.0.0.1",  # no port: another origin
        "null",  # sandboxed frames and file: pages
        None,  # no Origin at all
    ],
)
def test_socket_from_another_origin_is_refused(site, make_user, origin):
    client = Client(site, make_user("alice"))
    assert _try(site, client, origin) in (400, 403)  # refused at the handshake ("null": daphne's own 400)


def test_socket_from_the_sites_own_origin_opens(site, make_user):
    assert _try(site, Client(site, make_user("alice")), "") == "open"


def test_socket_from_a_trusted_origin_opens(asgi_server, redis_client, make_user):
    server = asgi_server(CSRF_TRUSTED_ORIGINS="https://chat.example.com")
    client = Client(server, make_user("alice"))
    assert _try(server, client, "https://chat.example.com") == "open"
    assert _try(server, client, "https://other.example.com") == 403


def test_anonymous_sockets_are_closed_with_4401(site, db):
    room_create(slug="lobby", title="Lobby")

    async def attempt(path):
        return await (await connect(site, None, path)).closed()

    assert asyncio.run(attempt("/ws/rooms/lobby/")) == 4401
    assert asyncio.run(attempt("/ws/notifications/")) == 4401
