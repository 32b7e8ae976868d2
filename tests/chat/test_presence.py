"""Presence in Redis: shared by processes, per user, and crashed processes' entries expire."""

import asyncio

import pytest

from chat import presence
from tests.conftest import await_until

pytestmark = pytest.mark.usefixtures("redis_client")


def who(user_id: int, socket: str, room_id: int = 901) -> dict:
    return {"room_id": room_id, "user_id": user_id, "username": f"user{user_id}", "socket_id": socket}


async def test_first_socket_of_a_user_joins_and_last_one_leaves():
    changed, online = await presence.apresence_join(**who(1, "tab-a"))
    assert changed
    assert online == [{"id": 1, "username": "user1", "state": "active"}]

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
    [(changed, online)] = await presence.apresence_heartbeats([who(2, "live-socket", room_id=902)])

    assert changed
    assert online == [{"id": 2, "username": "user2", "state": "active"}]
    await presence.apresence_leave(**who(2, "live-socket", room_id=902))


def test_heartbeat_keeps_entries_well_inside_the_60_second_promise():
    assert presence.TTL_SECONDS + presence.HEARTBEAT_SECONDS < 60


async def test_a_user_is_away_only_when_every_socket_is_away():
    await presence.apresence_join(**who(1, "laptop", room_id=903))
    await presence.apresence_join(**who(1, "phone", room_id=903))

    changed, online = await presence.apresence_set_state(state="away", **who(1, "laptop", room_id=903))
    assert not changed  # the phone is still active
    assert online[0]["state"] == "active"

    changed, online = await presence.apresence_set_state(state="away", **who(1, "phone", room_id=903))
    assert changed
    assert online == [{"id": 1, "username": "user1", "state": "away"}]

    changed, online = await presence.apresence_leave(**who(1, "phone", room_id=903))
    assert not changed  # still listed (the laptop), still away
    changed, online = await presence.apresence_set_state(state="active", **who(1, "laptop", room_id=903))
    assert changed
    assert online[0]["state"] == "active"
    await presence.apresence_leave(**who(1, "laptop", room_id=903))


async def test_the_state_of_a_crashed_socket_stops_counting(monkeypatch):
    monkeypatch.setattr(presence, "TTL_SECONDS", 1)
    await presence.apresence_join(**who(1, "crashed-active-tab", room_id=904))  # never leaves
    monkeypatch.setattr(presence, "TTL_SECONDS", 40)
    await presence.apresence_join(**who(1, "live-tab", room_id=904))
    await presence.apresence_set_state(state="away", **who(1, "live-tab", room_id=904))

    await asyncio.sleep(1.2)
    [(changed, online)] = await presence.apresence_heartbeats([who(1, "live-tab", room_id=904)])

    assert changed
    assert online == [{"id": 1, "username": "user1", "state": "away"}]
    await presence.apresence_leave(**who(1, "live-tab", room_id=904))


async def test_an_unknown_state_is_refused():
    with pytest.raises(ValueError):
        await presence.apresence_set_state(state="busy", **who(1, "tab", room_id=905))


async def test_one_keeper_refreshes_every_socket_of_the_process_and_announces_expired_users(monkeypatch):
    monkeypatch.setattr(presence, "TTL_SECONDS", 1)
    monkeypatch.setattr(presence, "HEARTBEAT_SECONDS", 0.2)
    announced = []

    async def announce(room_id, online):
        announced.append((room_id, [entry["id"] for entry in online]))

    for user_id in (1, 2):
        await presence.apresence_join(**who(user_id, f"kept-tab-{user_id}", room_id=906))
        presence.presence_keep(announce, **who(user_id, f"kept-tab-{user_id}", room_id=906))
    await presence.apresence_join(**who(3, "crashed-tab", room_id=906))  # nobody keeps it

    await await_until(lambda: announced, timeout=5)
    assert announced[0] == (906, [1, 2])  # the crashed socket's user expired; the kept ones did not

    [(_, online)] = await presence.apresence_heartbeats([who(1, "kept-tab-1", room_id=906)])
    assert [entry["id"] for entry in online] == [1, 2]  # refreshed well past their 1 s TTL
    for user_id in (1, 2):
        presence.presence_forget(f"kept-tab-{user_id}")
        await presence.apresence_leave(**who(user_id, f"kept-tab-{user_id}", room_id=906))


async def test_sockets_joining_in_the_same_turn_share_one_round_trip_and_each_gets_its_own_answer(monkeypatch):
    round_trips = []
    run_many = presence._arun_many

    async def counted(calls):
        round_trips.append(len(calls))
        return await run_many(calls)

    monkeypatch.setattr(presence, "_arun_many", counted)
    joined = await asyncio.gather(*(presence.apresence_join(**who(n, f"tab-{n}", room_id=904)) for n in (1, 2, 3)))

    assert round_trips == [3]
    assert [changed for changed, _ in joined] == [True, True, True]
    assert [[entry["id"] for entry in online] for _, online in joined] == [[1], [1, 2], [1, 2, 3]]  # in order
    left = await asyncio.gather(*(presence.apresence_leave(**who(n, f"tab-{n}", room_id=904)) for n in (1, 2, 3)))
    assert round_trips == [3, 3]
    assert left[-1] == (True, [])
