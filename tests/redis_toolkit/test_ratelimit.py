"""Rate limits: exact under concurrency, no burst across window edges, failure policies, config, command, admin."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings

from chatsite.env import ConfigError, rate_limits_from_env
from chatsite.ws import JsonSocketConsumer
from redis_toolkit.client import redis_outage, reset_clients
from redis_toolkit.ratelimit.core import (
    SLIDING_LOG,
    RateLimitUnavailable,
    arate_limit,
    hits_key,
    log_key,
    rate_limit,
    rate_limit_hits,
    rate_limit_reset,
    rate_limit_status,
)
from redis_toolkit.ratelimit.rules import Rule, Window
from tests.conftest import run_manage

pytestmark = pytest.mark.usefixtures("redis_client")


@pytest.fixture(autouse=True)
def _no_outage_carried_over():
    """The outage record is per process: one test's Redis going down must not pause the next's checks."""
    redis_outage.recovered()
    yield
    redis_outage.recovered()


@pytest.fixture
def rule(settings):
    """`name = rule("5/1m")`: a rule of this test's own in RATE_LIMITS, so keys and counters start empty."""

    def make(limits: str, fail: str = "closed") -> str:
        name = f"tests.{uuid.uuid4().hex[:12]}"
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, name: {"limits": limits, "fail": fail}}
        return name

    return make


def redis_now(redis_client) -> float:
    seconds, micros = redis_client.time()
    return seconds + micros / 1e6


def sleep_until_fraction(redis_client, fraction: float) -> None:
    """Sleep until Redis's clock is `fraction` into a second (where a fixed window would be)."""
    now = redis_now(redis_client)
    wait = (fraction - now % 1) % 1
    time.sleep(wait)


# ---------------------------------------------------------------------------------------- exactness


def test_allows_up_to_the_limit_then_refuses_with_retry_after(rule):
    name = rule("3/1m")

    results = [rate_limit(name, "alice") for _ in range(4)]

    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0]
    assert 59 < results[3].retry_after <= 60
    assert [w.limit for w in results[3].windows] == [3]
    assert results[3].rule == name
    assert rate_limit(name, "bob").allowed  # another key has its own count


def test_inline_rule_needs_no_settings():
    key = uuid.uuid4().hex

    assert [rate_limit((2, 60), key).allowed for _ in range(3)] == [True, True, False]
    assert rate_limit((2, 60), key).rule == "2/1m"


def test_exactly_5_of_100_concurrent_threads_are_allowed(rule):
    name = rule("5/1m")
    start = threading.Barrier(100)

    def hit(_):
        start.wait()
        return rate_limit(name, "hot-key").allowed

    with ThreadPoolExecutor(max_workers=100) as pool:
        allowed = list(pool.map(hit, range(100)))

    assert allowed.count(True) == 5


async def test_exactly_5_of_100_concurrent_asyncio_tasks_are_allowed(rule):
    name = rule("5/1m")

    results = await asyncio.gather(*(arate_limit(name, "hot-key") for _ in range(100)))

    assert sum(result.allowed for result in results) == 5
    assert sorted(result.remaining for result in results if result.allowed) == [0, 1, 2, 3, 4]


def test_no_burst_above_the_limit_across_a_window_edge(rule, redis_client):
    name = rule("5/1s")
    sleep_until_fraction(redis_client, 0.7)  # late in a second, where a fixed window would end
    assert all(rate_limit(name, "edge").allowed for _ in range(5))

    sleep_until_fraction(redis_client, 0.15)  # a fixed window would have started afresh here
    refused = [rate_limit(name, "edge") for _ in range(5)]

    assert not any(result.allowed for result in refused)
    time.sleep(refused[-1].retry_after + 0.05)
    assert rate_limit(name, "edge").allowed


