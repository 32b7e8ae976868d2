"""Exact sliding-window rate limits: one Lua call per check, Redis's clock, a failure policy per rule."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from redis.commands.core import AsyncScript, Script
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatsite.redis_toolkit.connections import aget_redis, get_redis
from chatsite.redis_toolkit.keys import redis_key
from chatsite.redis_toolkit.ratelimit_rules import Rule, Window, get_rule

logger = logging.getLogger(__name__)

PURPOSE = "ratelimit"
# While Redis is down, checks go to it at most once per this many seconds per process; the others
# apply the rule's failure policy at once instead of each waiting out connect retries.
PROBE_SECONDS = 1.0
# Unreachable, timed out or a read-only replica after a failover: what a failure policy is for.
# Other errors (a bad script, wrong arguments) are bugs and propagate.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ReadOnlyError)
MAX_KEY_LENGTH = 120

# KEYS[1]: the log, a list of Redis TIME stamps in microseconds, newest first, one per unit allowed,
# trimmed to the largest limit. KEYS[2]: the hash of denied counts per rule. ARGV: cost, rule name,
# then limit/period pairs (period in microseconds). A window of (limit, period) allows `cost` more
# when the stamp at index limit - cost (the oldest that would stay) is older than the period.
# Returns allowed (0/1), retry_after, then per window: remaining, until the whole limit is back,
# until the next unit is back (all times in microseconds).
SLIDING_LOG = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local cost = tonumber(ARGV[1])
local windows = (#ARGV - 2) / 2
local retry, maxlimit, maxperiod = 0, 0, 0
for i = 1, windows do
  local limit, period = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  if limit > maxlimit then maxlimit = limit end
  if period > maxperiod then maxperiod = period end
  if cost > 0 then
    local stamp = redis.call('LINDEX', KEYS[1], limit - cost)
    if stamp then
      local wait = tonumber(stamp) + period - now
      if wait > retry then retry = wait end
    end
  end
end
local allowed = retry <= 0
if allowed and cost > 0 then
  -- A clock stepping back must not break the newest-first order the checks rely on.
  local stamp = math.max(now, tonumber(redis.call('LINDEX', KEYS[1], 0) or 0))
  local stamps = {}
  for i = 1, cost do stamps[i] = stamp end
  redis.call('LPUSH', KEYS[1], unpack(stamps))
  redis.call('LTRIM', KEYS[1], 0, maxlimit - 1)
  redis.call('PEXPIRE', KEYS[1], math.ceil(maxperiod / 1000))
elseif not allowed then
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  redis.call('HSET', KEYS[2], ARGV[2] .. ':last', clock[1])
end
local out = {allowed and 1 or 0, math.max(retry, 0)}
local length = redis.call('LLEN', KEYS[1])
for i = 1, windows do
  local limit, period = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local floor = now - period
  -- Binary search for how many of the newest `limit` stamps are still inside the window.
  local lo, hi = 0, math.min(length, limit)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if tonumber(redis.call('LINDEX', KEYS[1], mid)) > floor then lo = mid + 1 else hi = mid end
  end
  local full, more = 0, 0
  if lo > 0 then
    full = tonumber(redis.call('LINDEX', KEYS[1], 0)) + period - now
    more = tonumber(redis.call('LINDEX', KEYS[1], lo - 1)) + period - now
  end
  out[#out + 1] = limit - lo
  out[#out + 1] = full
  out[#out + 1] = more
end
return out
"""


class RateLimitUnavailable(Exception):
    """Redis is unreachable and the rule fails closed: refuse the action."""

    def __init__(self, rule: str, retry_after: float = PROBE_SECONDS):
        super().__init__(f"rate limit {rule!r} cannot be checked: Redis is unreachable")
        self.rule, self.retry_after = rule, retry_after


@dataclass(frozen=True)
class WindowState:
    """One window of a rule after a check; times are seconds from now."""

    limit: int
    period: float
    remaining: int
    reset: float  # until the whole limit is available again
    next_unit: float  # until at least one more unit is available (0 when nothing is used)


@dataclass(frozen=True)
class RateLimitResult:
    """Outcome of a check. `limit`, `remaining`, `reset` and `period` describe the tightest window."""

    allowed: bool
    remaining: int
    retry_after: float  # seconds until the same request would be allowed (0 when allowed)
    reset: float  # seconds until the tightest window's whole limit is available again
    limit: int
    rule: str
    period: float = 0.0
    windows: tuple[WindowState, ...] = ()
    degraded: bool = False  # Redis was unreachable and the rule fails open: nothing was counted


