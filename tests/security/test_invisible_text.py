"""Text that shows nothing (zero-width and format characters, direction controls, blank fillers, spaces)
is refused wherever text is required: a message, an edit, a room name, a username, a broadcast."""

import pytest
from django.contrib.auth import get_user_model

from chat.models import Message, Room
from chat.services import message_post, room_create
from chatsite.errors import UserError
from chatsite.text import has_visible_text
from notifications.models import Broadcast
from notifications.services import broadcast_create
from tests.chat.conftest import open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_client")]

INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200c\u200d",  # zero-width non-joiner, joiner
    "\u2060\ufeff",  # word joiner, BOM
    "\u202e\u2066\u200f",  # direction override, isolate, mark
    " \u00a0\u3000\t\n",  # spaces of several kinds
    "\u3164\u115f\u2800",  # Hangul fillers, braille blank
    "\u00ad\ufe0f\U000e0041",  # soft hyphen, variation selector, tag
]


@pytest.mark.parametrize("text", INVISIBLE)
def test_text_of_invisible_characters_only_has_nothing_visible(text):
    assert not has_visible_text(text)


@pytest.mark.parametrize("text", ["a\u200b", "\u200d👍", "\u0301", "—"])
def test_any_visible_character_counts(text):
    assert has_visible_text(text)


@pytest.fixture
def lobby(make_user):
    alice = make_user("alice")
    room = room_create(slug="lobby", title="Lobby")
    message, _ = message_post(room=room, author=alice, body="visible", client_id="v1")
    return alice, message


@pytest.mark.parametrize("body", INVISIBLE[:4])
async def test_an_invisible_message_or_edit_gets_a_clear_error_and_stores_nothing(lobby, body):
    from asgiref.sync import sync_to_async

    alice, message = lobby
    connected, _, sock = await open_socket(alice, "/ws/rooms/lobby/")
    assert connected

    await sock.send({"type": "message.send", "body": body, "client_id": "ghost"})
    sent = await sock.expect("error")
    await sock.send({"type": "message.edit", "id": message.pk, "body": body})
    edited = await sock.expect("error")

    assert (sent["code"], edited["code"]) == ("empty_body", "empty_body")
    assert "visible" in sent["detail"]
    assert await sync_to_async(list)(Message.objects.values_list("body", flat=True)) == ["visible"]


@pytest.mark.parametrize("title", INVISIBLE)
def test_a_room_cannot_be_named_with_invisible_characters(make_user, title):
    with pytest.raises(UserError) as refused:
        room_create(slug="ghost", title=title, created_by=make_user("alice"))
    assert refused.value.code == "invalid_title"
    assert not Room.objects.filter(slug="ghost").exists()


def test_an_invisible_topic_is_stored_as_no_topic(make_user):
    room = room_create(slug="t", title="Topics", topic="\u200b\u3164", created_by=make_user("alice"))
    assert room.topic == ""


@pytest.mark.parametrize("username", ["\u3164", "\u115f\u1160", "\u3164\u200b"])
def test_a_username_of_blank_fillers_is_refused_at_sign_up(client, username):
    password = "a-long-pass-phrase-9"
    response = client.post("/accounts/signup/", {"username": username, "password1": password, "password2": password})
    assert response.status_code == 200
    assert "visible" in response.content.decode()
    assert not get_user_model().objects.exists()


def test_an_invisible_broadcast_is_refused(make_user):
    with pytest.raises(UserError) as refused:
        broadcast_create(text="\u200b\u2060 ", created_by=make_user("alice"))
    assert refused.value.code == "empty_text"
    assert not Broadcast.objects.exists()