def test_hammering_never_allows_more_than_the_limit_in_any_window(rule):
    name, limit, period = rule("5/0.5s"), 5, 0.5
    allowed: list[tuple[float, float]] = []  # (sent, answered) on this process's clock
    deadline = time.monotonic() + 1.3
    while time.monotonic() < deadline:
        sent = time.monotonic()
        if rate_limit(name, "hammer").allowed:
            allowed.append((sent, time.monotonic()))

    # Redis stamped each allowed hit between its send and its answer; limit + 1 allowed hits must
    # therefore span at least a period even measured from the first's send to the last's answer.
    for first, last in zip(allowed, allowed[limit:], strict=False):
        assert last[1] - first[0] >= period
    assert len(allowed) >= 2 * limit  # the window really slid: it refilled at least once


def test_every_window_must_allow_and_a_refusal_counts_nothing(rule):
    name = rule("2/1s, 3/1m")  # burst and sustained

    assert [rate_limit(name, "k").allowed for _ in range(3)] == [True, True, False]  # the burst refuses
    sustained = rate_limit_status(name, "k")[1]
    assert sustained.remaining == 1  # the refused hit was not counted in the other window

    time.sleep(1.05)
    assert rate_limit(name, "k").allowed  # burst window slid; the sustained one has room for one
    refused = rate_limit(name, "k")
    assert not refused.allowed
    assert [w.remaining for w in refused.windows] == [1, 0]  # the sustained window is the one refusing now
    assert 58 < refused.retry_after <= 60


def test_script_agrees_with_a_reference_model_of_the_sliding_window(redis_client):
    """Random checks, looks and pauses against three windows: every reply and the stored log match a model."""
    rule = Rule("model", (Window(3, 0.01), Window(7, 0.05), Window(12, 0.15)), fail_open=False)
    key, hits = log_key("model", uuid.uuid4().hex), hits_key()
    rnd = random.Random(7)
    stamps: list[int] = []  # every stamp counted, newest first, as the model keeps them
    refusals = 0
    for step in range(400):
        cost = rnd.choice([0, 1, 1, 1])  # 0: only look
        head_before = int(redis_client.lindex(key, 0) or 0)
        retry, head_offset, *windows = map(
            int, SLIDING_LOG(redis_client, [key, hits], [cost, *rule.script_args]).split()
        )
        if retry == 0 and cost:
            now = int(redis_client.lindex(key, 0))  # an allowed check stamps Redis's now
            stamps[:0] = [now] * cost
        elif head_before:
            now = head_before - head_offset
        else:
            assert windows == [w.limit if i % 2 == 0 else 0 for w in rule.windows for i in (0, 1)], step
            continue
        blockers = []
        for i, w in enumerate(rule.windows):
            young = [s for s in stamps if s > now - w.micros][: w.limit]
            assert windows[2 * i] == w.limit - len(young), step
            if retry == 0:
                assert windows[2 * i + 1] == (young[-1] + w.micros - now if young else 0), step
            elif len(young) + cost > w.limit:
                blockers.append(stamps[w.limit - cost] + w.micros - now)
        if retry:
            refusals += 1
            assert retry == max(blockers), step
        kept = [int(s) for s in redis_client.lrange(key, 0, -1)]
        assert kept == stamps[: len(kept)], step  # only the newest are kept, in order
        if rnd.random() < 0.25:
            time.sleep(rnd.choice([0.0005, 0.002, 0.005, 0.015, 0.04]))
    assert 20 < refusals < 380  # both paths were exercised


def test_looking_at_a_key_counts_nothing(rule):
    name = rule("5/1m")

    rate_limit(name, "k")
    assert [w.remaining for w in rate_limit_status(name, "k")] == [4]
    assert rate_limit(name, "k").remaining == 3


def test_result_describes_every_window_and_the_fewest_remaining(rule):
    name = rule("2/10s, 100/1h")

    result = rate_limit(name, "k")

    assert result.remaining == 1
    assert [(w.limit, w.period, w.remaining) for w in result.windows] == [(2, 10, 1), (100, 3600, 99)]
    assert 9 < result.windows[0].reset <= 10


