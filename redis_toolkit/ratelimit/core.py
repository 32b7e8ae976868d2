"""Exact sliding-window rate limits: one Lua call per check, Redis's clock, a failure policy per rule."""

from __future__ import annotations

import hashlib
import math
from typing import NamedTuple

from redis.exceptions import ReadOnlyError

from redis_toolkit.client import UNREACHABLE, aget_redis, get_redis, redis_key, redis_outage
from redis_toolkit.ratelimit.rules import Rule, RuleSpec, get_rule, known_rules
from redis_toolkit.scripts import LuaScript, Steps, adrive, drive

PURPOSE = "ratelimit"
# While Redis is down, checks go to it at most once per this many seconds per process; the others
# apply the rule's failure policy at once instead of each waiting out connect retries.
PROBE_SECONDS = 1.0
# Unreachable, timed out or a read-only replica after a failover: what a failure policy is for.
# Other errors (a bad script, wrong arguments) are bugs and propagate.
REDIS_DOWN = (*UNREACHABLE, ReadOnlyError)
AFTER_FAILURE = "fail-open rate limits allow everything and fail-closed ones refuse until it answers"
MAX_KEY_LENGTH = 120

# KEYS[1]: the log, a list of Redis TIME stamps in microseconds, newest first, one per request allowed.
# KEYS[2]: the hash of refusals per rule. ARGV: 1 to count the request (0 only looks), rule name, then
# limit/period pairs (period in microseconds), shortest period first. A window allows one more request when
# fewer than `limit` of its stamps are younger than its period; every window must allow, or nothing is counted.
# Returns "retry_after head-now remaining next ...": retry_after (0 when allowed), the newest stamp
# minus now, then per window the requests remaining and when its oldest counted stamp leaves it (µs).
SLIDING_LOG = LuaScript("""
local clock = redis.call('TIME')
local now = clock[1] * 1000000 + clock[2]
local key, cost, windows = KEYS[1], tonumber(ARGV[1]), (#ARGV - 2) / 2
local length = redis.call('LLEN', key)
local head = length > 0 and tonumber(redis.call('LINDEX', key, 0)) or 0

-- Windows come shortest first; count the longest first, as no shorter one counts more.
local used, oldest, retry, keep, bound = {}, {}, 0, 0, length
for i = windows, 1, -1 do
  local limit, period = tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])
  local floor, upto = now - period, math.min(bound, limit)
  local count, last = 0, 0
  if upto > 0 and head > floor then
    -- How many of the newest `upto` stamps are younger than `floor` (index 0, the head, is), and
    -- the oldest of those. Usually all are: each push drops the stamps no window counts.
    last = upto == 1 and head or tonumber(redis.call('LINDEX', key, upto - 1))
    if last > floor then
      count = upto
    else
      -- The few stale ones sit at the old end: step back 1, 2, 4... from there, then bisect.
      local lo, hi, step = 0, upto - 1, 1
      last = head
      while hi - step > lo do
        local value = tonumber(redis.call('LINDEX', key, hi - step))
        if value > floor then lo, last = hi - step, value; break end
        hi, step = hi - step, step * 2
      end
      while hi - lo > 1 do
        local mid = math.floor((lo + hi) / 2)
        local value = tonumber(redis.call('LINDEX', key, mid))
        if value > floor then lo, last = mid, value else hi = mid end
      end
      count = lo + 1
    end
  end
  used[i], oldest[i], bound = count, last, count
  if count + cost > limit then
    -- The window is full: one more fits once its oldest counted stamp leaves it.
    retry = math.max(retry, last + period - now)
  end
  keep = math.max(keep, count + cost)
end

if retry > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
elseif cost > 0 then
  -- A clock stepping back must not break the newest-first order the counts rely on.
  local stamp = math.max(now, head)
  redis.call('LPUSH', key, stamp)
  if length + 1 > keep then
    redis.call('LTRIM', key, 0, keep - 1)  -- drop the stamps no window counts any more
  end
  -- Expiry runs on Redis's millisecond clock of the script's start, a little before TIME:
  -- a second to spare so the key never vanishes while a stamp still counts.
  redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[2 * windows + 2]) / 1000) + 1000)
  for i = 1, windows do
    if used[i] == 0 then oldest[i] = stamp end
    used[i] = used[i] + 1
  end
  head, length = stamp, 1
end

-- One bulk string: far cheaper for the client to parse than an array.
local reply = string.format('%d %d', retry, length > 0 and head - now or 0)
for i = 1, windows do
  local limit, period = tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])
  reply = reply .. string.format(' %d %d', limit - used[i], used[i] > 0 and oldest[i] + period - now or 0)
end
return reply
""")


class RateLimitUnavailable(Exception):
    """Redis is unreachable and the rule fails closed: refuse the action."""

    def __init__(self, rule: str, retry_after: float = PROBE_SECONDS):
        super().__init__(f"rate limit {rule!r} cannot be checked: Redis is unreachable")
        self.rule, self.retry_after = rule, retry_after


