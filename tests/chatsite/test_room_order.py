"""A room's message frames reach its group in seq order, whichever process publishes them first.

Each layer below stands for one server process (its own Redis connections); a third one listens.
"""

from __future__ import annotations

import asyncio

import pytest
import redis
from django.conf import settings

from chatsite import ordering
from chatsite.layer import ResilientPubSubChannelLayer
from tests.conftest import SpareRedis, await_until

GROUP = "chat.room.1"


def _layer(url: str) -> ResilientPubSubChannelLayer:
    return ResilientPubSubChannelLayer(hosts=[url], prefix=f"{settings.REDIS_KEY_PREFIX}order-test")


def _frame(seq: int | None, kind: str = "message.new") -> dict:
    event = {"type": "room.frame", "frame": kind, "text": f"{kind} {seq}"}
    return event if seq is None else {**event, "seq": seq}


class Listener:
    """A socket of a third process: what the group delivered, in order."""

    def __init__(self, url: str) -> None:
        self.layer = _layer(url)
        self.heard: list = []

    async def start(self) -> Listener:
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(GROUP, self.channel)
        self.task = asyncio.ensure_future(self._listen())
        return self

    async def _listen(self) -> None:
        while True:
            event = await self.layer.receive(self.channel)
            if event["type"] == "room.frame":
                self.heard.append(event.get("seq", event["text"]))

    async def hear(self, n: int) -> list:
        await await_until(lambda: len(self.heard) >= n)
        return self.heard

    async def stop(self) -> None:
        self.task.cancel()
        await self.layer.group_discard(GROUP, self.channel)


@pytest.fixture
async def processes():
    """Two publishing layers (process A and B) and a listening one, on the shared test Redis."""
    a, b = _layer(settings.REDIS_URL), _layer(settings.REDIS_URL)
    listener = await Listener(settings.REDIS_URL).start()
    yield a, b, listener
    await listener.stop()


def _order_keys(layer) -> list[str]:
    return ordering.order_keys(layer._get_layer()._get_group_channel_name(GROUP))


async def test_frames_published_out_of_order_by_two_processes_arrive_in_seq_order(processes):
    a, b, listener = processes
    await a.group_send_many(GROUP, [_frame(1)])
    await b.group_send_many(GROUP, [_frame(3), _frame(None, "message.replies"), _frame(4)])  # B committed later
    await b.group_send(GROUP, _frame(None, "typing"))  # no seq: not held
    await a.group_send_many(GROUP, [_frame(2)])
    heard = await listener.hear(6)
    assert heard == [1, "typing None", 2, 3, "message.replies None", 4]
    assert redis.Redis.from_url(settings.REDIS_URL).exists(_order_keys(a)[1]) == 0  # nothing left held


async def test_a_seq_that_never_comes_is_skipped_after_the_bound_even_in_a_quiet_room(processes):
    a, b, listener = processes
    await a.group_send_many(GROUP, [_frame(1)])
    await b.group_send_many(GROUP, [_frame(3)])  # seq 2's process died between its commit and its publish
    await b.group_send_many(GROUP, [_frame(4)])
    assert await listener.hear(3) == [1, 3, 4]  # released by B's own call after the bound: nobody posted
    await a.group_send_many(GROUP, [_frame(2), _frame(5)])  # seq 2 after all: out as it comes, sockets drop it
    assert await listener.hear(5) == [1, 3, 4, 2, 5]


async def test_frames_held_past_the_bound_go_out_with_the_next_publish_when_their_process_is_gone(processes):
    a, b, listener = processes
    await a.group_send_many(GROUP, [_frame(1)])
    await b.group_send_many(GROUP, [_frame(3)])
    b._get_layer()._releases.pop(GROUP).cancel()  # B dies with its release call pending
    await asyncio.sleep(ordering.HOLD_MS / 1000 * 2)
    assert listener.heard == [1]
    await a.group_send_many(GROUP, [_frame(5)])
    assert await listener.hear(3) == [1, 3, 5]


async def test_duplicates_and_seqs_already_passed_are_published_not_held(processes, monkeypatch):
    monkeypatch.setattr(ordering, "HOLD_MS", 60_000)  # a held frame would not arrive within the test
    a, b, listener = processes
    await a.group_send_many(GROUP, [_frame(1), _frame(2)])
    await b.group_send_many(GROUP, [_frame(2)])
    await b.group_send_many(GROUP, [_frame(1)])
    await a.group_send(GROUP, {**_frame(None), "seq": "3"})  # not an int: no order, no hold
    await a.group_send_many(GROUP, [_frame(3)])
    assert await listener.hear(6) == [1, 2, 2, 1, "3", 3]


