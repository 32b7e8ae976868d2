"""A group's seq-numbered frames published in seq order across processes, with Redis as the reorder point.

Two processes commit a room's seqs in order (the room's row lock) but publish them after commit, each
when its event loop gets to it: B's seq 6 often reaches Redis before A's seq 5, and every member socket
then sees a gap it waits for and fills from the database. The script below keeps, per group, the last
seq it published (the cursor) and holds a frame that comes early until the ones before it come; frames
held longer than HOLD_MS (their predecessor's process died between commit and publish, or lost it) go
out anyway, in seq order, and the sockets fill the gap from the database as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from redis_toolkit.scripts import LuaScript

HOLD_MS = 50  # how long a frame waits in Redis for the seqs before it
HELD_TTL_MS = 10_000  # held frames nobody releases (every process of the room gone) expire
CURSOR_TTL_S = 600  # a room quiet this long starts afresh: its next frame goes out at once
MAX_SEQ = 2**53  # seqs the script's numbers (doubles) hold exactly; others are published unordered

# KEYS: cursor (last seq published), held (hash: seq -> msgpack list of frames; "t": when the oldest
# was held, Redis's own clock so that processes' clocks do not matter).
# ARGV: channel, hold ms, held ttl ms, cursor ttl s, then per message: seq, n, its n frames (a message's
# frame and those that follow it, e.g. its thread's reply count). seq 0: no seq, published as it comes.
# Returns {frames this call held, ms until held frames are due for release (-1: none held)}.
ORDER = LuaScript("""
local cursor_key, held_key, channel = KEYS[1], KEYS[2], ARGV[1]
local hold, held_ttl, cursor_ttl = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local cursor = tonumber(redis.call('GET', cursor_key))
local holding = redis.call('EXISTS', held_key) == 1  -- most calls: nothing held, nothing to look up
local held_here, now = 0, nil

local function clock()
  if now == nil then
    local time = redis.call('TIME')
    now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  end
  return now
end

local function publish(frames)
  for _, frame in ipairs(frames) do redis.call('PUBLISH', channel, frame) end
end

local function follow()  -- what waited for the cursor goes out behind it
  while holding do
    local next_seq = string.format('%d', cursor + 1)
    local packed = redis.call('HGET', held_key, next_seq)
    if not packed then return end
    redis.call('HDEL', held_key, next_seq)
    cursor = cursor + 1
    publish(cmsgpack.unpack(packed))
  end
end

local i = 5
while i <= #ARGV do
  local seq, n = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local frames = {}
  for j = 1, n do frames[j] = ARGV[i + 1 + j] end
  if seq < 1 or (cursor ~= nil and seq <= cursor) then
    publish(frames)  -- unordered, a duplicate or late: sockets drop what they already sent
  elseif cursor == nil or seq == cursor + 1 then  -- no cursor: first use, or Redis lost it
    cursor = seq
    publish(frames)
    follow()
  else
    redis.call('HSET', held_key, ARGV[i], cmsgpack.pack(frames))
    redis.call('HSETNX', held_key, 't', clock())
    redis.call('PEXPIRE', held_key, held_ttl)
    held_here, holding = held_here + #frames, true
  end
  i = i + 2 + n
end

local due, since = -1, nil
if holding then since = tonumber(redis.call('HGET', held_key, 't')) end
if since ~= nil and redis.call('HLEN', held_key) == 1 then
  redis.call('DEL', held_key)
elseif since ~= nil and clock() - since >= hold then
  -- Waited long enough: the missing ones are not coming soon. Release everything in seq order.
  local all, seqs, packs = redis.call('HGETALL', held_key), {}, {}
  for j = 1, #all, 2 do
    local seq = tonumber(all[j])
    if all[j] ~= 't' and seq ~= nil then
      seqs[#seqs + 1] = seq
      packs[seq] = all[j + 1]
    end
  end
  table.sort(seqs)
  for _, seq in ipairs(seqs) do
    publish(cmsgpack.unpack(packs[seq]))
    if cursor == nil or seq > cursor then cursor = seq end
  end
  redis.call('DEL', held_key)
elseif since ~= nil then
  due = since + hold - clock()
end
if cursor ~= nil then
  redis.call('SET', cursor_key, string.format('%d', cursor), 'EX', cursor_ttl)
end
return {held_here, due}
""")


def order_keys(group_channel: str) -> list[str]:
    """The script's keys for one group, beside its channel name (so under the layer's prefix, on its shard)."""
    return [f"{group_channel}:cursor", f"{group_channel}:held"]


def event_seq(event: dict) -> int | None:
    """The seq a group event is ordered by (a message.new's), or None."""
    seq = event.get("seq")
    return seq if type(seq) is int and 0 < seq < MAX_SEQ else None


def order_args(channel: str, events: Sequence[dict], serialize: Callable[[dict], bytes]) -> list:
    """ARGV for ORDER: each event with a seq, with the events without one that follow it."""
    messages: list[tuple[int, list[bytes]]] = []
    for event in events:
        seq = event_seq(event)
        if seq is None and messages:
            messages[-1][1].append(serialize(event))
        else:
            messages.append((seq or 0, [serialize(event)]))
    args: list = [channel, HOLD_MS, HELD_TTL_MS, CURSOR_TTL_S]
    for seq, frames in messages:
        args += [seq, len(frames), *frames]
    return args