def test_stamps_come_from_the_redis_clock(rule, redis_client):
    name = rule("5/1m")
    rate_limit(name, "k")

    stamp = int(redis_client.lindex(log_key(name, "k"), 0)) / 1e6

    assert abs(stamp - redis_now(redis_client)) < 1
    assert 60_000 < redis_client.pttl(log_key(name, "k")) <= 61_000  # the log outlives its longest window


def test_long_keys_are_hashed_and_still_counted(rule):
    name, key = rule("1/1m"), "x" * 5000

    assert rate_limit(name, key).allowed
    assert not rate_limit(name, key).allowed
    assert len(log_key(name, key)) < 200


def test_refusals_are_counted_per_rule(rule):
    name, other = rule("1/1m"), rule("1/1m")
    for _ in range(4):
        rate_limit(name, "k")

    hits = rate_limit_hits()

    assert hits[name] == 3
    assert other not in hits


def test_reset_forgets_one_key(rule):
    name = rule("1/1m")
    rate_limit(name, "a")
    rate_limit(name, "b")

    assert rate_limit_reset(name, "a") is True
    assert rate_limit(name, "a").allowed
    assert not rate_limit(name, "b").allowed


def test_unknown_rule_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown rate-limit rule 'chat\.mesage'.*chat\.message"):
        rate_limit("chat.mesage", "k")
    with pytest.raises(ValueError, match="inline rule"):
        rate_limit((5,), "k")


# ----------------------------------------------------------------------------- Redis unreachable


def _outage_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "redis_toolkit.client"]


