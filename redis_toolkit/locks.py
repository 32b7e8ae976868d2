"""Distributed locks on Redis: owner-checked leases with fencing tokens checked in the database, a watchdog."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import threading
import time

from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_toolkit.client import aget_redis, get_redis, redis_key
from redis_toolkit.models import Fence
from redis_toolkit.scripts import SLEEP, LuaScript, Steps, adrive, drive

logger = logging.getLogger(__name__)

PURPOSE = "locks"  # the locks' own connection pool
# A waiter polls: again after 5 ms, the pause doubling up to redis-py's Lock's fixed 100 ms.
FIRST_POLL, MAX_POLL = 0.005, 0.1
_MAX_TOKEN = 2**63 - 1  # the Fence table's BigIntegerField


class LockError(Exception):
    """Base of every lock error."""


class LockTimeout(LockError):
    """The lock is held by someone else: a non-blocking acquire, or a blocking one that gave up."""


class LockLost(LockError):
    """Release or extend of a lease that is no longer ours (expired, taken over, or not kept alive)."""


class LockUnavailable(LockError):
    """Redis did not answer, so the lock state is unknown; never treated as success."""


class StaleFencingToken(LockError):
    """A guarded resource has already accepted a newer fencing token: this holder's lease is stale."""


# A lease is lock:{name} = "<random owner>:<fencing token>" with a TTL (docs/architecture.md, "Locks").
# KEYS: lease, fencing counter. ARGV: "<owner>:", ttl in ms. Returns the fencing token (> 0) when acquired,
# 0 when someone else holds the lock. (One integer: an array reply costs the client measurably more to parse.)
ACQUIRE = LuaScript("""
local held = redis.call('get', KEYS[1])
if held then
  if string.sub(held, 1, #ARGV[1]) == ARGV[1] then
    -- Our own lease: a retried call whose first reply was lost. Report it instead of waiting on ourselves.
    return tonumber(string.sub(held, #ARGV[1] + 1))
  end
  return 0
end
local fence = redis.call('incr', KEYS[2])
if fence == 1 then
  -- The counter was missing (first use, eviction, data loss): restart it from the clock in microseconds,
  -- which is above any value it can have reached before, so tokens still only go up.
  local now = redis.call('time')
  fence = redis.call('incrby', KEYS[2], now[1] .. string.format('%06d', now[2]))
end
redis.call('set', KEYS[1], ARGV[1] .. string.format('%d', fence), 'px', ARGV[2])
return fence
""")

# KEYS: lease. ARGV: lease value. Returns 1 when released, 0 when the lease was not ours.
RELEASE = LuaScript("""
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('del', KEYS[1])
""")

# KEYS: lease. ARGV: lease value, new ttl in ms. Returns 1 when extended, 0 when the lease was not ours.
EXTEND = LuaScript("""
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('pexpire', KEYS[1], ARGV[2])
""")

# KEYS: fencing counter. ARGV: a token a guarded resource accepted. Raises the counter to it if below.
RAISE_COUNTER = LuaScript("""
if tonumber(redis.call('get', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('set', KEYS[1], ARGV[1]) end
return 1
""")


def _keys(name: str) -> tuple[str, str]:
    """The lease and its fencing counter (which never expires); the braces put both in one cluster slot."""
    lease = redis_key("lock", "{" + name + "}")
    return lease, f"{lease}:fence"


def _seconds(value: object, argument: str, *, least: float, infinite: bool = False) -> float:
    # `not value >= least` also refuses NaN, which redis-py would treat as "forever".
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= least:
        raise ValueError(f"{argument} must be a number of seconds of at least {least:g}, got {value!r}")
    if math.isinf(value) and not infinite:
        raise ValueError(f"{argument} must be a finite number of seconds, got {value!r}")
    return float(value)