async def test_a_far_seq_is_held_only_for_the_bound_and_the_room_goes_on(processes):
    a, _b, listener = processes
    await a.group_send_many(GROUP, [_frame(1)])
    await a.group_send_many(GROUP, [_frame(10**12)])  # a bad seq (a room's counter moved by hand)
    assert await listener.hear(2) == [1, 10**12]
    await a.group_send_many(GROUP, [_frame(2)])  # at or below the cursor: out at once
    assert await listener.hear(3) == [1, 10**12, 2]


async def test_order_keys_of_the_wrong_type_fall_back_to_a_plain_publish(processes, monkeypatch):
    monkeypatch.setattr(ordering, "HOLD_MS", 60_000)
    a, b, listener = processes
    redis.Redis.from_url(settings.REDIS_URL).hset(_order_keys(a)[0], "x", "y")  # the cursor key, as a hash
    failures = a.publish_failures
    await b.group_send_many(GROUP, [_frame(3)])
    await a.group_send_many(GROUP, [_frame(1)])
    assert await listener.hear(2) == [3, 1]  # unordered, not lost: the sockets' gap logic orders them
    assert a.publish_failures == failures


async def test_order_keys_expire():
    a = _layer(settings.REDIS_URL)
    await a.group_send_many(GROUP, [_frame(1)])
    await a.group_send_many(GROUP, [_frame(3)])
    cursor, held = _order_keys(a)
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert 0 < client.ttl(cursor) <= ordering.CURSOR_TTL_S
    assert 0 < client.pttl(held) <= ordering.HELD_TTL_MS
    await await_until(lambda: not client.exists(held))  # released, not left behind


async def _sent(layer, frames: list[dict]) -> None:
    """group_send_many, again while it fails: the first call after a restart finds the connection dropped."""
    while True:
        failures = layer.publish_failures
        await layer.group_send_many(GROUP, frames)
        if layer.publish_failures == failures:
            return


@pytest.fixture
def own_redis():
    server = SpareRedis()
    server.start()
    yield server
    server.stop()


async def test_redis_restarted_empty_does_not_hold_the_next_frames(own_redis, monkeypatch):
    monkeypatch.setattr(ordering, "HOLD_MS", 60_000)
    a, b = _layer(own_redis.url), _layer(own_redis.url)
    listener = await Listener(own_redis.url).start()
    await a.group_send_many(GROUP, [_frame(1)])
    await b.group_send_many(GROUP, [_frame(2)])
    assert await listener.hear(2) == [1, 2]

    own_redis.stop()
    own_redis.start()  # empty: the cursor (2) is gone
    client = redis.Redis.from_url(own_redis.url)
    group_channel = a._get_layer()._get_group_channel_name(GROUP)
    await await_until(lambda: client.pubsub_numsub(group_channel)[0][1] == 1)  # the listener is back
    await _sent(b, [_frame(4)])  # seq 3 of A still in flight
    await _sent(a, [_frame(3), _frame(5)])
    assert await listener.hear(5) == [1, 2, 4, 3, 5]  # no cursor: 4 went out at once, then what came
    await listener.stop()


async def test_redis_down_counts_the_failure_and_resyncs_the_room_later(own_redis):
    a = _layer(own_redis.url)
    await a.group_send_many(GROUP, [_frame(1)])
    own_redis.stop()
    failures = a.publish_failures
    await a.group_send_many(GROUP, [_frame(2)])
    assert a.publish_failures == failures + 1
    group_channel = a._get_layer()._get_group_channel_name(GROUP)
    assert group_channel in a._get_layer()._get_shard(group_channel)._resync_groups


async def test_redis_gone_before_the_release_call_resyncs_the_room_later(own_redis):
    a = _layer(own_redis.url)
    await a.group_send_many(GROUP, [_frame(1)])
    await a.group_send_many(GROUP, [_frame(3)])  # held; its release call is due after the bound
    release = a._get_layer()._releases[GROUP]
    own_redis.stop()
    await release  # it meets the outage and leaves the held frames to the resync
    group_channel = a._get_layer()._get_group_channel_name(GROUP)
    assert group_channel in a._get_layer()._get_shard(group_channel)._resync_groups
