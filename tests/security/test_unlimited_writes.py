"""Hole 5: every write a client can repeat counts against a rule of RATE_LIMITS."""

import asyncio

import pytest

from chat.services import message_post, room_create
from tests.security.conftest import Client, connect, in_room

pytestmark = [pytest.mark.slow]

RULES = (
    "CHAT_EDIT",
    "CHAT_READ",
    "CHAT_SYNC",
    "CHAT_DM",
    "ROOMS_CREATE",
    "ROOMS_MANAGE",
    "NOTIFICATIONS_READ",
    "NOTIFICATIONS_WATCH",
)


@pytest.fixture
def strict_site(asgi_server, redis_client):
    return asgi_server(**{f"RATE_LIMIT_{rule}": "2/1m" for rule in RULES})


async def _third_is_refused(sock, frames: list[dict]) -> str:
    for frame in frames:
        await sock.send(frame)
    return (await sock.expect("error"))["code"]


def test_edit_delete_and_sync_floods_are_refused(strict_site, make_user):
    mallory = make_user("mallory")
    room = room_create(slug="lobby", title="Lobby")
    ids = [message_post(room=room, author=mallory, body=f"m{n}")[0].pk for n in range(3)]
    client = Client(strict_site, mallory)

    async def flood():
        sock = await in_room(strict_site, client, "lobby")
        edits = [{"type": "message.edit", "id": ids[0], "body": f"e{n}"} for n in range(3)]
        edited = await _third_is_refused(sock, edits)
        syncs = [{"type": "sync", "after_seq": 0} for _ in range(3)]
        synced = await _third_is_refused(sock, syncs)
        return edited, synced

    async def delete_flood():
        sock = await in_room(strict_site, client, "lobby")
        return await _third_is_refused(sock, [{"type": "message.delete", "id": i} for i in ids])

    assert asyncio.run(flood()) == ("rate_limited", "rate_limited")
    other = make_user("other")
    client = Client(strict_site, other)  # a fresh user: chat.edit counts edits and deletes together
    ids = [message_post(room=room, author=other, body=f"o{n}")[0].pk for n in range(3)]
    assert asyncio.run(delete_flood()) == "rate_limited"


def test_read_flood_is_dropped_silently(strict_site, make_user):
    alice = make_user("alice")
    room = room_create(slug="lobby", title="Lobby")
    for n in range(3):
        message_post(room=room, author=make_user(f"writer{n}"), body="hi")
    client = Client(strict_site, alice)

    async def flood():
        sock = await in_room(strict_site, client, "lobby")
        replies = []
        for seq in (1, 2, 3):
            await sock.send({"type": "read", "seq": seq})
            try:
                replies.append((await sock.expect("unread", timeout=1))["type"])
            except TimeoutError:
                replies.append(None)
        return replies

    assert asyncio.run(flood()) == ["unread", "unread", None]


def test_room_list_watch_flood_is_refused(strict_site, make_user):
    client = Client(strict_site, make_user("mallory"))

    async def flood():
        bell = await connect(strict_site, client, "/ws/notifications/")
        return await _third_is_refused(bell, [{"type": "rooms.watch"}] * 3)

    assert asyncio.run(flood()) == "rate_limited"


def test_http_writes_are_rate_limited(strict_site, make_user):
    mallory = make_user("mallory")
    for name in ("bob", "carol", "dave"):
        make_user(name)
    client = Client(strict_site, mallory)

    created = [client.post("/rooms/new/", form={"title": f"Room {n}", "topic": ""}).status for n in range(3)]
    dms = [client.post(f"/users/{name}/message/", form={}).status for name in ("bob", "carol", "dave")]
    marked = [client.post("/api/notifications/read", body={"all": True}).status for _ in range(3)]
    invites = [client.post("/api/rooms/room-0/members", body={"username": n}).status for n in ("bob", "carol", "dave")]

    assert created == [302, 302, 429]
    assert dms == [302, 302, 429]
    assert marked == [200, 200, 429]
    assert invites == [201, 201, 429]
