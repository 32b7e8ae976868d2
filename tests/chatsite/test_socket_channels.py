"""A socket's channel is a queue behind its process's one Redis subscription, and a send by name still reaches it."""

from __future__ import annotations

import asyncio

import pytest
from django.conf import settings

from chatsite.layer import ResilientPubSubChannelLayer


def _layer() -> ResilientPubSubChannelLayer:
    return ResilientPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix=f"{settings.REDIS_KEY_PREFIX}sockets-test")


async def test_many_sockets_of_a_process_hold_one_subscription_between_them(redis_client):
    layer = _layer()
    try:
        channels = [await layer.new_channel() for _ in range(20)]
        subscribed = redis_client.pubsub_channels(f"{settings.REDIS_KEY_PREFIX}sockets-test*")
        assert len(subscribed) == 1
        process_channel = subscribed[0].decode()
        assert all(channel.startswith(f"{process_channel}!") for channel in channels)
    finally:
        await layer.flush()


async def test_a_send_to_a_socket_channel_from_another_process_reaches_that_socket_alone():
    here, there = _layer(), _layer()  # two processes: their own connections and subscriptions
    try:
        mine, other = await here.new_channel(), await here.new_channel()
        await there.send(mine, {"type": "session.check", "n": 1})
        assert await asyncio.wait_for(here.receive(mine), 5) == {"type": "session.check", "n": 1}
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(here.receive(other), 0.3)
    finally:
        await here.flush()
        await there.flush()


async def test_a_closed_socket_channel_leaves_the_process_subscription_in_place(redis_client):
    layer = _layer()
    try:
        first, second = await layer.new_channel(), await layer.new_channel()
        await layer.release(first)
        await layer.send(second, {"type": "x"})  # the process still hears sends for its other sockets
        assert await asyncio.wait_for(layer.receive(second), 5) == {"type": "x"}
        assert len(redis_client.pubsub_channels(f"{settings.REDIS_KEY_PREFIX}sockets-test*")) == 1
    finally:
        await layer.flush()
