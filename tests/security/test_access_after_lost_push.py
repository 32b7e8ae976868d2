"""A removal or sign-out whose push never reached the socket (Redis refused it, a crash before the push):
the socket's own reads of the room re-check access, so it learns nothing more of the room."""

import asyncio

import pytest

from chat.services import message_post, room_create
from tests.security.conftest import Client, connect, in_room
from tests.security.test_membership import _delete_membership

pytestmark = [pytest.mark.slow]


def test_removed_member_sync_gets_no_history_and_the_socket_closes_4403(site, private_room):
    room, alice, bob = private_room
    member = Client(site, bob)

    message_post(room=room, author=alice, body="the plan", client_id="p1")

    async def scenario():
        sock = await in_room(site, member, "secret")
        await asyncio.to_thread(_delete_membership, room.pk, bob.pk)  # removed; the 4403 push was lost
        await sock.send({"type": "sync", "after_seq": 0})
        frames = []
        try:
            while True:
                frames.append(await sock.expect("message.new", "sync.done", "error"))
        except Exception as exc:  # the close (Closed) or a timeout ends the read
            return frames, getattr(exc, "code", None)

    frames, code = asyncio.run(scenario())
    assert not [f for f in frames if f["type"] == "message.new"], frames
    assert code == 4403


@pytest.mark.django_db(transaction=True)
def test_a_removal_during_a_redis_outage_closes_the_socket_when_redis_returns(asgi_server, spare_redis, private_room):
    """The close push fails with Redis down; the resync after the outage must close, not send the history."""
    room, alice, bob = private_room
    server = asgi_server(REDIS_URL=spare_redis.url)
    owner, member = Client(server, alice), Client(server, bob)

    async def scenario():
        sock = await in_room(server, member, "secret")
        owner.csrf()
        spare_redis.stop()
        removed = await owner.arequest("DELETE", "/api/rooms/secret/members/bob")
        await asyncio.to_thread(message_post, room=room, author=alice, body="after bob left", client_id="p2")
        spare_redis.start()
        seen = []
        try:
            while True:
                seen.append(await sock.expect("message.new", timeout=15))
        except Exception as exc:  # Closed (with its code) or TimeoutError
            return removed.status, seen, getattr(exc, "code", None)

    status, seen, code = asyncio.run(scenario())
    assert status == 200
    assert [f["message"]["body"] for f in seen] == []
    assert code == 4403


@pytest.mark.django_db(transaction=True)
def test_a_sign_out_during_a_redis_outage_closes_its_sockets_when_redis_returns(asgi_server, spare_redis, make_user):
    room_create(slug="lobby", title="Lobby")
    server = asgi_server(REDIS_URL=spare_redis.url)
    bob = Client(server, make_user("bob"))

    async def scenario():
        sock = await in_room(server, bob, "lobby")
        bob.csrf()
        spare_redis.stop()
        await bob.arequest("POST", "/accounts/logout/", form={})
        spare_redis.start()
        try:
            while True:
                await sock.expect("message.new", timeout=15)
        except Exception as exc:  # Closed (with its code) or TimeoutError
            return getattr(exc, "code", None)

    assert asyncio.run(scenario()) == 4401


@pytest.mark.django_db(transaction=True)
def test_a_room_list_stops_hearing_a_room_removed_during_a_redis_outage(asgi_server, spare_redis, private_room):
    _room, alice, bob = private_room
    server = asgi_server(REDIS_URL=spare_redis.url)
    owner, member = Client(server, alice), Client(server, bob)

    async def scenario():
        bell = await connect(server, member, "/ws/notifications/")
        await bell.send({"type": "rooms.watch"})
        assert (await bell.expect("rooms.watching"))["count"] == 1
        owner.csrf()
        spare_redis.stop()
        assert (await owner.arequest("DELETE", "/api/rooms/secret/members/bob")).status == 200
        spare_redis.start()
        sock = await in_room(server, owner, "secret")
        # Redis answers again: the bell's resync re-reads its rooms, then sends the bell's state.
        await bell.expect("notification.read", "notification.new", timeout=15)
        await sock.send({"type": "message.send", "body": "bob is gone", "client_id": "g1"})
        await sock.expect("message.new")
        try:
            return await bell.expect("message.new", timeout=2)
        except TimeoutError:
            return None

    assert asyncio.run(scenario()) is None
