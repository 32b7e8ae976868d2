"""Periodic maintenance: every worker tries, one runs it per interval."""

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from chat import presence
from redis_toolkit.events.periodic import PeriodicRunner, PeriodicTask, periodic_task, run_due

pytestmark = pytest.mark.usefixtures("redis_client")


def test_a_task_runs_once_per_interval_however_many_workers_try():
    runs = []
    task = PeriodicTask("test.once", every=30, func=lambda: runs.append(1))

    results = [run_due(task) for _ in range(5)]

    assert results == [True, False, False, False, False]
    assert runs == [1]


def test_a_task_runs_again_once_its_interval_has_passed():
    runs = []
    task = PeriodicTask(f"test.again-{uuid.uuid4().hex[:8]}", every=0.5, func=lambda: runs.append(1))

    assert [run_due(task), run_due(task)] == [True, False]
    time.sleep(0.6)
    assert run_due(task) is True
    assert runs == [1, 1]


def test_a_failed_task_gives_its_lock_back_for_the_next_try():
    def failing():
        raise RuntimeError("job failed")

    task = PeriodicTask(f"test.failing-{uuid.uuid4().hex[:8]}", every=60, func=failing)

    with pytest.raises(RuntimeError, match="job failed"):
        run_due(task)
    with pytest.raises(RuntimeError, match="job failed"):
        run_due(task)  # tried again at once, not a whole interval later


def test_concurrent_runners_execute_a_task_once():
    runs = []
    task = PeriodicTask("test.concurrent", every=30, func=lambda: runs.append(threading.get_ident()))
    stop = threading.Event()
    runners = [threading.Thread(target=PeriodicRunner([task], tick=0.01, jitter=0).run, args=(stop,)) for _ in range(8)]
    for runner in runners:
        runner.start()
    stop.wait(0.5)
    stop.set()
    for runner in runners:
        runner.join()

    assert len(runs) == 1


@pytest.mark.parametrize("every", [0, -1, "soon"])
def test_bad_interval_is_refused(every):
    with pytest.raises(ValueError, match="every="):
        periodic_task("test.bad", every=every)


async def test_presence_sweep_finds_rooms_with_expired_users(monkeypatch):
    monkeypatch.setattr(presence, "TTL_SECONDS", 1)
    await presence.apresence_join(room_id=77, user_id=1, username="ghost", socket_id="dead-process")
    monkeypatch.setattr(presence, "TTL_SECONDS", 40)
    await presence.apresence_join(room_id=77, user_id=2, username="live", socket_id="alive")
    import asyncio

    await asyncio.sleep(1.1)

    assert presence.presence_sweep() == {77: [{"id": 2, "username": "live", "state": "active"}]}
    assert presence.presence_sweep() == {}


@pytest.mark.django_db
def test_purge_deletes_old_read_notifications_only(make_user):
    from notifications.handlers import purge_read
    from notifications.models import Notification

    bob = make_user("bob")
    old = timezone.now() - timedelta(days=200)
    for i, read_at in enumerate([old, None, timezone.now()]):
        Notification.objects.create(recipient=bob, kind="mention", event_id=str(i), text="x", read_at=read_at)
    Notification.objects.update(created_at=old)

    purge_read()

    assert sorted(Notification.objects.values_list("event_id", flat=True)) == ["1", "2"]
