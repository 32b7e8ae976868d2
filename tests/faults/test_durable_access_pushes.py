"""Pushes that take access away (a removal, a sign-out) survive a Redis blip that the socket's own server
never noticed: the stream workers deliver a re-check from the outbox once Redis answers again."""

import asyncio
import contextlib
import threading

import pytest

from chat.models import Membership
from tests.conftest import wait_until
from tests.security.conftest import Client, in_room

pytestmark = [pytest.mark.slow]


@pytest.mark.django_db(transaction=True)
def test_a_removal_whose_push_died_with_its_server_still_closes_the_member_s_socket(
    asgi_server, worker_process, spare_redis, private_room
):
    room, alice, bob = private_room
    env = {"REDIS_URL": spare_redis.url, "REDIS_SOCKET_TIMEOUT": "1"}
    sockets_server, doomed = asgi_server(**env), asgi_server(**env)
    worker_process(**env)
    owner, member = Client(doomed, alice), Client(sockets_server, bob)
    owner.csrf()

    async def scenario():
        sock = await in_room(sockets_server, member, "secret")
        # Frozen (SIGSTOP), not stopped: connections stay open, so the socket's server notices nothing.
        spare_redis.pause()
        remove = threading.Thread(
            target=_ignore_errors, args=(owner.request, "DELETE", "/api/rooms/secret/members/bob"), daemon=True
        )
        remove.start()
        gone = lambda: not Membership.objects.filter(room=room, user=bob).exists()  # noqa: E731
        await asyncio.to_thread(wait_until, gone, timeout=20)  # committed; its close push waits for Redis
        await asyncio.to_thread(doomed.stop)  # and dies with the server (a crash, a deploy)
        spare_redis.resume()
        try:
            while True:
                await sock.expect("message.new", timeout=30)
        except Exception as exc:  # Closed (with its code) or TimeoutError
            return getattr(exc, "code", None)

    assert asyncio.run(scenario()) == 4403


def _ignore_errors(call, *args, **kwargs) -> None:
    with contextlib.suppress(Exception):  # the server was killed under the request
        call(*args, **kwargs)