class RedisLock:
    """Lock `name`, held for a block: `with redis_lock("x") as lease:` (docs/architecture.md, "Locks"); while held,
    the object is the lease. `fencing_token` strictly increases per lock name (pass it to guarded writes); `lost`
    is set when the lease is known, or must be assumed, to be no longer ours.

    LockTimeout when it stays held (blocking_timeout=None waits as long as it takes), LockLost at the end
    of the block when the lease was lost meanwhile, LockUnavailable when Redis did not answer.
    """

    __slots__ = (
        *("_expires_at", "_keys", "_value", "_watchdog", "blocking", "blocking_timeout"),
        *("fencing_token", "lost", "name", "released", "ttl", "watchdog"),
    )

    def __init__(
        self,
        name: str,
        *,
        ttl: float = 10.0,
        blocking_timeout: float | None = None,
        blocking: bool = True,
        watchdog: bool = False,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        if blocking_timeout is not None:
            if not blocking:
                raise ValueError("blocking_timeout has no meaning with blocking=False; pass one or the other")
            blocking_timeout = _seconds(blocking_timeout, "blocking_timeout", least=0, infinite=True)
        self.name, self.ttl, self.blocking, self.watchdog = name, _seconds(ttl, "ttl", least=0.001), blocking, watchdog
        self.blocking_timeout = None if blocking_timeout == math.inf else blocking_timeout
        self.fencing_token, self.lost, self.released, self._value, self._watchdog = None, False, True, "", None
        self._expires_at = 0.0  # monotonic; counted from before the acquire left, so never late

    def _acquiring(self) -> Steps:
        """Take the lease (True), or False when the lock stays held past this lock's patience."""
        if not self.released:
            raise RuntimeError(f"this redis_lock({self.name!r}) object is already held; make one per use")
        self._keys, owner, pause = _keys(self.name), secrets.token_hex(16) + ":", FIRST_POLL
        deadline = None if self.blocking_timeout is None else time.monotonic() + self.blocking_timeout
        while True:
            started = time.monotonic()
            try:
                fence = yield ACQUIRE, self._keys, [owner, max(1, round(self.ttl * 1000))]
            except (RedisTimeoutError, asyncio.CancelledError):
                # The reply was lost, not necessarily the command: ask again (our own lease comes back) and
                # release it, so the lock is not held for a whole ttl by nobody.
                with contextlib.suppress(RedisError):
                    fence = yield ACQUIRE, self._keys, [owner, 1000]
                    if fence > 0:
                        yield RELEASE, self._keys[:1], [f"{owner}{fence}"]
                raise
            if fence > 0:
                self.fencing_token, self._value, self.lost, self.released = fence, f"{owner}{fence}", False, False
                self._expires_at = started + self.ttl
                return True
            if not self.blocking or (deadline is not None and time.monotonic() >= deadline):
                return False
            # One more attempt at the deadline, never later.
            yield SLEEP, pause if deadline is None else max(0.0, min(pause, deadline - time.monotonic())), ()
            pause = min(2 * pause, MAX_POLL)

    def _held(self, acquired: bool) -> RedisLock:
        if not acquired:
            if not self.blocking or self.blocking_timeout == 0:
                raise LockTimeout(f"lock {self.name!r} is held by another holder")
            raise LockTimeout(f"lock {self.name!r} is still held by another holder after {self.blocking_timeout:g}s")
        if self.watchdog:  # a daemon thread that extends the lease every ttl/3 (and dies with its process)
            stop = threading.Event()
            thread = threading.Thread(target=self._watch, args=(stop,), name=f"lock-watchdog:{self.name}", daemon=True)
            self._watchdog = (stop, thread)
            thread.start()
        return self

    def __enter__(self) -> RedisLock:
        return self._held(_run(self._acquiring(), "acquire", self.name))

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.release()
        except LockError as err:
            self._report(err, exc)

    async def __aenter__(self) -> RedisLock:
        return self._held(await _arun(self._acquiring(), "acquire", self.name))

    async def __aexit__(self, exc_type, exc, tb) -> None:
        try:
            await self.arelease()
        except LockError as err:
            self._report(err, exc)

    def _extending(self, ttl: float | None) -> Steps:
        ttl = self.ttl if ttl is None else _seconds(ttl, "ttl", least=0.001)
        if self.released:
            raise LockError(f"cannot extend lock {self.name!r}: this lease was already released")
        started = time.monotonic()
        if not (yield EXTEND, self._keys[:1], [self._value, round(ttl * 1000)]):
            self.lost = True
            raise LockLost(self._lost_message("extend"))
        self.ttl, self._expires_at = ttl, started + ttl

    def _releasing(self) -> Steps:
        ok = yield RELEASE, self._keys[:1], [self._value]
        self.released = True
        self.lost = self.lost or not ok
        if self.lost:
            raise LockLost(self._lost_message("release"))

    def extend(self, ttl: float | None = None) -> None:
        """Make the lease last `ttl` seconds (default: its ttl) from now; LockLost if it is no longer ours."""
        _run(self._extending(ttl), "extend", self.name)

    def release(self) -> None:
        """Free the lock (no-op when already released); LockLost if it was no longer ours or not kept alive."""
        if not self.released:
            self._halt_watchdog()
            _run(self._releasing(), "release", self.name)

    async def arelease(self) -> None:
        if not self.released:
            self._halt_watchdog()
            await _arun(self._releasing(), "release", self.name)

    def release_after(self, seconds: float) -> None:
        """Let the lease lapse `seconds` from now instead of freeing it: nobody else gets the lock before then."""
        self._halt_watchdog()
        if seconds < 0.001 or self.lost:
            return self.release()
        self.extend(seconds)
        self.released = True

    def _report(self, err: LockError, block_error: BaseException | None) -> None:
        """A lock error after the guarded block: the block's own exception is the one the caller needs."""
        if block_error is None:
            raise err
        logger.warning("lock %r: %s (the guarded block had already raised %r)", self.name, err, block_error)

    def _watch(self, stop: threading.Event) -> None:
        while not stop.wait(self.ttl / 3):
            try:
                self.extend()
            except LockLost:
                logger.error("lock %r: watchdog found the lease taken over; the holder must stop", self.name)
                return
            except LockError as exc:  # keep trying while the lease may still run, then declare it lost
                if time.monotonic() >= self._expires_at:
                    self.lost = True
                    logger.error("lock %r: watchdog could not extend the lease before it expired: %s", self.name, exc)
                    return
                logger.warning("lock %r: watchdog could not extend the lease, will retry: %s", self.name, exc)

    def _halt_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            stop, thread = watchdog
            stop.set()
            if thread is not threading.current_thread():
                thread.join()

    def _lost_message(self, action: str) -> str:
        return (
            f"lock lost: cannot {action} {self.name!r} (fencing token {self.fencing_token}); its lease expired, "
            "was taken over by another holder, or could not be kept alive"
        )


def _unavailable(action: str, name: str, exc: BaseException) -> LockUnavailable:
    return LockUnavailable(f"could not {action} lock {name!r}: Redis did not answer ({exc.__class__.__name__}: {exc})")


def _run(steps: Steps, action: str, name: str):
    """Send the steps with the sync client; a Redis error the steps let through is LockUnavailable."""
    try:
        return drive(steps, get_redis(PURPOSE), RedisError)
    except RedisError as exc:
        raise _unavailable(action, name, exc) from exc


async def _arun(steps: Steps, action: str, name: str):
    try:
        return await adrive(steps, aget_redis(PURPOSE), (RedisError, asyncio.CancelledError))
    except RedisError as exc:
        raise _unavailable(action, name, exc) from exc


redis_lock = RedisLock  # `with redis_lock(name, ttl=..., blocking_timeout=...) as lease:`


def aredis_lock(
    name: str, *, ttl: float = 10.0, blocking_timeout: float | None = None, blocking: bool = True
) -> RedisLock:
    """Async twin of redis_lock: `async with aredis_lock("x") as lease:` (no watchdog: give it a ttl that lasts)."""
    return RedisLock(name, ttl=ttl, blocking_timeout=blocking_timeout, blocking=blocking)


def fencing_counter_raise(name: str, token: int) -> None:
    """Raise lock `name`'s fencing counter to `token` if below: a Redis restored from an older copy would
    otherwise hand out tokens a guarded resource already refuses (StaleFencingToken.accepted)."""
    try:
        RAISE_COUNTER(get_redis(PURPOSE), _keys(name)[1:], [int(token)])
    except RedisError as exc:
        raise _unavailable("repair the fencing counter of", name, exc) from exc


def fence_advance(resource: str, token: int) -> None:
    """Record `token` for `resource`, or raise StaleFencingToken if a newer one was (an equal one passes: the
    same lease writing again). Call it inside the transaction.atomic() of the write it guards."""
    if not isinstance(resource, str) or not resource or len(resource) > 200:
        raise ValueError(f"resource must be a non-empty string of at most 200 characters, got {resource!r}")
    if isinstance(token, bool) or not isinstance(token, int) or not 0 < token <= _MAX_TOKEN:
        raise ValueError(f"token must be a positive fencing token (lease.fencing_token), got {token!r}")
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise transaction.TransactionManagementError(
            "fence_advance() must run inside transaction.atomic() together with the write it guards"
        )
    table = connection.ops.quote_name(Fence._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # One statement on both PostgreSQL and SQLite: the row lock taken by the upsert orders concurrent
    # holders, and the WHERE re-checks against the newest committed token.
    sql = (
        f"INSERT INTO {table} (resource, last_token, updated_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (resource) DO UPDATE SET last_token = excluded.last_token, updated_at = excluded.updated_at "
        f"WHERE {table}.last_token <= excluded.last_token"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [resource, token, now])
        if cursor.rowcount == 1:
            return
    last = Fence.objects.filter(resource=resource).values_list("last_token", flat=True).first()
    error = StaleFencingToken(
        f"stale fencing token {token} for {resource!r}: a newer lock holder already wrote with {last}"
    )
    error.accepted = last  # what a holder repairs a restored (older) fencing counter to: fencing_counter_raise
    raise error
