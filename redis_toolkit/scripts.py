"""The one way to run a Lua script: defined once beside its caller, EVALSHA with a NOSCRIPT fallback, sync or async."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from redis.exceptions import NoScriptError


class LuaScript:
    """`SCRIPT = LuaScript(source)` at module level; `SCRIPT(client, keys, args)` or `await SCRIPT.acall(...)`.

    EVALSHA goes out straight away (redis-py's Script adds a type check and an import per call). On
    NOSCRIPT (a restarted or another server) EVAL runs it, which also puts it in that server's cache.
    Both forms build the same command; they differ only in how they send it.
    """

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
