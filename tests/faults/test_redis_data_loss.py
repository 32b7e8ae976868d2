"""Redis losing data under the event pipeline: restarted empty, or restored from an older AOF copy.

Real processes: a redis-server of the test's own, `run_workers` children, the test as the producer.
"""

import os
import re
import shutil
import signal
import time

import pytest
import redis
from django.db import transaction
from django.test import override_settings

from chat.services import message_post, room_create
from notifications.models import Notification
from redis_toolkit.client import redis_key, reset_clients
from redis_toolkit.events.outbox import RELAY_LOCK, publish_event
from redis_toolkit.models import Fence, OutboxEvent
from tests.conftest import SpareRedis, wait_until
from tests.redis_toolkit.stream_handlers import GROUP

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def all_sent() -> bool:
    return not OutboxEvent.objects.filter(sent_at__isnull=True).exists()


def post_mentions(room, author, numbers: range) -> None:
    for n in numbers:
        message_post(room=room, author=author, body=f"@bob number {n}", client_id=f"m{n}")


def test_mentions_sent_before_redis_restarts_empty_are_all_notified_once(spare_redis, worker_process, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    room = room_create(slug="ops", title="Ops", private=False, created_by=alice)
    notified = Notification.objects.filter(recipient=bob).count
    workers = {"REDIS_URL": spare_redis.url}
    with override_settings(REDIS_URL=spare_redis.url):
        reset_clients()
        # The relay runs in a process of its own: what it marked sent, only a stream holds.
        relay = worker_process("--group", GROUP, **workers)
        handler = worker_process("--group", "notifications", "--no-relay", "--no-periodic", **workers)
        try:
            post_mentions(room, alice, range(20))
            wait_until(lambda: notified() == 20, timeout=30, why=lambda: handler.log)
            os.kill(handler.proc.pid, signal.SIGSTOP)  # a long pause: it handles nothing of what follows

            post_mentions(room, alice, range(20, 60))
            wait_until(all_sent, timeout=20, why=lambda: relay.log)
            spare_redis.stop()
            spare_redis.start()  # no AOF: streams, groups, what was pending and the lock state are gone
            restarted = time.monotonic()
            os.kill(handler.proc.pid, signal.SIGCONT)
            wait_until(lambda: notified() == 60, timeout=40, why=lambda: relay.log + handler.log)
            recovered = time.monotonic() - restarted
        finally:
            os.kill(handler.proc.pid, signal.SIGCONT)
            reset_clients()

    # Every mention notified exactly once, those handled before the loss included (handlers are idempotent).
    assert notified() == 60
    assert Notification.objects.filter(recipient=bob).values("event_id").distinct().count() == 60
    resent = [int(n) for n in re.findall(r"sent (\d+) event\(s\) again", relay.log)]
    assert sum(resent) >= 40, relay.log  # at least every row sent since the groups last caught up
    print(f"restart empty: {sum(resent)} events sent again, all 60 notified {recovered:.1f}s after the restart")


def test_relay_resumes_after_redis_is_restored_from_an_older_aof(tmp_path, worker_process):
    server = SpareRedis(data_dir=tmp_path / "redis")
    server.start()
    direct = redis.Redis.from_url(server.url)
    direct.config_set("appendfsync", "always")  # each write on disk: the copy below is exact
    aof, older = tmp_path / "redis" / "appendonly.aof", tmp_path / "older.aof"
    counter = redis_key("lock", "{" + RELAY_LOCK + "}", "fence")

    def tokens() -> list[int]:
        return [int(t) for t in re.findall(r"outbox relay active \(fencing token (\d+)\)", relay.log)]

    def publish(numbers: range) -> None:
        for n in numbers:
            with transaction.atomic():
                publish_event("test.effect", {"n": n})
        # Generous: on a loaded machine SQLite's write lock alone can take seconds to come round.
        wait_until(all_sent, timeout=40, why=lambda: relay.log)

    try:
        with override_settings(REDIS_URL=server.url):
            reset_clients()
            relay = worker_process("--group", GROUP, REDIS_URL=server.url)
            publish(range(10))
            # The older copy: the counter at the relay's first lease, no lease held.
            direct.delete(redis_key("lock", "{" + RELAY_LOCK + "}"))
            shutil.copy(aof, older)
            for leases in (2, 3):  # the relay loses its lease and takes a newer one, which the database accepts
                wait_until(lambda leases=leases: len(tokens()) >= leases, timeout=20, why=lambda: relay.log)
                publish(range(10 * leases - 10, 10 * leases))
                if leases == 2:
                    direct.delete(redis_key("lock", "{" + RELAY_LOCK + "}"))
            accepted = Fence.objects.get(resource=RELAY_LOCK).last_token

            server.stop()
            shutil.copy(older, aof)
            server.start()
            direct = redis.Redis.from_url(server.url)
            assert int(direct.get(counter)) < accepted  # restored behind what the database already accepted
            restored, leases = time.monotonic(), len(tokens())
            # The relay finds its lease gone and takes one from the restored counter, below `accepted`.
            wait_until(lambda: len(tokens()) > leases, timeout=30, why=lambda: relay.log)
            publish(range(30, 40))
            resumed = time.monotonic() - restored
    finally:
        reset_clients()
        server.stop()

    assert "raising the fencing counter to" in relay.log, relay.log
    assert tokens()[-1] > accepted
    assert Fence.objects.get(resource=RELAY_LOCK).last_token == tokens()[-1]
    stood_down = relay.log.count("outbox relay stood down: stale fencing token")
    print(f"older AOF: relay stood down {stood_down} time(s), all 40 events sent {resumed:.1f}s after the restore")