def test_fail_open_rule_allows_while_redis_is_unreachable_and_logs_once(rule, spare_redis, caplog):
    name = rule("1/1m", fail="open")
    with override_settings(REDIS_URL=spare_redis.url):
        reset_clients()
        assert rate_limit(name, "k").allowed
        assert not rate_limit(name, "k").allowed
        spare_redis.stop()
        results = [rate_limit(name, "k") for _ in range(5)]
    reset_clients()

    assert all(result.allowed and result.degraded for result in results)
    errors = [r for r in _outage_records(caplog) if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "unreachable" in errors[0].getMessage()


def test_fail_closed_rule_refuses_while_redis_is_unreachable(rule, spare_redis, caplog):
    name = rule("100/1m", fail="closed")
    with override_settings(REDIS_URL=spare_redis.url):
        reset_clients()
        spare_redis.stop()
        for _ in range(3):
            with pytest.raises(RateLimitUnavailable):
                rate_limit(name, "k")
    reset_clients()

    assert len([r for r in _outage_records(caplog) if r.levelno == logging.ERROR]) == 1


async def test_async_twin_follows_the_failure_policy_too(rule, spare_redis):
    closed, open_ = rule("100/1m", fail="closed"), rule("100/1m", fail="open")
    with override_settings(REDIS_URL=spare_redis.url):
        reset_clients()
        spare_redis.stop()
        with pytest.raises(RateLimitUnavailable):
            await arate_limit(closed, "k")
        assert (await arate_limit(open_, "k")).degraded
    reset_clients()


def test_counting_resumes_and_recovery_is_logged_when_redis_is_back(rule, spare_redis, caplog, monkeypatch):
    monkeypatch.setattr("redis_toolkit.ratelimit.core.PROBE_SECONDS", 0.0)  # retry Redis at every check
    name = rule("2/1m", fail="open")
    with override_settings(REDIS_URL=spare_redis.url):
        reset_clients()
        spare_redis.stop()
        assert rate_limit(name, "k").degraded
        spare_redis.start()  # an empty server: its script cache is empty too
        back = [rate_limit(name, "k") for _ in range(3)]
    reset_clients()

    assert [(r.allowed, r.degraded) for r in back] == [(True, False), (True, False), (False, False)]
    levels = [r.levelno for r in _outage_records(caplog)]
    assert levels == [logging.ERROR, logging.WARNING]  # down once, back once
    assert "answers again" in _outage_records(caplog)[1].getMessage()


# ----------------------------------------------------------------------------------- configuration


def test_environment_overrides_numbers_and_failure_policy():
    rules = {"chat.message": {"limits": "10/10s, 60/1m", "fail": "open"}}
    environ = {"RATE_LIMIT_CHAT_MESSAGE": "5/5s,30/60s", "RATE_LIMIT_CHAT_MESSAGE_FAIL": "closed"}

    assert rate_limits_from_env(rules, environ) == {"chat.message": {"limits": "5/5s, 30/1m", "fail": "closed"}}
    assert rate_limits_from_env(rules, {}) == rules


@pytest.mark.parametrize(
    ("environ", "expect"),
    [
        ({"RATE_LIMIT_CHAT_MESSAGE": "lots"}, "RATE_LIMIT_CHAT_MESSAGE: 'lots' is not a limit"),
        ({"RATE_LIMIT_CHAT_MESSAGE": "0/1m"}, "RATE_LIMIT_CHAT_MESSAGE: '0/1m' must allow between 1"),
        ({"RATE_LIMIT_CHAT_MESSAGE": "5/1m, 9/60s"}, "share a period"),
        ({"RATE_LIMIT_CHAT_MESSAGE": "10/1s, 10/1m"}, "'10/1s' can never be reached under '10/1m'"),
        ({"RATE_LIMIT_CHAT_MESSAGE_FAIL": "maybe"}, "RATE_LIMIT_CHAT_MESSAGE_FAIL='maybe' is not a failure policy"),
        ({"RATE_LIMIT_CHAT_MESAGE": "5/1m"}, "RATE_LIMIT_CHAT_MESAGE names no rate-limit rule"),
    ],
)
def test_bad_environment_value_is_a_config_error_naming_the_variable(environ, expect):
    rules = {"chat.message": {"limits": "10/10s", "fail": "open"}}

    with pytest.raises(ConfigError, match=expect.replace("(", r"\(")):
        rate_limits_from_env(rules, environ)


def test_bad_rule_in_settings_is_a_config_error():
    with pytest.raises(ConfigError, match=r"RATE_LIMITS\['x'\]\['fail'\]"):
        rate_limits_from_env({"x": {"limits": "1/1s", "fail": "sometimes"}}, {})
    with pytest.raises(ConfigError, match="must be"):
        rate_limits_from_env({"x": {"limit": 5, "period": 60}}, {})


def test_bad_environment_value_stops_startup_with_one_line():
    result = run_manage({"DEBUG": "1", "RATE_LIMIT_AUTH_LOGIN": "ten a minute"}, "check")

    assert result.returncode != 0
    message = result.stderr.strip()
    assert "\n" not in message, message
    assert "RATE_LIMIT_AUTH_LOGIN" in message


# ------------------------------------------------------------------------------- command and admin


def test_status_command_shows_each_window_and_the_refusals(rule, capsys):
    name = rule("2/1m, 10/1h")
    for _ in range(3):
        rate_limit(name, "ip:203.0.113.9")

    call_command("ratelimit", "status", name, "ip:203.0.113.9")

    out = capsys.readouterr().out
    assert f"{name} ip:203.0.113.9: refused now" in out
    assert "2 per 60s: 2 used, 0 left" in out
    assert "10 per 3600s: 2 used, 8 left" in out
    assert "refused (all keys, this rule): 1" in out


def test_reset_command_unlocks_the_key(rule, capsys):
    name = rule("1/1m")
    rate_limit(name, "username:alice")

    call_command("ratelimit", "reset", name, "username:alice")

    assert "reset" in capsys.readouterr().out
    assert rate_limit(name, "username:alice").allowed


def test_command_refuses_an_unknown_rule_listing_the_known_ones():
    with pytest.raises(CommandError, match=r"Unknown rate-limit rule 'nope'; known rules: .*auth\.login"):
        call_command("ratelimit", "status", "nope", "k")


ADMIN_PAGE = "/admin/redis_toolkit/ratelimitrule/"


def test_admin_page_shows_refusals_per_rule_and_a_superuser_resets_a_key(rule, make_user, db):
    name = rule("1/1m")
    for _ in range(3):
        rate_limit(name, "user:7")
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))

    page = client.get(ADMIN_PAGE, {"rule": name, "key": "user:7"}).content.decode()
    assert f'<th scope="row">{name}</th>' in page
    assert '<td class="refused">2</td>' in page
    assert "Reset this key" in page
    assert ADMIN_PAGE in client.get("/admin/").content.decode()  # listed on the admin index

    client.post(ADMIN_PAGE, {"rule": name, "key": "user:7"})
    assert rate_limit(name, "user:7").allowed


