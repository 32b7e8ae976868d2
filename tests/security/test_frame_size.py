"""Hole 10: a frame over MAX_FRAME_BYTES is refused the same way every time (close 1009), on daphne and uvicorn."""

import asyncio
import json

import pytest

from chat.services import room_create
from chatsite.ws import MAX_FRAME_BYTES
from tests.security.conftest import Client, in_room

pytestmark = [pytest.mark.slow]


def _frame(size: int) -> str:
    head = '{"type": "message.send", "client_id": "big", "body": "'
    return head + "x" * (size - len(head) - 2) + '"}'


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
@pytest.mark.parametrize("size", [MAX_FRAME_BYTES + 1, 1024 * 1024 + 1, 4 * 1024 * 1024])
def test_oversized_frame_is_closed_with_1009(asgi_server, redis_client, make_user, kind, size):
    server = asgi_server(kind)
    room_create(slug="lobby", title="Lobby")
    client = Client(server, make_user("mallory"))

    async def attack():
        sock = await in_room(server, client, "lobby")
        await sock.send(_frame(size))
        return await sock.closed(timeout=5)

    assert asyncio.run(attack()) == 1009


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_frame_at_the_limit_gets_an_error_frame_and_the_socket_stays(asgi_server, redis_client, make_user, kind):
    server = asgi_server(kind)
    room_create(slug="lobby", title="Lobby")
    client = Client(server, make_user("mallory"))

    async def attack():
        sock = await in_room(server, client, "lobby")
        await sock.send(_frame(MAX_FRAME_BYTES))
        error = await sock.expect("error")
        await sock.send(json.dumps({"type": "message.send", "body": "small", "client_id": "s"}))
        return error["code"], (await sock.expect("message.new"))["message"]["body"]

    assert asyncio.run(attack()) == ("body_too_long", "small")
