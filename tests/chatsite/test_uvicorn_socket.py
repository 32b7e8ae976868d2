"""Room sockets under chatsite.serve's uvicorn protocol: one task waits on the client and the layer."""

import asyncio
import json

import pytest
from django.conf import settings

from chat.services import room_create
from tests.security.conftest import Client, in_room

pytestmark = [pytest.mark.slow]


def _socket_channels(redis_client) -> list[bytes]:
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    return redis_client.pubsub_channels(f"{prefix}specific.*")


def test_a_socket_hears_its_client_and_its_room_through_its_process_subscription(asgi_server, redis_client, make_user):
    server = asgi_server("uvicorn")
    room_create(slug="lobby", title="Lobby")
    alice, bob = Client(server, make_user("alice")), Client(server, make_user("bob"))

    async def chat() -> tuple[list[str], int, int]:
        first, second = await in_room(server, alice, "lobby"), await in_room(server, bob, "lobby")
        open_channels = len(_socket_channels(redis_client))
        bodies = []
        for n in range(3):  # each frame from the client, each room frame back through the layer
            await first.send(json.dumps({"type": "message.send", "body": f"hi {n}", "client_id": f"c{n}"}))
            bodies.append((await second.expect("message.new"))["message"]["body"])
            await first.expect("message.new")
        await first.close()
        await second.close()
        return bodies, open_channels

    # The two sockets' channels are queues behind their process's one subscription (chatsite.layer).
    assert asyncio.run(chat()) == (["hi 0", "hi 1", "hi 2"], 1)
