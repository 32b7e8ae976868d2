"""Two server processes sharing Redis: a message sent on one reaches a client on the other."""

import json

import pytest
import websockets

from chat.services import room_create
from tests.conftest import cookie_header

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("redis_client")]


async def frames_until(ws, kind: str, timeout: float = 5) -> dict:
    while True:
        frame = json.loads(await ws.recv(timeout))
        if frame["type"] == kind:
            return frame


@pytest.mark.django_db(transaction=True)
def test_message_sent_on_one_server_reaches_a_client_on_the_other(asgi_server, make_user):
    import asyncio

    alice, bob = make_user("alice"), make_user("bob")
    room_create(slug="lobby", title="Lobby")
    first, second = asgi_server(), asgi_server()
    alice_cookie, bob_cookie = cookie_header(alice), cookie_header(bob)

    async def scenario():
        def connect(server, cookie):
            headers = {"Cookie": cookie}
            return websockets.connect(f"{server.ws_url}/ws/rooms/lobby/", additional_headers=headers, origin=server.url)

        async with connect(first, alice_cookie) as alice_ws, connect(second, bob_cookie) as bob_ws:
            await frames_until(alice_ws, "presence")
            await frames_until(bob_ws, "presence")
            await alice_ws.send(json.dumps({"type": "message.send", "body": "across processes", "client_id": "x"}))
            received = await frames_until(bob_ws, "message.new")
            presence = await frames_until(alice_ws, "presence")
            return received, presence

    received, presence = asyncio.run(scenario())

    assert received["message"]["body"] == "across processes"
    assert received["message"]["author"] == "alice"
    assert {u["username"] for u in presence["online"]} == {"alice", "bob"}
