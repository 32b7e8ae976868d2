"""TEMP stand-in for the locks branch: fencing tokens checked in Redis, not in the DB; dropped at merge."""

from __future__ import annotations

from chatsite.redis_toolkit.connections import get_redis
from chatsite.redis_toolkit.keys import redis_key

_ADVANCE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) < current then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""


class StaleFencingToken(Exception):
    """A newer lock holder has already acted; the caller must stop."""


def fence_advance(name: str, token: int) -> None:
    """Record `token` as the newest seen for `name`, or raise StaleFencingToken if a newer one was."""
    if not get_redis("locks").register_script(_ADVANCE)(keys=[redis_key("fence", name)], args=[token]):
        raise StaleFencingToken(f"fencing token {token} for {name!r} is older than one already used")
