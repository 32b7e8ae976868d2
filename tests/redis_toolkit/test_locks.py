"""Distributed locks: exclusion, fencing tokens, lost leases, the watchdog and waits, on a real Redis."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
import redis
from django.test import override_settings

from redis_toolkit.client import get_redis, redis_key, reset_clients
from redis_toolkit.events.periodic import PeriodicTask, run_due
from redis_toolkit.locks import (
    ACQUIRE,
    PURPOSE,
    RELEASE,
    LockError,
    LockLost,
    LockTimeout,
    LockUnavailable,
    aredis_lock,
    fencing_counter_raise,
    redis_lock,
)
from redis_toolkit.models import Fence
from tests.conftest import ROOT, free_port, test_database_url, wait_until


@pytest.fixture
def name(redis_client) -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def lock_key(name: str, *suffix: str) -> str:
    """The documented key layout: lock:{name} holds the lease, lock:{name}:fence the fencing counter."""
    return redis_key("lock", "{" + name + "}", *suffix)


def holder_of(name: str) -> bytes | None:
    return get_redis(PURPOSE).get(lock_key(name))


def held_by(name: str, lease) -> bool:
    """The lease value ends with the fencing token, which no other lease of that name shares."""
    value = holder_of(name)
    return value is not None and value.endswith(f":{lease.fencing_token}".encode())


def hold(name: str, **options):
    """A lease held past any block (as a process that crashed or paused would hold it)."""
    return redis_lock(name, **options).__enter__()


async def ahold(name: str, **options):
    return await aredis_lock(name, **options).__aenter__()


def is_free(name: str) -> bool:
    try:
        with redis_lock(name, blocking=False):
            return True
    except LockTimeout:
        return False


async def ais_free(name: str) -> bool:
    try:
        async with aredis_lock(name, blocking=False):
            return True
    except LockTimeout:
        return False


# ----------------------------------------------------------------- basics


def test_lease_is_exclusive_until_released(name):
    with redis_lock(name, ttl=5) as lease:
        assert lease.name == name
        assert held_by(name, lease)
        with pytest.raises(LockTimeout, match="held by another holder"), redis_lock(name, blocking=False):
            pass
    assert lease.released
    assert not lease.lost
    assert holder_of(name) is None
    assert is_free(name)


def test_fencing_tokens_strictly_increase_per_lock_name(name):
    tokens = []
    for _ in range(5):
        with redis_lock(name, ttl=5) as lease:
            tokens.append(lease.fencing_token)
    with redis_lock(name + "-other", ttl=5):
        pass
    with redis_lock(name, ttl=5) as lease:
        tokens.append(lease.fencing_token)
    assert tokens == sorted(set(tokens))
    assert [b - a for a, b in itertools.pairwise(tokens)] == [1] * 5


def test_fencing_tokens_keep_increasing_after_the_counter_is_lost(name):
    with redis_lock(name, ttl=5) as first:
        pass
    get_redis(PURPOSE).delete(lock_key(name, "fence"))  # eviction, FLUSHALL or a restore from an old backup
    with redis_lock(name, ttl=5) as second:
        pass
    assert second.fencing_token > first.fencing_token


def test_a_retried_acquire_finds_its_own_lease_instead_of_waiting_on_it(name):
    keys = (lock_key(name), lock_key(name, "fence"))
    first = ACQUIRE(get_redis(PURPOSE), keys, ["owner-a:", 5000])
    repeated = ACQUIRE(get_redis(PURPOSE), keys, ["owner-a:", 5000])
    other = ACQUIRE(get_redis(PURPOSE), keys, ["owner-b:", 5000])
    assert first > 0  # a fencing token
    assert repeated == first
    assert other == 0  # held by someone else


def test_a_raised_fencing_counter_hands_out_tokens_above_it_and_is_never_lowered(name):
    with redis_lock(name, ttl=5) as first:
        pass
    fencing_counter_raise(name, first.fencing_token + 1000)  # a restored Redis, repaired by a holder turned away
    with redis_lock(name, ttl=5) as second:
        pass
    fencing_counter_raise(name, 5)  # a token below the counter changes nothing
    with redis_lock(name, ttl=5) as third:
        pass
    assert second.fencing_token == first.fencing_token + 1001
    assert third.fencing_token == second.fencing_token + 1


def test_release_after_expiry_raises_lock_lost_and_spares_the_new_holder(name):
    stale = hold(name, ttl=0.1)
    time.sleep(0.2)
    with redis_lock(name, ttl=5) as current:
        with pytest.raises(LockLost, match="lock lost"):
            stale.release()
        assert stale.lost
        assert held_by(name, current)
    assert current.fencing_token > stale.fencing_token


def test_extend_keeps_the_lease_and_extend_after_expiry_raises_lock_lost(name):
    lease = hold(name, ttl=0.5)
    lease.extend(5)
    time.sleep(0.6)
    assert not is_free(name)
    assert get_redis(PURPOSE).pttl(lock_key(name)) > 4000
    lease.release()

    short = hold(name, ttl=0.1)
    time.sleep(0.2)
    with pytest.raises(LockLost, match="lock lost"):
        short.extend()


def test_releasing_twice_is_harmless_but_extending_a_released_lease_is_an_error(name):
    lease = hold(name, ttl=5)
    lease.release()
    lease.release()
    with pytest.raises(LockError, match="already released"):
        lease.extend()


def test_block_that_outlives_its_lease_raises_lock_lost_at_the_end(name):
    with pytest.raises(LockLost, match="lock lost"), redis_lock(name, ttl=0.1):
        time.sleep(0.2)


def outlive_the_lease_then_fail(name: str) -> None:
    with redis_lock(name, ttl=0.1):
        time.sleep(0.2)
        raise KeyError("the block's own error")


def test_block_exception_wins_over_a_lost_lease(name):
    with pytest.raises(KeyError, match="the block's own error"):
        outlive_the_lease_then_fail(name)


def test_a_lock_object_holds_one_lease_at_a_time(name):
    lock = redis_lock(name, ttl=5)
    with lock, pytest.raises(RuntimeError, match="already held"), lock:
        pass
    with lock:  # usable again once released
        pass


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"ttl": 0}, "ttl"),
        ({"ttl": -1}, "ttl"),
        ({"ttl": math.nan}, "ttl"),
        ({"ttl": math.inf}, "ttl"),
        ({"ttl": "10"}, "ttl"),
        ({"blocking_timeout": -0.5}, "blocking_timeout"),
        ({"blocking_timeout": math.nan}, "blocking_timeout"),
        ({"blocking": False, "blocking_timeout": 1}, "blocking_timeout"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(name, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        redis_lock(name, **kwargs)
    with pytest.raises(ValueError, match=argument):
        aredis_lock(name, **kwargs)
    assert holder_of(name) is None


def test_empty_name_is_refused():
    with pytest.raises(ValueError, match="name"):
        redis_lock("")


# ------------------------------------------------------------------ waiting


def test_non_blocking_and_zero_timeout_give_up_at_once(name):
    with redis_lock(name, ttl=5):
        started = time.monotonic()
        with pytest.raises(LockTimeout):
            hold(name, blocking=False)
        with pytest.raises(LockTimeout):
            hold(name, blocking_timeout=0)
        assert time.monotonic() - started < 1  # no wait at all, well below the 5 s lease


def test_blocking_acquire_gives_up_after_blocking_timeout(name):
    with redis_lock(name, ttl=5):
        started = time.monotonic()
        with pytest.raises(LockTimeout, match=r"after 0\.3s"):
            hold(name, blocking_timeout=0.3)
        assert time.monotonic() - started >= 0.3


def test_waiter_gets_the_lock_when_the_holder_releases(name):
    holder = hold(name, ttl=30)
    threading.Timer(0.3, holder.release).start()
    with redis_lock(name, ttl=5, blocking_timeout=10) as lease:
        assert lease.fencing_token == holder.fencing_token + 1
    assert holder.released


def test_waiter_notices_a_crashed_holders_expiry(name):
    crashed = hold(name, ttl=0.4)  # never released: its process "died"
    with redis_lock(name, ttl=5, blocking_timeout=10) as lease:
        assert lease.fencing_token > crashed.fencing_token


def test_a_blocked_waiter_backs_off_instead_of_spinning(spare_redis, name):
    with override_settings(REDIS_URL=spare_redis.url):
        reset_clients()
        try:
            holder = hold(name, ttl=30)
            before = get_redis().info("commandstats")
            threading.Timer(1.5, holder.release).start()
            with redis_lock(name, ttl=5, blocking_timeout=10):
                pass
            after = get_redis().info("commandstats")
        finally:
            reset_clients()

    def calls(stats, command):
        return stats.get(f"cmdstat_{command}", {}).get("calls", 0)

    # 1.5 s of waiting: a few quick attempts while the pause doubles from 5 ms, then one per 100 ms
    # (redis-py's fixed poll), and the two releases. A waiter that never paused would make thousands.
    assert calls(after, "evalsha") - calls(before, "evalsha") <= 30


# ------------------------------------------------------------------ watchdog


def test_watchdog_keeps_the_lease_through_a_block_three_times_its_ttl(name):
    with redis_lock(name, ttl=1, watchdog=True) as lease:
        for _ in range(6):
            time.sleep(0.5)
            assert not is_free(name)
    assert not lease.lost
    assert holder_of(name) is None


def test_watchdog_reports_a_lease_taken_over_during_the_block(name):
    lock = redis_lock(name, ttl=0.6, watchdog=True)
    lease = lock.__enter__()
    get_redis(PURPOSE).delete(lock_key(name))  # as if it had expired during a long pause
    thief = hold(name, ttl=5)
    wait_until(lambda: lease.lost)  # the next watchdog tick notices: the holder can see it inside the block...
    with pytest.raises(LockLost, match="lock lost"):
        lock.__exit__(None, None, None)  # ...and the end of the block raises
    assert held_by(name, thief)  # the new holder's lease is untouched
    thief.release()


def test_watchdog_dies_with_its_process(name):
    code = (
        "import os, django; django.setup();"
        "from redis_toolkit.locks import redis_lock;"
        f"redis_lock({name!r}, ttl=0.5, watchdog=True).__enter__(); print('held', flush=True); os._exit(0)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "held", out.stderr
    with redis_lock(name, ttl=5, blocking_timeout=5):
        pass


# ---------------------------------------------------------- Redis failures


def test_unreachable_redis_raises_lock_unavailable_never_success(spare_redis, name):
    ran = []
    with override_settings(REDIS_URL=spare_redis.url, REDIS_SOCKET_TIMEOUT=1):
        reset_clients()
        try:
            lease = hold(name, ttl=5)
            spare_redis.stop()
            with pytest.raises(LockUnavailable, match="could not release"):
                lease.release()
            with pytest.raises(LockUnavailable, match="could not acquire"), redis_lock(name, ttl=5):
                ran.append("block")
            with pytest.raises(LockUnavailable):
                run_due(PeriodicTask(name, every=60, func=lambda: ran.append("job")))
        finally:
            reset_clients()
    assert ran == []


# -------------------------------------------------------------- async twins


async def test_async_lock_excludes_fences_and_releases(name):
    async with aredis_lock(name, ttl=5) as lease:
        assert not await ais_free(name)
        with pytest.raises(LockTimeout):
            await ahold(name, blocking=False)
    async with aredis_lock(name, ttl=5) as second:
        assert second.fencing_token == lease.fencing_token + 1
    assert lease.released
    assert second.released


async def test_async_waiter_gets_the_lock_when_the_holder_releases(name):
    holder = await ahold(name, ttl=30)

    async def release_soon():
        await asyncio.sleep(0.3)
        await holder.arelease()

    releaser = asyncio.create_task(release_soon())
    async with aredis_lock(name, ttl=5, blocking_timeout=10) as lease:
        assert lease.fencing_token == holder.fencing_token + 1
    await releaser


async def test_async_lost_lease_raises_lock_lost(name):
    with pytest.raises(LockLost, match="lock lost"):
        async with aredis_lock(name, ttl=0.1):
            await asyncio.sleep(0.2)


# ------------------------------------------------- replies lost in flight


class ReplyWithholdingProxy:
    """A TCP proxy to a Redis that drops every reply of its first connection after that one's first script
    call: the command runs, its answer never arrives (a socket timeout, or a task cancelled mid-call)."""

    def __init__(self, target_port: int) -> None:
        self.target_port, self.port, self.connections, self.withheld = target_port, free_port(), 0, False
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            state = {"first": self.connections == 1, "drop": False}
            threading.Thread(target=self._pipe, args=(client, upstream, state, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, state, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, state: dict, to_redis: bool) -> None:
        try:
            while data := src.recv(65536):
                if to_redis and state["first"] and b"EVAL" in data:
                    state["drop"] = self.withheld = True
                if to_redis or not state["drop"]:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            src.close()
            dst.close()

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def withholding(spare_redis):
    """(proxy, direct client) on a spare Redis whose scripts are loaded, so the first call is the acquire."""
    direct = redis.Redis.from_url(spare_redis.url)
    for script in (ACQUIRE, RELEASE):
        direct.script_load(script.source)
    proxy = ReplyWithholdingProxy(spare_redis.port)
    yield proxy, direct
    proxy.close()


def test_an_acquire_whose_reply_times_out_gives_its_lease_back(withholding, name):
    proxy, direct = withholding
    with override_settings(REDIS_URL=proxy.url, REDIS_SOCKET_TIMEOUT=1):
        reset_clients()
        try:
            with pytest.raises(LockUnavailable, match="could not acquire"), redis_lock(name, ttl=30):
                pass
        finally:
            reset_clients()
    assert proxy.withheld  # the acquire reached Redis and ran; only its reply was lost
    assert direct.get(lock_key(name)) is None  # without the give-back it would be held for 30 s by nobody


async def test_an_acquire_cancelled_in_flight_gives_its_lease_back(withholding, name):
    proxy, direct = withholding
    with override_settings(REDIS_URL=proxy.url, REDIS_SOCKET_TIMEOUT=5):
        reset_clients()
        task = asyncio.create_task(ahold(name, ttl=30))
        try:
            for _ in range(200):  # until the acquire has run in Redis, its reply withheld
                if await asyncio.to_thread(direct.exists, lock_key(name)):
                    break
                await asyncio.sleep(0.05)
            assert proxy.withheld
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=20)  # bounded: a hang fails the test
            assert done, "the cancelled acquire did not finish"
            with pytest.raises(asyncio.CancelledError):
                task.result()
        finally:
            task.cancel()  # a no-op once it is done
            reset_clients()
    assert direct.get(lock_key(name)) is None  # without the give-back it would be held for 30 s by nobody


# ------------------------------------------------------- real processes


def _contend(name: str, counter_key: str, barrier, rounds: int, out: str) -> None:
    """One contending process: acquire `rounds` times, log monotonic hold intervals and tokens."""
    client = get_redis()
    records = []
    barrier.wait(timeout=30)
    for _ in range(rounds):
        with redis_lock(name, ttl=10, blocking_timeout=40) as lease:
            start = time.monotonic()
            # A deliberately non-atomic read-modify-write: any overlap of holders loses an increment.
            value = int(client.get(counter_key) or 0)
            client.set(counter_key, value + 1)
            end = time.monotonic()
        records.append((start, end, lease.fencing_token, os.getpid()))
        if len(records) % 4 == 0:
            time.sleep(0.001)  # let others in; the lock does not promise fairness
    with open(out, "w") as fh:
        json.dump(records, fh)


@pytest.mark.slow
def test_contention_torture_no_overlap_increasing_tokens_no_deadlock(name, tmp_path):
    processes, rounds = 24, 40
    counter_key = f"{lock_key(name)}:counter"
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(processes)
    procs = [
        ctx.Process(target=_contend, args=(name, counter_key, barrier, rounds, str(tmp_path / f"{i}.json")))
        for i in range(processes)
    ]
    for proc in procs:
        proc.start()
    deadline = time.monotonic() + 50
    for proc in procs:
        proc.join(timeout=max(0.1, deadline - time.monotonic()))
    stuck = [proc.pid for proc in procs if proc.is_alive()]
    for proc in procs:
        if proc.is_alive():
            proc.kill()
    increments = int(get_redis().get(counter_key) or 0)
    get_redis().delete(counter_key)
    assert not stuck, f"processes still waiting (deadlock?): {stuck}"
    assert [proc.exitcode for proc in procs] == [0] * processes

    holds = sorted(tuple(r) for i in range(processes) for r in json.loads((tmp_path / f"{i}.json").read_text()))
    assert len(holds) == processes * rounds
    for (_, end, token, _), (next_start, _, next_token, _) in itertools.pairwise(holds):
        assert end < next_start, "two holders overlapped"
        assert token < next_token, "fencing tokens went backwards in acquisition order"
    assert increments == processes * rounds
    handovers = sum(a[3] != b[3] for a, b in itertools.pairwise(holds))
    assert handovers >= processes, "the processes did not really contend"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_paused_holder_loses_the_lock_and_its_fenced_write_is_rejected(name, make_user):
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from redis_toolkit.locks import fence_advance

    make_user("guarded", first_name="nobody")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": test_database_url()}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.redis_toolkit.lock_holder", name, "guarded"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline().split()
        assert line[:1] == ["held"], line
        stale_token = int(line[1])
        time.sleep(1.5)  # the holder's watchdog keeps its 1 s lease alive meanwhile
        assert not is_free(name)

        os.kill(child.pid, signal.SIGSTOP)  # a long GC pause, a frozen VM...
        with redis_lock(name, ttl=10, blocking_timeout=10) as lease:
            assert lease.fencing_token > stale_token
            with transaction.atomic():
                fence_advance(f"lock-test:{name}", lease.fencing_token)
                get_user_model().objects.filter(username="guarded").update(first_name="new holder")

            os.kill(child.pid, signal.SIGCONT)
            child.stdin.write("go\n")
            child.stdin.flush()
            outcome = json.loads(child.stdout.readline())
            assert child.wait(timeout=30) == 0
            assert held_by(name, lease)  # the stale release did not touch it
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
        child.wait()

    assert outcome == {"write": "StaleFencingToken", "release": "LockLost", "lost": True}
    assert get_user_model().objects.get(username="guarded").first_name == "new holder"
    assert Fence.objects.get(resource=f"lock-test:{name}").last_token == lease.fencing_token
