"""The one way to run a Lua script (EVALSHA, EVAL on NOSCRIPT), and the drivers of sync/async step generators."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Generator, Sequence
from typing import Any

from redis.exceptions import NoScriptError


class LuaScript:
    """`SCRIPT = LuaScript(source)` at module level; `SCRIPT(client, keys, args)` or `await SCRIPT.acall(...)`.
    EVALSHA straight away (redis-py's Script type-checks per call); EVAL on NOSCRIPT, which caches it there."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def _command(self, keys: Sequence[str], args: Sequence, *, by_sha: bool = True) -> tuple:
        return ("EVALSHA" if by_sha else "EVAL", self.sha if by_sha else self.source, len(keys), *keys, *args)

    def __call__(self, client, keys: Sequence[str], args: Sequence = ()):
        try:
            return client.execute_command(*self._command(keys, args))
        except NoScriptError:
            return client.execute_command(*self._command(keys, args, by_sha=False))

    async def acall(self, client, keys: Sequence[str], args: Sequence = ()):
        try:
            return await client.execute_command(*self._command(keys, args))
        except NoScriptError:
            return await client.execute_command(*self._command(keys, args, by_sha=False))

    def queue(self, pipe, keys: Sequence[str], args: Sequence = ()) -> None:
        """Add a call to a pipeline, by source: a pipeline cannot retry one NOSCRIPT command alone."""
        pipe.execute_command(*self._command(keys, args, by_sha=False))


# Logic that talks to Redis is written once, as a generator of steps: (script, keys, args) to run a script, or
# (SLEEP, seconds, ()) to wait. drive runs them with a sync client, adrive with an asyncio one; each reply, or
# each `errors` exception, goes back in.
SLEEP = "sleep"
Steps = Generator[tuple[LuaScript | str, Any, Sequence], Any, Any]


def drive(steps: Steps, client, errors: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
    reply = error = None
    while True:
        try:
            what, first, rest = steps.send(reply) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value
        try:
            reply = time.sleep(first) if what is SLEEP else what(client, first, rest)
            error = None
        except errors as exc:
            reply, error = None, exc


async def adrive(steps: Steps, client, errors: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
    reply = error = None
    while True:
        try:
            what, first, rest = steps.send(reply) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value
        try:
            reply = await (asyncio.sleep(first) if what is SLEEP else what.acall(client, first, rest))
            error = None
        except errors as exc:
            reply, error = None, exc
