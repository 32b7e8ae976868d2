"""A room socket sends message.new in seq order, once each, whatever order Pub/Sub delivers them in."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from chat import consumers
from chat.posting import Post, message_post_many
from chatsite import ordering
from chatsite.realtime import abroadcast_many_to_room, abroadcast_to_room

pytestmark = pytest.mark.django_db(transaction=True)


async def _stored_frames(room, author, n: int) -> list[dict]:
    """n messages stored (and not broadcast): their message.new frames."""
    posted = await sync_to_async(message_post_many)([Post(room, author, f"m{i}", f"c{i}") for i in range(n)])
    return [p.frames[0] for p in posted]


async def _seqs(socket, n: int) -> list[int]:
    return [(await socket.expect("message.new"))["message"]["seq"] for _ in range(n)]


async def test_a_frame_overtaken_by_the_next_one_is_still_sent_first(join, room, alice, bob, monkeypatch):
    socket = await join(bob, room)
    reads = []
    history = consumers._history_frames
    monkeypatch.setattr(consumers, "_history_frames", lambda *a: reads.append(a) or history(*a))
    first, second = await _stored_frames(room, alice, 2)
    await abroadcast_to_room(room.pk, second)  # e.g. two processes' publishes crossing
    await abroadcast_to_room(room.pk, first)
    assert await _seqs(socket, 2) == [1, 2]
    assert await socket.quiet("message.new")
    await socket.close()
    assert reads == []  # the late one was waited for, not read from the database


async def test_posts_published_out_of_order_reach_sockets_in_order_however_late_the_first(
    join, room, alice, bob, monkeypatch
):
    monkeypatch.setattr(ordering, "HOLD_MS", 60_000)
    socket = await join(bob, room)
    reads = []
    history = consumers._history_frames
    monkeypatch.setattr(consumers, "_history_frames", lambda *a: reads.append(a) or history(*a))
    first, second, third = await _stored_frames(room, alice, 3)
    await abroadcast_many_to_room(room.pk, [first])
    await abroadcast_many_to_room(room.pk, [third])  # another process committed it after `second`
    await asyncio.sleep(consumers.GAP_WAIT_SECONDS * 5)  # `second`'s process is slow to publish
    await abroadcast_many_to_room(room.pk, [second])
    assert await _seqs(socket, 3) == [1, 2, 3]
    await socket.close()
    assert reads == []  # Redis held `third` for it: the socket never saw a gap


async def test_a_frame_pubsub_lost_is_filled_from_the_database_once_per_process(
    join, room, alice, bob, make_user, monkeypatch
):
    carol = await sync_to_async(make_user)("carol")
    sockets = [await join(bob, room), await join(carol, room)]
    reads = []
    history = consumers._history_frames
    monkeypatch.setattr(consumers, "_history_frames", lambda *a: reads.append(a) or history(*a))
    _lost, second, third = await _stored_frames(room, alice, 3)
    await abroadcast_to_room(room.pk, second)
    await abroadcast_to_room(room.pk, third)
    for socket in sockets:
        assert await _seqs(socket, 3) == [1, 2, 3]
        assert await socket.quiet("message.new")
        await socket.close()
    assert len(reads) == 1  # both sockets saw the same gap: one read filled it for both


async def test_a_duplicate_after_a_gap_is_not_sent_twice(join, room, alice, bob):
    socket = await join(bob, room)
    first, second = await _stored_frames(room, alice, 2)
    await abroadcast_to_room(room.pk, second)
    await abroadcast_to_room(room.pk, second)
    await abroadcast_to_room(room.pk, first)
    await abroadcast_to_room(room.pk, first)
    assert await _seqs(socket, 2) == [1, 2]
    assert await socket.quiet("message.new")
    await socket.close()
