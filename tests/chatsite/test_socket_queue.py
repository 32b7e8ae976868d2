"""The per-socket queue keeps asyncio.Queue's behaviour that consumers rely on; one wait serves two queues."""

import asyncio

import pytest

from chatsite.socket_queue import SocketQueue, await_any


async def test_frames_come_out_in_order_and_a_waiting_receive_gets_the_next_one():
    queue = SocketQueue()
    queue.put_nowait("a")
    queue.put_nowait("b")
    assert (queue.qsize(), await queue.get(), queue.get_nowait()) == (2, "a", "b")
    assert queue.empty()
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()

    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("c")
    assert await waiting == "c"
    assert queue.waiters is None  # nothing is kept per socket while no receive waits


async def test_a_receive_cancelled_after_being_woken_leaves_the_frame_to_the_next_one():
    queue = SocketQueue()
    first, second = asyncio.ensure_future(queue.get()), asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("frame")
    first.cancel()

    assert await second == "frame"
    assert first.cancelled()


async def test_one_wait_on_two_queues_ends_with_an_item_in_either_and_leaves_no_waiter():
    client, layer = SocketQueue(), SocketQueue()
    waiting = asyncio.ensure_future(await_any(client, layer))
    await asyncio.sleep(0)
    assert len(layer.waiters) == 1  # one future in both
    assert client.waiters == layer.waiters
    layer.put_nowait("event")
    await waiting
    assert (client.waiters, layer.waiters, layer.get_nowait()) == (None, None, "event")

    client.put_nowait("frame")
    await await_any(client, layer)  # an item already there: no wait at all
    assert client.waiters is None


async def test_a_cancelled_wait_on_two_queues_leaves_no_waiter_behind():
    client, layer = SocketQueue(), SocketQueue()
    waiting = asyncio.ensure_future(await_any(client, layer))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    client.put_nowait("frame")
    assert (client.waiters, layer.waiters, client.get_nowait()) == (None, None, "frame")
