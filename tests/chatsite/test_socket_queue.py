"""The layer's per-socket queue keeps asyncio.Queue's behaviour that consumers rely on."""

import asyncio

import pytest

from chatsite.layer import SocketQueue


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