class WindowState(NamedTuple):
    """One window of a rule after a check; times are seconds from now."""

    limit: int
    period: float
    remaining: int
    reset: float  # until the whole limit is available again
    next_unit: float  # until at least one more unit is available (0 when nothing is used)


class RateLimitResult(NamedTuple):
    """Outcome of a check; `remaining` is the fewest units any window has left."""

    allowed: bool
    remaining: int
    retry_after: float  # seconds until the same request would be allowed (0 when allowed)
    rule: str
    degraded: bool = False  # Redis was unreachable and the rule fails open: nothing was counted
    windows: tuple[WindowState, ...] = ()  # every window of the rule, shortest period first (none if degraded)


def log_key(rule: str, key: str) -> str:
    """The Redis key of one rule's log for one key; long keys (user input) are hashed."""
    if len(key) > MAX_KEY_LENGTH:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return redis_key("ratelimit", "log", rule, key)


def hits_key() -> str:
    return redis_key("ratelimit", "hits")


def _result(rule: Rule, raw: bytes) -> RateLimitResult:
    """From the script's reply: retry_after, newest stamp - now, then per window remaining and next unit (µs)."""
    redis_outage.recovered()
    retry, head, *numbers = map(int, raw.split())
    windows = tuple(
        WindowState(w.limit, w.period, left, (head + w.micros) / 1e6 if left < w.limit else 0.0, next_unit / 1e6)
        for w, left, next_unit in zip(rule.windows, numbers[::2], numbers[1::2], strict=True)
    )
    return RateLimitResult(retry == 0, min(w.remaining for w in windows), retry / 1e6, rule.name, False, windows)


def _unavailable(rule: Rule, exc: BaseException | None = None) -> RateLimitResult:
    if exc is not None:
        redis_outage.failed(exc, then=AFTER_FAILURE)
    if not rule.fail_open:
        raise RateLimitUnavailable(rule.name)
    return RateLimitResult(True, rule.windows[0].limit, 0.0, rule.name, degraded=True)


def rate_limiting(rule: RuleSpec, key: str, *, count: bool = True) -> Steps:
    """The steps of a check (count=False only looks), for rate_limit, arate_limit and the view guard."""
    spec = get_rule(rule)
    if key.__class__ is not str or not key:
        raise ValueError(f"key={key!r}: give a non-empty string such as a user id or 'ip:203.0.113.9'.")
    if redis_outage.down_since is not None and redis_outage.recently_failed(PROBE_SECONDS):
        return _unavailable(spec)  # Redis just failed: apply the failure policy without asking
    try:
        reply = yield SLIDING_LOG, (log_key(spec.name, key), hits_key()), (int(count), *spec.script_args)
        return _result(spec, reply)
    except REDIS_DOWN as exc:
        return _unavailable(spec, exc)


def rate_limit(rule: RuleSpec, key: str) -> RateLimitResult:
    """Count a request of `key` under `rule` if every window allows it, in one round trip;
    RateLimitUnavailable when Redis is unreachable and the rule fails closed."""
    return drive(rate_limiting(rule, key), get_redis(PURPOSE), REDIS_DOWN)


async def arate_limit(rule: RuleSpec, key: str) -> RateLimitResult:
    """Async twin of rate_limit."""
    return await adrive(rate_limiting(rule, key), aget_redis(PURPOSE), REDIS_DOWN)


def rate_limit_reset(rule: RuleSpec, key: str) -> bool:
    """Forget everything counted for `key` under `rule` (an operator unlocking someone); True if it had any."""
    return bool(get_redis(PURPOSE).delete(log_key(get_rule(rule).name, key)))


def rate_limit_hits() -> dict[str, int]:
    """How often each rule refused a request, since Redis last lost its data."""
    raw = get_redis(PURPOSE, decode_responses=True).hgetall(hits_key())
    return {rule: int(count) for rule, count in raw.items()}


def rate_limit_rules() -> list[tuple[Rule, int]]:
    """Every rule of RATE_LIMITS with its refusal count (the operator's overview: command and admin page)."""
    hits = rate_limit_hits()
    return [(rule, hits.get(rule.name, 0)) for rule in known_rules()]


def rate_limit_status(rule: str, key: str) -> tuple[WindowState, ...]:
    """What `key` has used of each window of `rule`, counting nothing; RateLimitUnavailable if Redis is down."""
    result = drive(rate_limiting(rule, key, count=False), get_redis(PURPOSE), REDIS_DOWN)
    if result.degraded:
        raise RateLimitUnavailable(result.rule)
    return result.windows


def seconds(value: float) -> int:
    """Whole seconds for headers and messages: rounded up, so a client never retries too early."""
    return max(0, math.ceil(value - 1e-6))
