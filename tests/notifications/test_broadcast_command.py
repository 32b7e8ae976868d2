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
    assert bob.pk


def test_a_second_broadcast_while_one_runs_is_refused(make_user):
    from notifications.management.commands.broadcast import BROADCAST_LOCK
    from redis_toolkit.locks import redis_lock

    make_user("alice")
    with redis_lock(BROADCAST_LOCK, ttl=10), pytest.raises(CommandError, match="Another broadcast is being sent"):
        call_command("broadcast", "hello", stdout=StringIO())

    assert not Notification.objects.exists()
    assert not Broadcast.objects.exists()
