"""Who is online in a room, per user (not per tab), shared by every server process through Redis.

Each socket is an entry with an expiry in a per-(room, user) sorted set; the user stays listed while
any of their sockets is alive. Sockets refresh their entry every HEARTBEAT seconds, so the entries of
a crashed process expire after TTL and are pruned by the next join, leave or heartbeat in the room.
"""

from __future__ import annotations

from django.conf import settings

from redis_toolkit.connections import aget_redis
from redis_toolkit.keys import redis_key

# A socket that vanished without a word (its process killed) leaves the list after TTL at most,
# plus the time until the next heartbeat in the room or sweep prunes it: under 60 s by default.
TTL_SECONDS = settings.PRESENCE_TTL_SECONDS
HEARTBEAT_SECONDS = max(1, TTL_SECONDS // 3)

# KEYS: users zset, this user's sockets zset. ARGV: user member, socket id, ttl ms, mode.
# Returns {changed (0/1), online members}.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local changed = 0
if ARGV[4] == 'leave' then
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) == 0 then
    changed = redis.call('ZREM', KEYS[1], ARGV[1])
  end
else
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  redis.call('PEXPIRE', KEYS[2], ttl * 2)
  if redis.call('ZADD', KEYS[1], now + ttl, ARGV[1]) == 1 then changed = 1 end
end
if redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) > 0 then changed = 1 end
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return {changed, redis.call('ZRANGE', KEYS[1], 0, -1)}
"""


def _keys(room_id: int, user_id: int) -> list[str]:
    tag = f"{{room{room_id}}}"  # one hash slot per room, so the script also runs on Redis Cluster
    return [redis_key("presence", tag, "users"), redis_key("presence", tag, "user", user_id)]


def _decode(members: list[bytes]) -> list[dict]:
    online = []
    for raw in members:
        user_id, _, username = raw.decode().partition(":")
        online.append({"id": int(user_id), "username": username})
    return sorted(online, key=lambda entry: entry["username"].lower())


async def _run(mode: str, *, room_id: int, user_id: int, username: str, socket_id: str) -> tuple[bool, list[dict]]:
    script = aget_redis().register_script(_SCRIPT)  # no round trip: EVALSHA, loading the script on first miss
    args = [f"{user_id}:{username}", socket_id, TTL_SECONDS * 1000, mode]
    changed, members = await script(keys=_keys(room_id, user_id), args=args)
    return bool(changed), _decode(members)


async def apresence_join(**who) -> tuple[bool, list[dict]]:
    """Add a socket; returns (list changed, online users). Keyword args: room_id, user_id, username, socket_id."""
    return await _run("join", **who)


async def apresence_heartbeat(**who) -> tuple[bool, list[dict]]:
    """Refresh a socket's entry and prune expired ones; same arguments and result as join."""
    return await _run("heartbeat", **who)


async def apresence_leave(**who) -> tuple[bool, list[dict]]:
    """Remove a socket; the user leaves the list with their last socket."""
    return await _run("leave", **who)


def presence_sweep() -> dict[int, list[dict]]:
    """Prune expired users of every room; returns {room_id: online} for rooms whose list changed.

    Run periodically by one worker, so a crashed process's users leave even a room nobody else
    is refreshing.
    """
    from redis_toolkit.connections import get_redis

    client = get_redis()
    changed: dict[int, list[dict]] = {}
    pattern = redis_key("presence", "{room*}", "users")
    for key in client.scan_iter(match=pattern, count=500):
        tag = key.decode().rsplit(":", 2)[-2]  # "{room42}"
        seconds, micros = client.time()
        now_ms = seconds * 1000 + micros // 1000
        pipe = client.pipeline()
        pipe.zremrangebyscore(key, "-inf", now_ms)
        pipe.zrange(key, 0, -1)
        removed, members = pipe.execute()
        if removed:
            changed[int(tag.strip("{}").removeprefix("room"))] = _decode(members)
    return changed
