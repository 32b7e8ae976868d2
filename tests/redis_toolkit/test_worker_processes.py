"""Real `run_workers` processes on a real Redis: crashes, Redis outages, poison events, shutdown signals."""

import signal
import time
from collections import Counter
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings

from redis_toolkit.client import reset_clients
from redis_toolkit.events.codec import stream_key
from redis_toolkit.events.outbox import publish_event
from redis_toolkit.events.status import dead_letters
from redis_toolkit.models import OutboxEvent
from tests.conftest import wait_until
from tests.redis_toolkit.stream_handlers import GROUP, calls_key, effects_key, fail_key, hung_key

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("clean_streams")]


def post_events(count: int, **payload) -> list[int]:
    """What a chat service does per message: its change and its event in one transaction."""
    ids = []
    for n in range(count):
        with transaction.atomic():
            ids.append(publish_event("test.effect", {"n": n, **payload}).pk)
    return ids


def effect_ids() -> list[int]:
    return sorted(int(name.removeprefix("effect-")) for name in Group.objects.values_list("name", flat=True))


def test_worker_killed_mid_batch_loses_no_event_and_repeats_no_effect(worker_process, redis_client):
    ids = post_events(15) + post_events(1, hang=True) + post_events(14)
    first = worker_process("--group", GROUP, "--consumer", "first", "--batch", "10", "--no-relay")
    # The first delivery of event 16 hangs in its handler: 11-15 are handled but not yet acknowledged.
    wait_until(lambda: redis_client.exists(hung_key(ids[15])), timeout=20, why=lambda: first.log)
    assert redis_client.xpending(stream_key("test"), GROUP)["pending"] == 10

    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    second = worker_process("--group", GROUP, "--consumer", "second", "--batch", "10", "--no-relay")
    wait_until(lambda: redis_client.llen(effects_key()) == 30, timeout=20, why=lambda: second.log)

    calls = Counter(int(i) for i in redis_client.lrange(calls_key(), 0, -1))
    assert [calls[i] for i in ids[10:16]] == [2] * 6  # handled again after the crash...
    effects = [int(i) for i in redis_client.lrange(effects_key(), 0, -1)]
    assert sorted(effects) == ids  # ...yet every event had its effect exactly once
    assert effect_ids() == ids
    wait_until(
        lambda: redis_client.xpending(stream_key("test"), GROUP)["pending"] == 0, timeout=20, why=lambda: second.log
    )
    assert "claimed 10 entries of test" in second.log


def test_events_wait_in_the_outbox_while_redis_is_down_and_are_handled_when_it_returns(worker_process, spare_redis):
    with override_settings(REDIS_URL=spare_redis.url, REDIS_SOCKET_TIMEOUT=1):
        reset_clients()
        worker = worker_process("--group", GROUP, REDIS_URL=spare_redis.url, REDIS_SOCKET_TIMEOUT="1")
        before = post_events(2)
        wait_until(lambda: effect_ids() == before, timeout=20, why=lambda: worker.log)

        spare_redis.stop()
        during = post_events(3)
        assert set(OutboxEvent.objects.filter(sent_at__isnull=True).values_list("pk", flat=True)) == set(during)
        wait_until(lambda: "Redis unreachable" in worker.log, timeout=20, why=lambda: worker.log)
        time.sleep(1.0)  # long enough for the relay and the worker both to run into it

        spare_redis.start()  # an empty Redis: streams and groups are recreated, the relay sends the backlog
        wait_until(lambda: effect_ids() == before + during, timeout=20, why=lambda: worker.log)
    reset_clients()

    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
    log = worker.log
    assert log.count("Redis unreachable") == 1
    assert "Redis answers again" in log
    assert "Traceback" not in log


def test_poison_event_is_dead_lettered_after_max_deliveries_and_replay_moves_it_back(worker_process, redis_client):
    worker = worker_process("--group", GROUP, STREAMS_MAX_DELIVERIES="3")
    with transaction.atomic():
        poison = publish_event("test.effect", {"n": 0}).pk
        redis_client.set(fail_key(poison), 1)
    [healthy] = post_events(1)

    wait_until(lambda: dead_letters(stream="test"), timeout=20, why=lambda: worker.log)
    [letter] = dead_letters(stream="test")
    assert (letter.event_id, letter.group, letter.deliveries) == (str(poison), GROUP, 3)
    assert letter.error.startswith(f"RuntimeError: told to fail on event {poison} (")
    assert Counter(int(i) for i in redis_client.lrange(calls_key(), 0, -1))[poison] == 3
    wait_until(lambda: effect_ids() == [healthy], timeout=20, why=lambda: worker.log)

    redis_client.delete(fail_key(poison))  # the cause is fixed
    out = StringIO()
    call_command("replay_dead_letters", stdout=out)

    assert "replayed 1 dead letter(s)" in out.getvalue()
    wait_until(lambda: effect_ids() == [poison, healthy], timeout=20, why=lambda: worker.log)
    assert dead_letters(stream="test") == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_signal_finishes_the_current_batch_then_exits(worker_process, redis_client, signum):
    ids = post_events(5, sleep=0.2)
    worker = worker_process("--group", GROUP, "--batch", "5", "--no-relay")
    wait_until(lambda: redis_client.llen(calls_key()) >= 1, timeout=20, why=lambda: worker.log)

    worker.proc.send_signal(signum)

    assert worker.proc.wait(timeout=15) == 0
    assert effect_ids() == ids
    assert redis_client.xpending(stream_key("test"), GROUP)["pending"] == 0
    assert "finishing the current batch, then exiting" in worker.log


@pytest.mark.django_db
def test_run_workers_names_the_registered_groups_when_asked_for_another(settings):
    settings.STREAMS_HANDLER_MODULES = ["tests.redis_toolkit.stream_handlers"]

    with pytest.raises(
        CommandError, match=r"--group nope: no handlers registered for it; registered groups: .*toolkit-test"
    ):
        call_command("run_workers", "--group", "nope")