def test_staff_with_view_permission_look_but_cannot_reset(rule, make_user, db):
    name = rule("1/1m")
    rate_limit(name, "user:8")
    staff = make_user(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_ratelimitrule"))
    client = Client()
    client.force_login(staff)

    page = client.get(ADMIN_PAGE, {"rule": name, "key": "user:8"}).content.decode()
    assert "1 per 60 s" in page
    assert "Reset this key" not in page
    assert client.post(ADMIN_PAGE, {"rule": name, "key": "user:8"}).status_code == 403
    assert not rate_limit(name, "user:8").allowed


def test_admin_page_is_for_staff_only(make_user, db):
    client = Client()
    client.force_login(make_user())

    assert client.get(ADMIN_PAGE).status_code == 302  # to the admin login


# ----------------------------------------------------------------------------------------- WebSocket


class PingConsumer(JsonSocketConsumer):
    """Test-only: answers `ping` with `pong`, behind a rate limit, as a room consumer would."""

    def __init__(self, *args, rule: str, quiet: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.rule, self.quiet = rule, quiet

    async def frame_ping(self, frame: dict) -> None:
        if not await self.check_rate(self.rule, str(self.user.pk), quiet=self.quiet):
            return
        await self.send_json({"type": "pong"})


async def _connect(user, **initkwargs) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(PingConsumer.as_asgi(**initkwargs), "/ws/test/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@pytest.mark.django_db(transaction=True)
async def test_socket_over_the_limit_gets_a_rate_limited_error_and_stays_open(rule, make_user):
    user = await sync_to_async(make_user)()
    communicator = await _connect(user, rule=rule("2/1m", fail="open"))

    replies = []
    for _ in range(4):
        await communicator.send_json_to({"type": "ping"})
        replies.append(await communicator.receive_json_from())

    assert [reply["type"] for reply in replies] == ["pong", "pong", "error", "error"]
    error = replies[2]
    assert error["code"] == "rate_limited"
    assert 58 < error["retry_after"] <= 60
    assert "send again in 60 seconds" in error["detail"]
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_quiet_check_drops_the_frame_without_an_error(rule, make_user):
    user = await sync_to_async(make_user)()
    communicator = await _connect(user, rule=rule("1/1m", fail="open"), quiet=True)

    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from())["type"] == "pong"
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_socket_gets_an_unavailable_error_when_a_fail_closed_rule_cannot_be_checked(rule, make_user, spare_redis):
    user = await sync_to_async(make_user)()
    name = rule("5/1m", fail="closed")
    with override_settings(REDIS_URL=spare_redis.url):
        reset_clients()
        spare_redis.stop()
        communicator = await _connect(user, rule=name)
        await communicator.send_json_to({"type": "ping"})
        error = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
    reset_clients()

    assert (error["type"], error["code"]) == ("error", "unavailable")
    assert error["retry_after"] > 0
