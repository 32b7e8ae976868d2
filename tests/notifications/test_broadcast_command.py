"""`manage.py broadcast`: clear errors that send nothing, and delivery to the chosen audience."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from chat.services import room_create
from notifications.models import Broadcast, Notification

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_client")]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["  "], "needs some visible text"),
        (["hi", "--room", "nowhere"], "No room called"),
        (["hi", "--users", "alice,ghost"], "No such user: ghost"),
        (["hi", "--users", ","], "at least one username"),
        (["hi", "--as", "ghost"], "No such user: ghost"),
    ],
)
def test_bad_broadcast_explains_and_sends_nothing(make_user, args, error):
    make_user("alice")

    with pytest.raises(CommandError, match=error):
        call_command("broadcast", *args)
    assert not Notification.objects.exists()
    assert not Broadcast.objects.exists()


def test_broadcast_to_listed_users(make_user):
    make_user("alice"), make_user("bob"), make_user("carol")
    out = StringIO()

    call_command("broadcast", "Maintenance at 6", "--users", "alice,bob", stdout=out)

    assert set(Notification.objects.values_list("recipient__username", flat=True)) == {"alice", "bob"}
    assert "to 2 of 2 users" in out.getvalue()


def test_broadcast_to_everyone_and_to_a_room(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    room_create(slug="team", title="Team", private=True, created_by=alice)

    call_command("broadcast", "Hello all", stdout=StringIO())
    call_command("broadcast", "Team only", "--room", "team", stdout=StringIO())

    assert Notification.objects.filter(text="Hello all").count() == 2
    assert list(Notification.objects.filter(text="Team only").values_list("recipient", flat=True)) == [alice.pk]
    assert not Notification.objects.filter(recipient=bob, text="Team only").exists()  # not a member


def test_a_second_broadcast_while_one_runs_is_refused(make_user):
    from notifications.management.commands.broadcast import BROADCAST_LOCK
    from redis_toolkit.locks import redis_lock

    make_user("alice")
    with redis_lock(BROADCAST_LOCK, ttl=10), pytest.raises(CommandError, match="Another broadcast is being sent"):
        call_command("broadcast", "hello", stdout=StringIO())

    assert not Notification.objects.exists()
    assert not Broadcast.objects.exists()


def _redis_stops_before_the_counts(monkeypatch, server):
    """Redis goes away after the lock is taken and the first notifications are stored, before their counts."""
    from notifications import services

    real = services.unread_add_many

    def stop_then_count(changes):
        server.stop()
        return real(changes)

    monkeypatch.setattr(services, "unread_add_many", stop_then_count)


def test_a_broadcast_that_loses_redis_is_stored_and_the_command_says_what_happened(make_user, tmp_path, monkeypatch):
    from django.test import override_settings

    from notifications.handlers import unread_stale
    from notifications.unread import unread_count
    from redis_toolkit.client import redis_outage, reset_clients
    from redis_toolkit.events.codec import Event
    from redis_toolkit.models import OutboxEvent
    from tests.conftest import SpareRedis

    alice, bob = make_user("alice"), make_user("bob")
    server = SpareRedis(tmp_path)  # keeps its data: it comes back with the counts of before
    server.start()
    try:
        with override_settings(REDIS_URL=server.url, REDIS_SOCKET_TIMEOUT=1):
            reset_clients()
            assert (unread_count(alice.pk), unread_count(bob.pk)) == (0, 0)  # sets built in Redis
            _redis_stops_before_the_counts(monkeypatch, server)
            out = StringIO()

            call_command("broadcast", "Maintenance at 6", stdout=out)

            assert Notification.objects.filter(text="Maintenance at 6").count() == 2
            said = out.getvalue()
            assert "to 2 of 2 users" in said
            assert "Redis was unreachable" in said
            server.start()
            reset_clients()
            redis_outage.recovered()
            # Back with its old data: the sets say 0. The stale mark is an outbox event, whatever process reads it.
            row = OutboxEvent.objects.get(type="notifications.unread.stale")
            assert sorted(row.payload["user_ids"]) == sorted([alice.pk, bob.pk])
            unread_stale(Event(row.pk, row.type, row.payload, row.occurred_at, row.stream, "0-1"))
            counts = unread_count(alice.pk), unread_count(bob.pk)
    finally:
        server.stop()
        reset_clients()
        redis_outage.recovered()
    assert counts == (1, 1)


def test_a_broadcast_with_redis_down_from_the_start_sends_nothing_and_says_why(make_user, spare_redis):
    from django.test import override_settings

    from redis_toolkit.client import reset_clients

    make_user("alice")
    spare_redis.stop()
    with override_settings(REDIS_URL=spare_redis.url, REDIS_SOCKET_TIMEOUT=1):
        reset_clients()
        try:
            with pytest.raises(CommandError, match="Redis is not answering, so nothing was sent"):
                call_command("broadcast", "hello", stdout=StringIO())
        finally:
            reset_clients()
    assert not Notification.objects.exists()
