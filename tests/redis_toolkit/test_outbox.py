"""The transactional outbox: no event without its change, sent right after commit or later by the relay."""

import json
import logging
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from redis_toolkit.client import get_redis, reset_clients
from redis_toolkit.events.codec import known_streams_key, stream_key
from redis_toolkit.events.outbox import (
    RELAY_LOCK,
    TransactionRequired,
    intact_key,
    outbox_mark_handled,
    outbox_purge,
    outbox_relay_batch,
    publish_event,
)
from redis_toolkit.locks import StaleFencingToken, fence_advance, redis_lock
from redis_toolkit.models import OutboxEvent

pytestmark = pytest.mark.usefixtures("clean_streams")


@pytest.fixture(autouse=True)
def relay_takes_rows_of_any_age(settings):
    """No head start for the fast path (STREAMS_RELAY_MIN_AGE_MS): the relay takes every unsent row."""
    settings.STREAMS_RELAY_MIN_AGE_MS = 0


def stream_entries(stream: str = "test") -> list[dict]:
    return [fields for _, fields in get_redis("tests", decode_responses=True).xrange(stream_key(stream))]


@pytest.mark.django_db(transaction=True)
def test_publish_event_outside_a_transaction_is_refused():
    with pytest.raises(TransactionRequired, match=r"inside transaction\.atomic\(\)"):
        publish_event("test.effect", {"n": 1})

    assert not OutboxEvent.objects.exists()


def change_that_fails(n: int) -> None:
    with transaction.atomic():
        publish_event("test.effect", {"n": n})
        raise RuntimeError("the change fails after its event was recorded")


@pytest.mark.django_db(transaction=True)
def test_event_is_rolled_back_with_its_change():
    with pytest.raises(RuntimeError):
        change_that_fails(1)

    assert not OutboxEvent.objects.exists()
    assert stream_entries() == []


@pytest.mark.django_db(transaction=True)
def test_event_of_a_rolled_back_savepoint_never_reaches_the_stream():
    with transaction.atomic():
        kept = publish_event("test.effect", {"n": 1})
        with pytest.raises(RuntimeError):
            change_that_fails(2)

    assert [e["id"] for e in stream_entries()] == [str(kept.pk)]
    assert list(OutboxEvent.objects.values_list("pk", flat=True)) == [kept.pk]


@pytest.mark.django_db(transaction=True)
def test_committed_event_is_in_its_stream_right_after_commit():
    with transaction.atomic():
        event = publish_event("test.effect", {"n": 7, "at": timezone.now()})

    [fields] = stream_entries()
    assert fields["id"] == str(event.pk)
    assert fields["type"] == "test.effect"
    assert json.loads(fields["payload"])["n"] == 7
    assert OutboxEvent.objects.get().stream == "test"


@pytest.mark.django_db(transaction=True)
def test_relay_marks_what_the_fast_path_pushed_as_sent_without_sending_it_again():
    with transaction.atomic():
        publish_event("test.effect", {"n": 1})

    with redis_lock(RELAY_LOCK, ttl=5.0, blocking=False) as lease:
        assert outbox_relay_batch(fencing_token=lease.fencing_token) == 1

    assert len(stream_entries()) == 1
    assert OutboxEvent.objects.get().sent_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("Bad Type!", {}), ValueError, r"type='Bad Type!' is not a valid name"),
        (("test.effect", [1, 2]), TypeError, r"payload=\.\.\.\) takes a dict, not list"),
        (("test.effect", {"obj": object()}), TypeError, r"not JSON-serialisable"),
    ],
)
def test_bad_arguments_are_rejected_with_a_clear_error(args, error, message):
    with pytest.raises(error, match=message):
        publish_event(*args)


@pytest.mark.django_db
def test_relay_sends_waiting_rows_in_id_order_and_marks_them_sent():
    # Under the `db` fixture the test's transaction never commits: the fast path never runs.
    ids = [publish_event("test.effect", {"n": n}).pk for n in range(5)]

    with redis_lock(RELAY_LOCK, ttl=5.0, blocking=False) as lease:
        sent = outbox_relay_batch(fencing_token=lease.fencing_token)

    assert sent == 5
    assert [int(e["id"]) for e in stream_entries()] == ids
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()


