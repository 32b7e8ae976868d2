"""Who is online in a room, per user (not per tab), shared by every server process through Redis.

Each socket is an entry with an expiry in a per-(room, user) sorted set, and a state ("active" or
"away", from the page's visibility and idle time) in a hash beside it; the user stays listed while any
of their sockets is alive, and is "active" while any of them is. One keeper per process refreshes the
entries of all its sockets every HEARTBEAT seconds (one pipelined round trip), so the entries of a
crashed process expire after TTL and are pruned by the next join, leave or heartbeat in the room.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from django.conf import settings
from redis.exceptions import NoScriptError, RedisError, ResponseError

from chatsite.batching import atogether
from redis_toolkit.client import aget_redis, get_redis, redis_key
from redis_toolkit.scripts import LuaScript

# A socket that vanished without a word (its process killed) leaves the list after TTL at most,
# plus the time until the next heartbeat in the room or sweep prunes it: under 60 s by default.
TTL_SECONDS = settings.PRESENCE_TTL_SECONDS
HEARTBEAT_SECONDS = max(1, TTL_SECONDS // 3)

STATES = ("active", "away")
KEEP_BATCH = 1000  # heartbeats per pipeline: one round trip each, none too long for Redis to answer

logger = logging.getLogger(__name__)

# KEYS: users zset, this user's sockets zset, this user's socket states hash, the room's user states hash.
# ARGV: user member, socket id, ttl ms, mode (join/heartbeat/leave/state), state (join/state).
# Returns {changed (0/1), online members, their states}. A user is "active" while any socket is.
_SCRIPT = LuaScript("""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local mode = ARGV[4]
local changed = 0
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
if #expired > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  redis.call('HDEL', KEYS[3], unpack(expired))
end
if mode == 'leave' then
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
  if redis.call('ZCARD', KEYS[2]) == 0 then
    changed = redis.call('ZREM', KEYS[1], ARGV[1])
    redis.call('HDEL', KEYS[4], ARGV[1])
  end
else
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[2])
  if mode ~= 'heartbeat' then redis.call('HSET', KEYS[3], ARGV[2], ARGV[5]) end
  redis.call('PEXPIRE', KEYS[2], ttl * 2)
  redis.call('PEXPIRE', KEYS[3], ttl * 2)
  if redis.call('ZADD', KEYS[1], now + ttl, ARGV[1]) == 1 then changed = 1 end
end
if redis.call('ZCARD', KEYS[2]) > 0 then
  local state = 'away'
  for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if redis.call('HGET', KEYS[3], sid) ~= 'away' then state = 'active' break end  -- no state yet: active
  end
  if redis.call('HGET', KEYS[4], ARGV[1]) ~= state then
    redis.call('HSET', KEYS[4], ARGV[1], state)
    changed = 1
  end
end
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #gone > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  redis.call('HDEL', KEYS[4], unpack(gone))
  changed = 1
