"""Presence in Redis: shared by processes, per user, and crashed processes' entries expire."""

import asyncio

import pytest

from chat import presence

pytestmark = pytest.mark.usefixtures("redis_client")


def who(user_id: int, socket: str, room_id: int = 901) -> dict:
    return {"room_id": room_id, "user_id": user_id, "username": f"user{user_id}", "socket_id": socket}


async def test_first_socket_of_a_user_joins_and_last_one_leaves():
    changed, online = await presence.apresence_join(**who(1, "tab-a"))
    assert changed
    assert online == [{"id": 1, "username": "user1"}]

    assert not (await presence.apresence_join(**who(1, "tab-b")))[0]
    assert not (await presence.apresence_leave(**who(1, "tab-a")))[0]
    changed, online = await presence.apresence_leave(**who(1, "tab-b"))
    assert changed
    assert online == []


async def test_entries_of_a_crashed_process_expire(monkeypatch):
    monkeypatch.setattr(presence, "TTL_SECONDS", 1)
    await presence.apresence_join(**who(1, "crashed-process-socket", room_id=902))  # never leaves
    await presence.apresence_join(**who(2, "live-socket", room_id=902))

    await asyncio.sleep(1.2)
    monkeypatch.setattr(presence, "TTL_SECONDS", 40)
    changed, online = await presence.apresence_heartbeat(**who(2, "live-socket", room_id=902))

    assert changed
    assert online == [{"id": 2, "username": "user2"}]
    await presence.apresence_leave(**who(2, "live-socket", room_id=902))


def test_heartbeat_keeps_entries_well_inside_the_60_second_promise():
    assert presence.TTL_SECONDS + presence.HEARTBEAT_SECONDS < 60