@pytest.mark.django_db
def test_relay_leaves_young_rows_to_the_fast_path(settings):
    settings.STREAMS_RELAY_MIN_AGE_MS = 60_000
    publish_event("test.effect", {"n": 1})

    with redis_lock(RELAY_LOCK, ttl=5.0, blocking=False) as lease:
        assert outbox_relay_batch(fencing_token=lease.fencing_token) == 0

    assert stream_entries() == []


@pytest.mark.django_db
def test_relay_with_a_stale_fencing_token_marks_nothing_sent():
    publish_event("test.effect", {"n": 1})
    with redis_lock(RELAY_LOCK, ttl=5.0, blocking=False) as old:
        pass
    with redis_lock(RELAY_LOCK, ttl=5.0, blocking=False) as new:
        fence_advance(RELAY_LOCK, new.fencing_token)

    with pytest.raises(StaleFencingToken):
        outbox_relay_batch(fencing_token=old.fencing_token)

    assert OutboxEvent.objects.get().sent_at is None


@pytest.mark.django_db(transaction=True)
def test_events_wait_while_redis_is_down_and_the_outage_is_logged_once(spare_redis, caplog):
    caplog.set_level(logging.ERROR, logger="redis_toolkit.client")
    with override_settings(REDIS_URL=spare_redis.url, REDIS_SOCKET_TIMEOUT=1):
        reset_clients()
        spare_redis.stop()
        for n in range(3):
            with transaction.atomic():
                publish_event("test.effect", {"n": n})

        assert OutboxEvent.objects.filter(sent_at__isnull=True).count() == 3
        assert [r.getMessage().split(" (")[0] for r in caplog.records] == [f"Redis unreachable at {spare_redis.url}"]

        spare_redis.start()
        with redis_lock(RELAY_LOCK, ttl=5.0, blocking=False) as lease:
            assert outbox_relay_batch(fencing_token=lease.fencing_token) == 3
        assert len(stream_entries()) == 3
        assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
    reset_clients()


def read_everything(stream: str, group: str, *, ack: bool) -> None:
    """A consumer group that has read every entry of `stream`, and acknowledged them if `ack`."""
    client = get_redis("tests", decode_responses=True)
    client.xadd(stream_key(stream), {"id": "0", "type": "test.effect", "payload": "{}", "occurred_at": "x"})
    client.sadd(known_streams_key(), stream)
    client.xgroup_create(stream_key(stream), group, id="0")
    for _, entries in client.xreadgroup(group, "c", {stream_key(stream): ">"}):
        if ack:
            client.xack(stream_key(stream), group, *[entry_id for entry_id, _ in entries])


@pytest.mark.django_db
def test_purge_deletes_old_rows_every_group_handled_and_never_unsent_or_unhandled_ones():
    long_ago = timezone.now() - timedelta(days=30)

    def row(stream: str, *, sent: bool, old: bool = True) -> OutboxEvent:
        when = long_ago if old else timezone.now()
        return OutboxEvent.objects.create(
            type="test.effect", stream=stream, payload={}, occurred_at=when, sent_at=when if sent else None
        )

    # Streams of their own: test handlers registered elsewhere read "test", and would not have caught up.
    handled, unsent, recent = row("purged", sent=True), row("purged", sent=False), row("purged", sent=True, old=False)
    pending = row("slow", sent=True)  # its group has read it but not acknowledged it
    assert outbox_purge() == 0  # nothing is known handled yet

    read_everything("purged", "done", ack=True)
    read_everything("slow", "busy", ack=False)
    get_redis("tests").set(intact_key(), 1)
    outbox_mark_handled()

    assert outbox_purge() == 1
    assert handled.pk not in set(OutboxEvent.objects.values_list("pk", flat=True))
    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {unsent.pk, recent.pk, pending.pk}
