"""The chat.message.posted handler: what the event tells it decides whether it reads the database at all."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.services import direct_room_open, message_post, room_create
from notifications import handlers
from notifications.models import Notification
from redis_toolkit.events.codec import Event
from redis_toolkit.events.worker import StreamWorker
from redis_toolkit.models import OutboxEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_streams")]

OLD_FIELDS = ("message_id", "room_id", "seq", "author_id")  # the payload before it carried the rules' hints


@pytest.fixture
def people(make_user):
    return make_user("alice"), make_user("bob")


@pytest.fixture
def lobby():
    return room_create(slug="lobby", title="Lobby")


def posted_payload(room, author, body, **extra) -> dict:
    """Post through chat's service and return the payload of the event it published."""
    message_post(room=room, author=author, body=body, client_id="", **extra)
    return OutboxEvent.objects.filter(type="chat.message.posted").latest("pk").payload


def handle(payload: dict, *, event_id: int = 1) -> None:
    event = Event(event_id, "chat.message.posted", payload, timezone.now(), stream="chat", entry_id="1-0")
    handlers.message_posted(event)


def test_a_plain_message_reaches_the_worker_and_costs_it_no_database_query(people, lobby):
    alice, _ = people
    message_post(room=lobby, author=alice, body="just saying hi, mail me at a@example.com", client_id="")
    worker = StreamWorker(group="notifications", consumer="c1")

    with CaptureQueriesContext(connection) as queries:
        assert worker.run_once(wait=False) == 1

    assert worker.handled == 1
    assert [q["sql"] for q in queries] == []
    assert not Notification.objects.exists()


def test_the_posted_event_says_whether_the_message_is_a_dm_a_reply_or_mentions_anyone(people, lobby):
    alice, bob = people
    first = posted_payload(lobby, alice, "no names in `@code` or x@example.com")
    assert (first["direct"], first["reply_to"], first["mentions"]) == (False, None, 0)

    answer = posted_payload(lobby, bob, "@alice @carol see", reply_to=first["message_id"])
    assert (answer["direct"], answer["reply_to"], answer["mentions"]) == (False, first["message_id"], 2)

    dm = posted_payload(direct_room_open(user=alice, other=bob), alice, "psst")
    assert (dm["direct"], dm["reply_to"], dm["mentions"]) == (True, None, 0)


def test_a_mention_still_notifies(people, lobby):
    alice, bob = people
    payload = posted_payload(lobby, alice, "@bob look")

    handle(payload)

    assert list(Notification.objects.values_list("recipient", "kind")) == [(bob.pk, "mention")]


def test_a_reply_still_notifies(people, lobby):
    alice, bob = people
    question = posted_payload(lobby, alice, "lunch?")
    handle(posted_payload(lobby, bob, "sure", reply_to=question["message_id"]))

    assert list(Notification.objects.values_list("recipient", "kind")) == [(alice.pk, "reply")]


def test_a_direct_message_still_notifies(people):
    alice, bob = people
    handle(posted_payload(direct_room_open(user=alice, other=bob), alice, "hi"))

    assert list(Notification.objects.values_list("recipient", "kind")) == [(bob.pk, "direct_message")]


@pytest.mark.parametrize(("where", "body"), [("lobby", "@bob look"), ("dm", "hi")])
def test_an_event_published_before_the_hints_existed_is_read_the_full_way(people, lobby, where, body):
    alice, bob = people
    room = lobby if where == "lobby" else direct_room_open(user=alice, other=bob)
    payload = posted_payload(room, alice, body)

    with CaptureQueriesContext(connection) as queries:
        handle({key: payload[key] for key in OLD_FIELDS})

    assert queries.captured_queries  # no hints: the rules load the message to decide
    assert Notification.objects.filter(recipient=bob).count() == 1
