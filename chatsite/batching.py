"""Redis calls of one event loop's sockets sent together once per turn of the loop: one round trip for a burst."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

RunMany = Callable[[list], Awaitable[list]]  # items -> a result or an exception per item, in order

_pending: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[RunMany, list]] = weakref.WeakKeyDictionary()
_running: set[asyncio.Task] = set()


async def atogether(run_many: RunMany, item: Any) -> Any:
    """`(await run_many([item]))[0]`, raised when it is an exception; every call with the same `run_many` in this
    turn of the loop shares one call of it (sockets woken by one reply, or one read, reach here in the same turn)."""
    loop = asyncio.get_running_loop()
    per_loop = _pending.setdefault(loop, {})
    if (batch := per_loop.get(run_many)) is not None:  # the first caller of this turn takes this one along
        batch.append((item, future := loop.create_future()))
        return await future
    batch = per_loop[run_many] = [(item, None)]
    try:
        await asyncio.sleep(0)  # every caller ready in this turn of the loop runs now and adds its own
    finally:
        del per_loop[run_many]
        if len(batch) > 1:
            # A task of its own: a caller cancelled (its socket gone) does not take the others' round trip with it.
            batch[0] = (item, future := loop.create_future())
            task = loop.create_task(_run(run_many, batch))
            _running.add(task)
            task.add_done_callback(_running.discard)
    if len(batch) > 1:
        return await future
    (result,) = await run_many([item])  # alone in its turn: no task, no future
    if isinstance(result, BaseException):
        raise result
    return result


async def _run(run_many: RunMany, batch: list) -> None:
    try:
        try:
            results = await run_many([item for item, _ in batch])
        except Exception as exc:  # the round trip itself failed: every caller gets the error
            results = [exc] * len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
    finally:
        for _, future in batch:  # cancelled itself (the loop is closing): so are its callers
            future.cancel()
