"""The frames waiting for one socket, from the channel layer or from the client (uvicorn, chatsite.serve)."""

from __future__ import annotations

import asyncio


class SocketQueue:
    """The frames waiting for one socket: what the layer and uvicorn use of asyncio.Queue, in a tenth of its memory.

    An asyncio.Queue is about 3.3 KB (three deques and an Event) and every socket had two; this is a
    list and, while a receive waits, a future. Unbounded like the queues it replaces: the layer's
    deliver() bounds its own, and uvicorn stops reading a client whose frame is still queued.
    """

    __slots__ = ("items", "waiters")

    def __init__(self) -> None:
        self.items: list = []
        self.waiters: list[asyncio.Future] | None = None

    def qsize(self) -> int:
        return len(self.items)

    def empty(self) -> bool:
        return not self.items

    def put_nowait(self, item) -> None:
        self.items.append(item)
        self._wake()

    def get_nowait(self):
        if not self.items:
            raise asyncio.QueueEmpty
        return self.items.pop(0)

    async def get(self):
        while not self.items:
            waiter = asyncio.get_running_loop().create_future()
            self.waiters = [*(self.waiters or ()), waiter]
            try:
                await waiter
            except BaseException:
                if self.items and not waiter.cancelled():
                    self._wake()  # woken, then cancelled: another receive takes the item
                raise
            finally:
                self.waiters = [w for w in self.waiters if w is not waiter] or None
        return self.items.pop(0)

    def _wake(self) -> None:
        for waiter in self.waiters or ():
            if not waiter.done():
                waiter.set_result(None)
                return


async def await_any(*queues: SocketQueue) -> None:
    """Wait until one of the queues holds an item: one future in all their waiters, no task per queue."""
    if any(queue.items for queue in queues):
        return
    waiter = asyncio.get_running_loop().create_future()
    for queue in queues:
        queue.waiters = [*(queue.waiters or ()), waiter]
    try:
        await waiter
    finally:
        for queue in queues:
            queue.waiters = [w for w in queue.waiters or () if w is not waiter] or None