end
redis.call('PEXPIRE', KEYS[1], ttl * 2)
redis.call('PEXPIRE', KEYS[4], ttl * 2)
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local states = {}
if #members > 0 then states = redis.call('HMGET', KEYS[4], unpack(members)) end
return {changed, members, states}
""")


def _keys(room_id: int, user_id: int) -> list[str]:
    tag = f"{{room{room_id}}}"  # one hash slot per room, so the script also runs on Redis Cluster
    return [
        redis_key("presence", tag, "users"),
        redis_key("presence", tag, "user", user_id),
        redis_key("presence", tag, "user", user_id, "states"),
        redis_key("presence", tag, "states"),
    ]


def _decode(members: list[bytes], states: list[bytes | None]) -> list[dict]:
    online = []
    for raw, state in zip(members, states, strict=False):
        user_id, _, username = raw.decode().partition(":")
        online.append({"id": int(user_id), "username": username, "state": state.decode() if state else "active"})
    return sorted(online, key=lambda entry: entry["username"].lower())


def _args(mode: str, *, room_id: int, user_id: int, username: str, socket_id: str, state: str = "active") -> list:
    return [f"{user_id}:{username}", socket_id, TTL_SECONDS * 1000, mode, state]


async def _run(mode: str, **who) -> tuple[bool, list[dict]]:
    return await atogether(_arun_many, (mode, who))


async def _arun_many(calls: list[tuple[str, dict]]) -> list:
    """Run the script once per (mode, who) in one pipelined round trip; per call, what join returns or its error."""
    client = aget_redis()
    if len(calls) == 1:  # the lone socket of its turn: a pipeline of one costs more than the command
        (mode, who), reply = calls[0], None
        try:
            reply = await _SCRIPT.acall(client, _keys(who["room_id"], who["user_id"]), _args(mode, **who))
        except ResponseError as exc:
            return [exc]
        return [(bool(reply[0]), _decode(reply[1], reply[2]))]
    replies: list = [None] * len(calls)
    todo = range(len(calls))
    for attempt in (1, 2):
        pipe = client.pipeline(transaction=False)
        for i in todo:
            keys, args = _keys(calls[i][1]["room_id"], calls[i][1]["user_id"]), _args(calls[i][0], **calls[i][1])
            pipe.execute_command("EVALSHA", _SCRIPT.sha, len(keys), *keys, *args)
        for i, reply in zip(todo, await pipe.execute(raise_on_error=False), strict=True):
            replies[i] = reply
        todo = [i for i in todo if isinstance(replies[i], NoScriptError)]
        if not todo or attempt == 2:
            break
        await client.script_load(_SCRIPT.source)  # Redis restarted empty: load it once, then those calls again
    return [r if isinstance(r, Exception) else (bool(r[0]), _decode(r[1], r[2])) for r in replies]


Announce = Callable[[int, list[dict]], Awaitable[None]]


class _Keeper:
    """The heartbeats of every socket of one event loop: one pipelined round trip per KEEP_BATCH sockets
    every HEARTBEAT_SECONDS, instead of a task (and a round trip) per socket."""

    def __init__(self) -> None:
        self.sockets: dict[str, dict] = {}  # socket id -> presence_keep's `who`
        self.announce: dict[str, Announce] = {}
        self.task: asyncio.Task | None = None

    def add(self, who: dict, announce: Announce) -> None:
        self.sockets[who["socket_id"]], self.announce[who["socket_id"]] = who, announce
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.run())

    def discard(self, socket_id: str) -> None:
        self.sockets.pop(socket_id, None)
        self.announce.pop(socket_id, None)

    async def run(self) -> None:
        while self.sockets:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self.beat()
            except RedisError as exc:  # entries live TTL seconds: the next round refreshes them
                logger.warning("presence heartbeats failed for %d sockets: %s", len(self.sockets), exc)
            except Exception:
                logger.exception("presence heartbeats failed")

    async def beat(self) -> None:
        sockets = list(self.sockets.values())
        changed: dict[int, tuple[Announce, list[dict]]] = {}
        for start in range(0, len(sockets), KEEP_BATCH):
            batch = sockets[start : start + KEEP_BATCH]
            for who, (was_changed, online) in zip(batch, await apresence_heartbeats(batch), strict=True):
                if was_changed:  # the room's newest list, announced once per room
                    changed[who["room_id"]] = (self.announce.get(who["socket_id"]), online)
        for room_id, (announce, online) in changed.items():
            if announce is not None:
                await announce(room_id, online)


async def apresence_heartbeats(whos: list[dict]) -> list[tuple[bool, list[dict]]]:
    """Refresh sockets' entries and prune expired ones, in one round trip; per socket, what join returns."""
    results = await _arun_many([("heartbeat", who) for who in whos])
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


_keepers: dict[asyncio.AbstractEventLoop, _Keeper] = {}


def _keeper() -> _Keeper:
    loop = asyncio.get_running_loop()
    if (keeper := _keepers.get(loop)) is None:
        for old in [other for other in _keepers if other.is_closed()]:
            del _keepers[old]
        keeper = _keepers[loop] = _Keeper()
    return keeper


def presence_keep(announce: Announce, **who) -> None:
    """Refresh a socket's entry until presence_forget (room_id, user_id, username, socket_id as for join);
    `announce(room_id, online)` is awaited when a heartbeat changed the room's list (expired entries)."""
    _keeper().add(who, announce)


def presence_forget(socket_id: str) -> None:
    """Stop refreshing a socket's entry (before presence_leave, or when it is gone)."""
    for keeper in _keepers.values():  # one per event loop: a server has one, tests a few
        keeper.discard(socket_id)


async def apresence_join(**who) -> tuple[bool, list[dict]]:
    """Add a socket; returns (list changed, online users). Keyword args: room_id, user_id, username, socket_id.
    Joins, leaves and state changes of sockets in the same turn of the loop share one round trip."""
    return await _run("join", **who)


async def apresence_leave(**who) -> tuple[bool, list[dict]]:
    """Remove a socket; the user leaves the list with their last socket."""
    return await _run("leave", **who)


async def apresence_set_state(*, state: str, **who) -> tuple[bool, list[dict]]:
    """Mark a socket "active" or "away" (page visibility, idle time); same result as join."""
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}")
    return await _run("state", state=state, **who)


def presence_sweep() -> dict[int, list[dict]]:
    """Prune expired users of every room; returns {room_id: online} for rooms whose list changed.

    Run periodically by one worker, so a crashed process's users leave even a room nobody else
    is refreshing.
    """
    client = get_redis()
    changed: dict[int, list[dict]] = {}
    pattern = redis_key("presence", "{room*}", "users")
    for key in client.scan_iter(match=pattern, count=500):
        tag = key.decode().rsplit(":", 2)[-2]  # "{room42}"
        seconds, micros = client.time()
        now_ms = seconds * 1000 + micros // 1000
        gone = client.zrangebyscore(key, "-inf", now_ms)
        if not gone:
            continue
        states_key = redis_key("presence", tag, "states")
        pipe = client.pipeline()
        pipe.zremrangebyscore(key, "-inf", now_ms)
        pipe.hdel(states_key, *gone)
        pipe.zrange(key, 0, -1)
        removed, _, members = pipe.execute()
        states = client.hmget(states_key, members) if members else []
        if removed:
            changed[int(tag.strip("{}").removeprefix("room"))] = _decode(members, states)
    return changed