class _Outage:
    """Per Redis URL: log once when checks start failing and once when they work again."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.down_since: float | None = None
        self.probe_at = 0.0
        self.lock = threading.Lock()

    def skip(self) -> bool:
        return self.down_since is not None and time.monotonic() < self.probe_at

    def failed(self, exc: Exception) -> None:
        with self.lock:
            now = time.monotonic()
            self.probe_at = now + PROBE_SECONDS
            if self.down_since is None:
                self.down_since = now
                logger.error(
                    "rate limits unavailable: Redis at %s is unreachable (%s); "
                    "fail-open rules allow everything, fail-closed rules refuse until it is back",
                    self.url,
                    exc,
                )

    def recovered(self) -> None:
        if self.down_since is None:
            return
        with self.lock:
            if self.down_since is not None:
                logger.warning("rate limits available again after %.1fs", time.monotonic() - self.down_since)
                self.down_since = None


_outages: dict[str, _Outage] = {}
_scripts: dict[str, Script | AsyncScript] = {}


def _outage() -> _Outage:
    url = settings.REDIS_URL
    outage = _outages.get(url)
    if outage is None:
        outage = _outages.setdefault(url, _Outage(url))
    return outage


def log_key(rule: str, key: str) -> str:
    """The Redis key of one rule's log for one key; long keys (user input) are hashed."""
    if len(key) > MAX_KEY_LENGTH:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return redis_key("ratelimit", "log", rule, key)


def hits_key() -> str:
    return redis_key("ratelimit", "hits")


def _script_input(rule: Rule, key: str, cost: int) -> tuple[list[str], list]:
    if not isinstance(key, str) or not key:
        raise ValueError(f"key={key!r}: give a non-empty string such as a user id or 'ip:203.0.113.9'.")
    if not isinstance(cost, int) or cost < 0:
        raise ValueError(f"cost={cost!r}: give a whole number of units, 0 (only look) or more.")
    smallest = min(window.limit for window in rule.windows)
    if cost > smallest:
        raise ValueError(f"cost={cost} can never pass rule {rule.name!r}, which allows at most {smallest}.")
    args: list = [cost, rule.name]
    for window in rule.windows:
        args += [window.limit, round(window.period * 1_000_000)]
    return [log_key(rule.name, key), hits_key()], args


def _result(rule: Rule, reply: list) -> RateLimitResult:
    windows = tuple(
        WindowState(w.limit, w.period, int(reply[2 + 3 * i]), reply[3 + 3 * i] / 1e6, reply[4 + 3 * i] / 1e6)
        for i, w in enumerate(rule.windows)
    )
    tightest = min(windows, key=lambda state: (state.remaining, -state.reset))
    return RateLimitResult(
        allowed=bool(reply[0]),
        remaining=tightest.remaining,
        retry_after=reply[1] / 1e6,
        reset=tightest.reset,
        limit=tightest.limit,
        rule=rule.name,
        period=tightest.period,
        windows=windows,
    )


def _unavailable(rule: Rule) -> RateLimitResult:
    if not rule.fail_open:
        raise RateLimitUnavailable(rule.name)
    first: Window = rule.windows[0]
    return RateLimitResult(True, first.limit, 0.0, 0.0, first.limit, rule.name, first.period, degraded=True)


def rate_limit(rule: str | tuple[int, float], key: str, *, cost: int = 1) -> RateLimitResult:
    """Count `cost` units against `key` under `rule` if every window allows it (cost=0 only looks).

    One round trip. Raises RateLimitUnavailable when Redis is unreachable and the rule fails closed.
    """
    spec = get_rule(rule)
    keys, args = _script_input(spec, key, cost)
    outage = _outage()
    if outage.skip():
        return _unavailable(spec)
    client = get_redis(PURPOSE)
    script = _scripts.get("sync")
    if script is None:
        script = _scripts["sync"] = client.register_script(SLIDING_LOG)
    try:
        reply = script(keys=keys, args=args, client=client)
    except REDIS_DOWN as exc:
        outage.failed(exc)
        return _unavailable(spec)
    outage.recovered()
    return _result(spec, reply)


async def arate_limit(rule: str | tuple[int, float], key: str, *, cost: int = 1) -> RateLimitResult:
    """Async twin of rate_limit."""
    spec = get_rule(rule)
    keys, args = _script_input(spec, key, cost)
    outage = _outage()
    if outage.skip():
        return _unavailable(spec)
    client = aget_redis(PURPOSE)
    script = _scripts.get("async")
    if script is None:
        script = _scripts["async"] = client.register_script(SLIDING_LOG)
    try:
        reply = await script(keys=keys, args=args, client=client)
    except REDIS_DOWN as exc:
        outage.failed(exc)
        return _unavailable(spec)
    outage.recovered()
    return _result(spec, reply)


def rate_limit_reset(rule: str | tuple[int, float], key: str) -> bool:
    """Forget everything counted for `key` under `rule` (an operator unlocking someone); True if it had any."""
    return bool(get_redis(PURPOSE).delete(log_key(get_rule(rule).name, key)))


@dataclass(frozen=True)
class RuleHits:
    denied: int
    last_denied_at: float | None  # unix time


def rate_limit_hits() -> dict[str, RuleHits]:
    """How often each rule refused a request, since Redis last lost its data."""
    raw = get_redis(PURPOSE, decode_responses=True).hgetall(hits_key())
    return {
        field: RuleHits(int(count), float(raw[f"{field}:last"]) if f"{field}:last" in raw else None)
        for field, count in raw.items()
        if not field.endswith(":last")
    }


def seconds(value: float) -> int:
    """Whole seconds for headers and messages: rounded up, so a client never retries too early."""
    return max(0, math.ceil(value - 1e-6))
