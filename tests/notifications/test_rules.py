"""The notification rules the stream handlers apply: mentions, DMs, invitations."""

import pytest

from chat.selectors import message_mentioned_usernames
from chat.services import (
    direct_room_open,
    membership_add,
    membership_set_muted,
    message_post,
    room_create,
)
from notifications.models import Notification
from notifications.rules import notify_member_added, notify_message_posted

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_client")]


@pytest.fixture
def people(make_user):
    return make_user("alice"), make_user("bob"), make_user("carol")


def post(room, author, body):
    return message_post(room=room, author=author, body=body, client_id="")[0]


def test_mentioned_usernames_ignore_emails_and_trailing_punctuation():
    body = "hi @bob, and @carol. mail me at x@example.com @bob"
    assert message_mentioned_usernames(body=body) == {"bob", "carol"}


def test_mention_notifies_the_mentioned_user_once_per_event(people):
    alice, bob, _ = people
    room = room_create(slug="lobby", title="Lobby")
    message = post(room, alice, "@bob look at this")

    assert notify_message_posted(event_id="7", message_id=message.pk) == 1
    assert notify_message_posted(event_id="7", message_id=message.pk) == 0  # redelivered event

    notification = Notification.objects.get()
    assert (notification.recipient, notification.kind, notification.actor) == (bob, "mention", alice)
    assert notification.data == {"seq": message.seq}


def test_no_mention_for_oneself_unknown_users_or_non_members_of_a_private_room(people):
    alice, bob, _carol = people
    room = room_create(slug="secret", title="Secret", private=True, created_by=alice, members=[bob])
    message = post(room, alice, "@alice @ghost @carol @bob")

    notify_message_posted(event_id="1", message_id=message.pk)

    assert list(Notification.objects.values_list("recipient__username", flat=True)) == ["bob"]


def test_no_mention_from_a_muted_room(people):
    alice, bob, _ = people
    room = room_create(slug="lobby", title="Lobby")
    membership_set_muted(room=room, user=bob, muted=True)

    notify_message_posted(event_id="1", message_id=post(room, alice, "@bob hey").pk)

    assert not Notification.objects.exists()


def test_direct_messages_notify_once_until_read(people):
    alice, bob, _ = people
    dm = direct_room_open(user=alice, other=bob)

    notify_message_posted(event_id="1", message_id=post(dm, alice, "hi").pk)
    notify_message_posted(event_id="2", message_id=post(dm, alice, "are you there?").pk)
    assert Notification.objects.filter(recipient=bob, kind="direct_message").count() == 1

    Notification.objects.update(read_at="2026-01-01T00:00:00Z")
    notify_message_posted(event_id="3", message_id=post(dm, alice, "hello again").pk)
    assert Notification.objects.filter(recipient=bob, kind="direct_message").count() == 2
    assert not Notification.objects.filter(recipient=alice).exists()


def test_adding_someone_to_a_private_room_invites_them(people):
    alice, bob, _ = people
    room = room_create(slug="secret", title="Secret", private=True, created_by=alice)
    membership_add(room=room, user=bob, added_by=alice)

    assert notify_member_added(event_id="9", room_id=room.pk, user_id=bob.pk, added_by_id=alice.pk)
    assert not notify_member_added(event_id="9", room_id=room.pk, user_id=bob.pk, added_by_id=alice.pk)

    invite = Notification.objects.get()
    assert invite.kind == "room_invite"
    assert "Secret" in invite.text


def test_joining_a_public_room_or_adding_oneself_is_no_invitation(people):
    alice, bob, _ = people
    public = room_create(slug="lobby", title="Lobby")
    private = room_create(slug="secret", title="Secret", private=True, created_by=alice)

    assert not notify_member_added(event_id="1", room_id=public.pk, user_id=bob.pk, added_by_id=alice.pk)
    assert not notify_member_added(event_id="2", room_id=private.pk, user_id=alice.pk, added_by_id=alice.pk)


def reply(room, author, body, original):
    return message_post(room=room, author=author, body=body, client_id="", reply_to=original.pk)[0]


def test_a_reply_notifies_the_original_author_once_per_event(people):
    alice, bob, _ = people
    room = room_create(slug="lobby", title="Lobby")
    answer = reply(room, bob, "sure", post(room, alice, "lunch?"))

    assert notify_message_posted(event_id="5", message_id=answer.pk) == 1
    assert notify_message_posted(event_id="5", message_id=answer.pk) == 0

    notification = Notification.objects.get()
    assert (notification.recipient, notification.kind, notification.actor) == (alice, "reply", bob)
    assert notification.text == "bob replied to you in #Lobby: sure"
    assert notification.data == {"seq": answer.seq}


def test_replying_to_oneself_or_from_a_muted_room_notifies_nobody(people):
    alice, bob, _ = people
    room = room_create(slug="lobby", title="Lobby")
    own = reply(room, alice, "and another thing", post(room, alice, "first"))
    assert notify_message_posted(event_id="1", message_id=own.pk) == 0

    membership_set_muted(room=room, user=alice, muted=True)
    muted = reply(room, bob, "hm", post(room, alice, "second"))
    assert notify_message_posted(event_id="2", message_id=muted.pk) == 0
    assert not Notification.objects.exists()


def test_an_author_both_answered_and_mentioned_gets_one_notification(people):
    alice, bob, _carol = people
    room = room_create(slug="lobby", title="Lobby")
    answer = reply(room, bob, "@alice @carol see above", post(room, alice, "question"))

    assert notify_message_posted(event_id="3", message_id=answer.pk) == 2

    kinds = dict(Notification.objects.values_list("recipient__username", "kind"))
    assert kinds == {"alice": "reply", "carol": "mention"}


def test_a_mention_inside_code_does_not_notify(people):
    alice, _bob, _ = people
    room = room_create(slug="lobby", title="Lobby")

    assert notify_message_posted(event_id="4", message_id=post(room, alice, "type `@bob` to ping").pk) == 0


def test_one_message_mentioning_a_crowd_notifies_only_the_first_few(make_user):
    from notifications.rules import MAX_MENTIONS

    alice = make_user("alice")
    crowd = [make_user(f"user{i:02d}") for i in range(MAX_MENTIONS + 15)]
    room = room_create(slug="lobby", title="Lobby")
    message = post(room, alice, " ".join(f"@{u.username}" for u in reversed(crowd)))  # spam: everyone, in one go

    made = notify_message_posted(event_id="9", message_id=message.pk)

    first = {u.username for u in list(reversed(crowd))[:MAX_MENTIONS]}  # in the order the message names them
    assert made == MAX_MENTIONS
    assert set(Notification.objects.values_list("recipient__username", flat=True)) == first
