"""Distributed locks on Redis: owner-checked leases with fencing tokens, an optional watchdog, waits without polling."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import math
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from django.conf import settings
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redis_toolkit.connections import aget_redis, get_redis
from redis_toolkit.keys import redis_key

logger = logging.getLogger(__name__)

# Waiters block in BLPOP on this pool; a pool of its own keeps them from starving other toolkit users.
PURPOSE = "locks"
MAX_WAIT_SLICE = 5.0  # seconds; below the 10 s life of the waiting marker that _ACQUIRE sets

F = TypeVar("F", bound=Callable[..., Any])


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


# A lease is the key lock:{name} = "<owner>:<fencing token>" with a TTL, where owner is random per acquire;
# release and extend compare the whole value. The braces keep a lock's keys in one cluster slot.

# KEYS: lease, fencing counter, waiting marker. ARGV: "<owner>:", ttl in ms.
# Returns the fencing token (> 0) when acquired; when held by someone else, -1 - the holder's remaining ms,
# or 0 if that lease has no TTL. (One integer: an array reply costs the client measurably more to parse.)
_ACQUIRE = """
local held = redis.call('get', KEYS[1])
if held then
  if string.sub(held, 1, #ARGV[1]) == ARGV[1] then
    -- Our own lease: a retried call whose first reply was lost. Report it instead of waiting on ourselves.
    return tonumber(string.sub(held, #ARGV[1] + 1))
  end
  -- Ask releases to wake a waiter. Every waiter refreshes this before each wait, which is shorter
  -- (MAX_WAIT_SLICE); a non-blocking attempt sets it too, costing at most a few useless wake-ups.
  redis.call('set', KEYS[3], 1, 'px', 10000)
  local left = redis.call('pttl', KEYS[1])
  if left < 0 then
    return 0
  end
  return -1 - left
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
"""

# KEYS: lease, wake-up list, waiting marker. ARGV: lease value. Returns 1 when released, 0 when not ours.
_RELEASE = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('del', KEYS[1])
if redis.call('exists', KEYS[3]) == 1 then
  -- Wake one waiter blocked in BLPOP. One element is enough: a release frees the lock for one holder.
  redis.call('lpush', KEYS[2], 1)
  redis.call('ltrim', KEYS[2], 0, 0)
  redis.call('pexpire', KEYS[2], 10000)
end
return 1
"""

# KEYS: lease. ARGV: lease value, new ttl in ms. Returns 1 when extended, 0 when the lease was not ours.
_EXTEND = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then
  return 0
end
return redis.call('pexpire', KEYS[1], ARGV[2])
"""

_SOURCES = {"acquire": _ACQUIRE, "release": _RELEASE, "extend": _EXTEND}
_sync_scripts: dict[str, Any] = {}
_async_scripts: dict[str, Any] = {}


def _script(name: str):
    """Registered once per module; every call passes its client, so one Script serves every process."""
    script = _sync_scripts.get(name)
    if script is None:
        script = _sync_scripts[name] = get_redis(PURPOSE).register_script(_SOURCES[name])
    return script


def _ascript(name: str):
    """Async twin of _script (the first loop's client only computes the SHA; calls pass their own)."""
    script = _async_scripts.get(name)
    if script is None:
        script = _async_scripts[name] = aget_redis(PURPOSE).register_script(_SOURCES[name])
    return script


# On the hot path EVALSHA goes out directly: Script.__call__ adds about 5 µs per call (an import and a type
# check), a tenth of a round trip. On NOSCRIPT (a restarted or different server) the Script loads itself.
def _run(name: str, client, keys: Sequence[str], args: list) -> Any:
    script = _script(name)
    try:
        return client.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return script(list(keys), args, client=client)


async def _arun(name: str, client, keys: Sequence[str], args: list) -> Any:
    script = _ascript(name)
    try:
        return await client.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return await script(list(keys), args, client=client)


class _LockKeys(NamedTuple):
    lease: str
    fence: str  # never expires: tokens outlive leases
    wake: str  # list that waiters BLPOP on
    waiting: str  # marker that someone waits, so uncontended releases skip the wake-up
    for_acquire: tuple[str, str, str]
    for_release: tuple[str, str, str]


def _keys(name: str) -> _LockKeys:
    return _keys_under(settings.REDIS_KEY_PREFIX, name)


@functools.lru_cache(maxsize=4096)
def _keys_under(prefix: str, name: str) -> _LockKeys:
    # Cached per prefix because lock names repeat and this sits on the two-round-trip hot path.
    tag = "{" + name + "}"
    lease, fence, wake, waiting = (
        redis_key("lock", tag, *suffix) for suffix in ((), ("fence",), ("wake",), ("waiting",))
    )
    return _LockKeys(lease, fence, wake, waiting, (lease, fence, waiting), (lease, wake, waiting))


def _check_ttl(ttl: object, *, argument: str = "ttl") -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl < 0.001:
        raise ValueError(f"{argument} must be a number of seconds of at least 0.001, got {ttl!r}")
    return float(ttl)


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    ttl: float
    blocking: bool
    blocking_timeout: float | None
    watchdog: bool
    ttl_ms: int

    @classmethod
    def of(cls, name: object, ttl: object, blocking: bool, blocking_timeout: object, watchdog: bool = False) -> _Spec:
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        ttl = _check_ttl(ttl)
        if blocking_timeout is not None:
            if (
                isinstance(blocking_timeout, bool)
                or not isinstance(blocking_timeout, int | float)
                or math.isnan(blocking_timeout)
                or blocking_timeout < 0
            ):
                # redis-py treats some of these as "forever" or deletes the key; refuse them instead.
                raise ValueError(
                    "blocking_timeout must be None (wait as long as it takes) or a number of seconds >= 0, "
                    f"got {blocking_timeout!r}"
                )
            if not blocking:
                raise ValueError("blocking_timeout has no meaning with blocking=False; pass one or the other")
            blocking_timeout = None if math.isinf(blocking_timeout) else float(blocking_timeout)
        return cls(name, ttl, bool(blocking), blocking_timeout, bool(watchdog), max(1, round(ttl * 1000)))

    def deadline(self) -> float | None:
        return None if self.blocking_timeout is None else time.monotonic() + self.blocking_timeout

    def next_wait(self, deadline: float | None, holder_ms: int | None) -> float | None:
        """Seconds to block waiting for a release, or None to give up now."""
        if not self.blocking:
            return None
        # A wait never outlives the socket timeout (nor the waiting marker), and ends when the holder's
        # lease would expire so a crashed holder (which sends no wake-up) is noticed at once.
        wait = min(settings.REDIS_SOCKET_TIMEOUT / 2, MAX_WAIT_SLICE)
        if holder_ms is not None:
            wait = min(wait, holder_ms / 1000 + 0.001)
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            wait = min(wait, remaining)
        return max(wait, 0.002)  # BLPOP rounds to ms, and 0 would mean "forever"

    def timeout_error(self) -> LockTimeout:
        if not self.blocking or self.blocking_timeout == 0:
            return LockTimeout(f"lock {self.name!r} is held by another holder")
        return LockTimeout(f"lock {self.name!r} is still held by another holder after {self.blocking_timeout:g}s")


def _unavailable(action: str, name: str, exc: Exception) -> LockUnavailable:
    return LockUnavailable(f"could not {action} lock {name!r}: Redis did not answer ({exc.__class__.__name__}: {exc})")


class Lease:
    """One holding of a lock. `fencing_token` strictly increases per lock name; pass it to guarded writes."""

    __slots__ = (
        "_client",
        "_expires_at",
        "_keys",
        "_value",
        "_watchdog_stop",
        "_watchdog_task",
        "_watchdog_thread",
        "fencing_token",
        "lost",
        "name",
        "released",
        "token",
        "ttl",
    )

    def __init__(
        self, *, name: str, keys: _LockKeys, owner: str, fencing_token: int, ttl: float, expires_at: float, client=None
    ) -> None:
        self.name = name
        self.token = owner[:-1]
        self.fencing_token = fencing_token
        self.ttl = ttl
        self.lost = False  # set when the lease is known, or must be assumed, to be no longer ours
        self.released = False
        self._value = f"{owner}{fencing_token}"
        self._keys = keys
        self._client = client  # the sync client that acquired it, saving a pool lookup per release
        self._expires_at = expires_at  # monotonic; counted from before the request left, so never late
        self._watchdog_stop: threading.Event | None = None
        self._watchdog_thread: threading.Thread | None = None
        self._watchdog_task: asyncio.Task | None = None

    def __repr__(self) -> str:
        state = "released" if self.released else "lost" if self.lost else "held"
        return f"<Lease {self.name!r} fencing_token={self.fencing_token} {state}>"

    # ------------------------------------------------------------------ sync
    def extend(self, ttl: float | None = None) -> None:
        """Make the lease last `ttl` seconds (default: its ttl) from now; LockLost if it is no longer ours."""
        ttl = self.ttl if ttl is None else _check_ttl(ttl)
        self._check_not_released("extend")
        started = time.monotonic()
        try:
            ok = _run("extend", self._sync_client(), [self._keys.lease], [self._value, round(ttl * 1000)])
        except RedisError as exc:
            raise _unavailable("extend", self.name, exc) from exc
        self._after_extend(ok, started, ttl)

    def release(self) -> None:
        """Free the lock (no-op when already released); LockLost if it was no longer ours or not kept alive."""
        if self.released:
            return
        self._halt_watchdog()
        try:
            ok = _run("release", self._sync_client(), self._keys.for_release, [self._value])
        except RedisError as exc:
            raise _unavailable("release", self.name, exc) from exc
        self._after_release(ok)

    def release_after(self, seconds: float) -> None:
        """Let the lease lapse `seconds` from now instead of freeing it: nobody else gets the lock before then."""
        if seconds < 0.001:
            return self.release()
        self._halt_watchdog()
        if self.lost:
            return self.release()
        self.extend(seconds)
        self.released = True

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._finish(exc)

    def _finish(self, exc: BaseException | None) -> None:
        try:
            self.release()
        except LockError as err:
            if exc is None:
                raise
            # The block's own exception is the one the caller needs; this one is logged, not lost.
            logger.warning("lock %r: %s (the guarded block had already raised %r)", self.name, err, exc)

    def _start_watchdog(self) -> None:
        self._watchdog_stop = threading.Event()
        self._watchdog_thread = threading.Thread(
            target=self._watch, args=(self._watchdog_stop,), name=f"lock-watchdog:{self.name}", daemon=True
        )
        self._watchdog_thread.start()

    def _watch(self, stop: threading.Event) -> None:
        while not stop.wait(self.ttl / 3):
            try:
                self.extend()
            except LockLost:
                logger.error("lock %r: watchdog found the lease taken over; the holder must stop", self.name)
                return
            except LockError as exc:
                if self._gave_up_extending(exc):
                    return

    def _halt_watchdog(self) -> None:
        if self._watchdog_thread is not None:
            self._watchdog_stop.set()
            if self._watchdog_thread is not threading.current_thread():
                self._watchdog_thread.join()
            self._watchdog_thread = None
        if self._watchdog_task is not None:
            self._watchdog_task.cancel()
            self._watchdog_task = None

    # ----------------------------------------------------------------- async
    async def aextend(self, ttl: float | None = None) -> None:
        """Async twin of extend."""
        ttl = self.ttl if ttl is None else _check_ttl(ttl)
        self._check_not_released("extend")
        started = time.monotonic()
        try:
            ok = await _arun("extend", aget_redis(PURPOSE), [self._keys.lease], [self._value, round(ttl * 1000)])
        except RedisError as exc:
            raise _unavailable("extend", self.name, exc) from exc
        self._after_extend(ok, started, ttl)

    async def arelease(self) -> None:
        """Async twin of release."""
        if self.released:
            return
        await self._ahalt_watchdog()
        try:
            ok = await _arun("release", aget_redis(PURPOSE), self._keys.for_release, [self._value])
        except RedisError as exc:
            raise _unavailable("release", self.name, exc) from exc
        self._after_release(ok)

    async def arelease_after(self, seconds: float) -> None:
        """Async twin of release_after."""
        if seconds < 0.001:
            return await self.arelease()
        await self._ahalt_watchdog()
        if self.lost:
            return await self.arelease()
        await self.aextend(seconds)
        self.released = True

    async def __aenter__(self) -> Lease:
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        await self._afinish(exc)

    async def _afinish(self, exc: BaseException | None) -> None:
        try:
            await self.arelease()
        except LockError as err:
            if exc is None:
                raise
            logger.warning("lock %r: %s (the guarded block had already raised %r)", self.name, err, exc)

    def _astart_watchdog(self) -> None:
        self._watchdog_task = asyncio.get_running_loop().create_task(self._awatch(), name=f"lock-watchdog:{self.name}")

    async def _awatch(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self.aextend()
            except LockLost:
                logger.error("lock %r: watchdog found the lease taken over; the holder must stop", self.name)
                return
            except LockError as exc:
                if self._gave_up_extending(exc):
                    return

    async def _ahalt_watchdog(self) -> None:
        task = self._watchdog_task
        self._halt_watchdog()
        if task is not None and task is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---------------------------------------------------------------- shared
    def _sync_client(self):
        return self._client or get_redis(PURPOSE)

    def _check_not_released(self, action: str) -> None:
        if self.released:
            raise LockError(f"cannot {action} lock {self.name!r}: this lease was already released")

    def _after_extend(self, ok: int, started: float, ttl: float) -> None:
        if not ok:
            self.lost = True
            raise LockLost(self._lost_message("extend"))
        self.ttl, self._expires_at = ttl, started + ttl

    def _after_release(self, ok: int) -> None:
        self.released = True
        if not ok:
            self.lost = True
        if self.lost:
            raise LockLost(self._lost_message("release"))

    def _gave_up_extending(self, exc: Exception) -> bool:
        """After a failed extend: keep trying while the lease may still run, then declare it lost."""
        if time.monotonic() < self._expires_at:
            logger.warning("lock %r: watchdog could not extend the lease, will retry: %s", self.name, exc)
            return False
        self.lost = True
        logger.error("lock %r: watchdog could not extend the lease before it expired: %s", self.name, exc)
        return True

    def _lost_message(self, action: str) -> str:
        return (
            f"lock lost: cannot {action} {self.name!r} (fencing token {self.fencing_token}); its lease expired, "
            "was taken over by another holder, or could not be kept alive"
        )


# ----------------------------------------------------------------- acquiring


def _give_back(client, keys: _LockKeys, owner: str) -> None:
    """After a lost acquire reply: the command may have run, so ask again (ours comes back) and release."""
    with contextlib.suppress(RedisError):
        fence = _run("acquire", client, keys.for_acquire, [owner, 1000])
        if fence > 0:
            _run("release", client, keys.for_release, [f"{owner}{fence}"])


async def _agive_back(client, keys: _LockKeys, owner: str) -> None:
    """Async twin of _give_back."""
    with contextlib.suppress(RedisError):
        fence = await _arun("acquire", client, keys.for_acquire, [owner, 1000])
        if fence > 0:
            await _arun("release", client, keys.for_release, [f"{owner}{fence}"])


def _acquire(spec: _Spec) -> Lease | None:
    client = get_redis(PURPOSE)
    keys = _keys(spec.name)
    owner = secrets.token_hex(16) + ":"
    deadline = spec.deadline()
    while True:
        started = time.monotonic()
        try:
            value = _run("acquire", client, keys.for_acquire, [owner, spec.ttl_ms])
        except RedisTimeoutError as exc:
            _give_back(client, keys, owner)
            raise _unavailable("acquire", spec.name, exc) from exc
        except RedisError as exc:
            raise _unavailable("acquire", spec.name, exc) from exc
        if value > 0:
            lease = Lease(
                name=spec.name,
                keys=keys,
                owner=owner,
                fencing_token=value,
                ttl=spec.ttl,
                expires_at=started + spec.ttl,
                client=client,
            )
            if spec.watchdog:
                lease._start_watchdog()
            return lease
        wait = spec.next_wait(deadline, -1 - value if value < 0 else None)
        if wait is None:
            return None
        try:
            client.blpop([keys.wake], timeout=wait)
        except RedisError as exc:
            raise _unavailable("wait for", spec.name, exc) from exc


async def _aacquire(spec: _Spec) -> Lease | None:
    client = aget_redis(PURPOSE)
    keys = _keys(spec.name)
    owner = secrets.token_hex(16) + ":"
    deadline = spec.deadline()
    while True:
        started = time.monotonic()
        try:
            value = await _arun("acquire", client, keys.for_acquire, [owner, spec.ttl_ms])
        except (RedisTimeoutError, asyncio.CancelledError) as exc:
            await _agive_back(client, keys, owner)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise _unavailable("acquire", spec.name, exc) from exc
        except RedisError as exc:
            raise _unavailable("acquire", spec.name, exc) from exc
        if value > 0:
            lease = Lease(
                name=spec.name, keys=keys, owner=owner, fencing_token=value, ttl=spec.ttl, expires_at=started + spec.ttl
            )
            if spec.watchdog:
                lease._astart_watchdog()
            return lease
        wait = spec.next_wait(deadline, -1 - value if value < 0 else None)
        if wait is None:
            return None
        try:
            await client.blpop([keys.wake], timeout=wait)
        except RedisError as exc:
            raise _unavailable("wait for", spec.name, exc) from exc


class RedisLock:
    """What redis_lock returns: `with` yields a Lease; as a decorator each call holds the lock."""

    __slots__ = ("_lease", "_spec")

    def __init__(self, spec: _Spec) -> None:
        self._spec = spec
        self._lease: Lease | None = None

    def __enter__(self) -> Lease:
        if self._lease is not None:
            raise RuntimeError(f"this redis_lock({self._spec.name!r}) object is already held; make one per use")
        lease = _acquire(self._spec)
        if lease is None:
            raise self._spec.timeout_error()
        self._lease = lease
        return lease

    def __exit__(self, exc_type, exc, tb) -> None:
        lease, self._lease = self._lease, None
        lease._finish(exc)

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):
            raise TypeError(f"redis_lock cannot guard coroutine function {func.__qualname__}; use aredis_lock")

        @functools.wraps(func)
        def guarded(*args, **kwargs):
            with RedisLock(self._spec):
                return func(*args, **kwargs)

        return guarded  # type: ignore[return-value]


class ARedisLock:
    """What aredis_lock returns: `async with` yields a Lease; decorates coroutine functions."""

    __slots__ = ("_lease", "_spec")

    def __init__(self, spec: _Spec) -> None:
        self._spec = spec
        self._lease: Lease | None = None

    async def __aenter__(self) -> Lease:
        if self._lease is not None:
            raise RuntimeError(f"this aredis_lock({self._spec.name!r}) object is already held; make one per use")
        lease = await _aacquire(self._spec)
        if lease is None:
            raise self._spec.timeout_error()
        self._lease = lease
        return lease

    async def __aexit__(self, exc_type, exc, tb) -> None:
        lease, self._lease = self._lease, None
        await lease._afinish(exc)

    def __call__(self, func: F) -> F:
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"aredis_lock guards coroutine functions; use redis_lock for {func.__qualname__}")

        @functools.wraps(func)
        async def guarded(*args, **kwargs):
            async with ARedisLock(self._spec):
                return await func(*args, **kwargs)

        return guarded  # type: ignore[return-value]


def redis_lock(
    name: str,
    *,
    ttl: float = 10.0,
    blocking_timeout: float | None = None,
    blocking: bool = True,
    watchdog: bool = False,
) -> RedisLock:
    """Hold lock `name` for a block (`with redis_lock("x") as lease:`) or each call of a decorated function.

    The lease lasts `ttl` seconds unless released or extended (the watchdog extends it every ttl/3).
    Blocking waits up to `blocking_timeout` seconds (None: as long as it takes), then LockTimeout;
    blocking=False raises LockTimeout at once when the lock is held. LockLost at the end of the block
    means the lease was lost meanwhile; LockUnavailable means Redis did not answer.
    """
    return RedisLock(_Spec.of(name, ttl, blocking, blocking_timeout, watchdog))


def aredis_lock(
    name: str,
    *,
    ttl: float = 10.0,
    blocking_timeout: float | None = None,
    blocking: bool = True,
    watchdog: bool = False,
) -> ARedisLock:
    """Async twin of redis_lock: `async with aredis_lock("x") as lease:` or a decorator for coroutines."""
    return ARedisLock(_Spec.of(name, ttl, blocking, blocking_timeout, watchdog))


def acquire_lock(
    name: str,
    *,
    ttl: float = 10.0,
    blocking_timeout: float | None = None,
    blocking: bool = True,
    watchdog: bool = False,
) -> Lease:
    """Acquire and return the Lease (LockTimeout when held); the caller releases it, e.g. `with lease:`."""
    spec = _Spec.of(name, ttl, blocking, blocking_timeout, watchdog)
    lease = _acquire(spec)
    if lease is None:
        raise spec.timeout_error()
    return lease


async def aacquire_lock(
    name: str,
    *,
    ttl: float = 10.0,
    blocking_timeout: float | None = None,
    blocking: bool = True,
    watchdog: bool = False,
) -> Lease:
    """Async twin of acquire_lock."""
    spec = _Spec.of(name, ttl, blocking, blocking_timeout, watchdog)
    lease = await _aacquire(spec)
    if lease is None:
        raise spec.timeout_error()
    return lease


def try_redis_lock(
    name: str, *, ttl: float = 10.0, blocking_timeout: float = 0, watchdog: bool = False
) -> Lease | None:
    """The Lease, or None when the lock stays held (one attempt by default); `with lease:` releases it."""
    return _acquire(_Spec.of(name, ttl, True, blocking_timeout, watchdog))


async def atry_redis_lock(
    name: str, *, ttl: float = 10.0, blocking_timeout: float = 0, watchdog: bool = False
) -> Lease | None:
    """Async twin of try_redis_lock."""
    return await _aacquire(_Spec.of(name, ttl, True, blocking_timeout, watchdog))


def run_exclusively(
    name: str, fn: Callable[[], object], *, ttl: float = 60.0, min_interval: float | None = None, watchdog: bool = True
) -> bool:
    """Run `fn` unless another process holds lock `name`; True when it ran here.

    For periodic jobs every worker calls: one runs at a time, and with `min_interval` the lease is kept
    until that many seconds after the start, so the job runs at most once per interval fleet-wide.
    """
    if min_interval is not None:
        _check_ttl(min_interval, argument="min_interval")
    lease = try_redis_lock(name, ttl=ttl, watchdog=watchdog)
    if lease is None:
        return False
    started = time.monotonic()
    try:
        fn()
    except BaseException as exc:
        lease._finish(exc)
        raise
    if min_interval is None:
        lease.release()
    else:
        lease.release_after(min_interval - (time.monotonic() - started))
    return True


async def arun_exclusively(
    name: str,
    fn: Callable[[], Awaitable[object]],
    *,
    ttl: float = 60.0,
    min_interval: float | None = None,
    watchdog: bool = True,
) -> bool:
    """Async twin of run_exclusively (`fn` returns an awaitable)."""
    if min_interval is not None:
        _check_ttl(min_interval, argument="min_interval")
    lease = await atry_redis_lock(name, ttl=ttl, watchdog=watchdog)
    if lease is None:
        return False
    started = time.monotonic()
    try:
        await fn()
    except BaseException as exc:
        await lease._afinish(exc)
        raise
    if min_interval is None:
        await lease.arelease()
    else:
        await lease.arelease_after(min_interval - (time.monotonic() - started))
    return True
