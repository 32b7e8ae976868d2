"""Attacks that held when the site was attacked, kept closed: other rooms' history and sockets, other
people's messages."""

import asyncio

import pytest

from chat.models import Message
from chat.services import message_post, room_create
from tests.security.conftest import Client, connect, in_room

pytestmark = [pytest.mark.slow]


@pytest.fixture
def rooms(make_user):
    alice, mallory = make_user("alice"), make_user("mallory")
    secret = room_create(slug="secret", title="Secret", private=True, created_by=alice)
    lobby = room_create(slug="lobby", title="Lobby")
    hidden, _ = message_post(room=secret, author=alice, body="private words")
    public, _ = message_post(room=lobby, author=alice, body="alice's words")
    return alice, mallory, hidden, public


def test_non_member_cannot_read_a_private_rooms_history_or_page(site, rooms):
    _, mallory, _, _ = rooms
    attacker = Client(site, mallory)
    history = attacker.get("/api/rooms/secret/messages")
    assert history.status == 403
    assert "private words" not in history.text
    page = attacker.get("/rooms/secret/")
    assert page.status == 403
    assert "private words" not in page.text


def test_non_member_socket_on_a_private_room_is_closed_with_4403(site, rooms):
    _, mallory, _, _ = rooms
    attacker = Client(site, mallory)

    async def attack():
        return await (await connect(site, attacker, "/ws/rooms/secret/")).closed()

    assert asyncio.run(attack()) == 4403


def test_user_cannot_edit_or_delete_another_users_message(site, rooms):
    _, mallory, _, public = rooms
    attacker = Client(site, mallory)

    async def attack():
        sock = await in_room(site, attacker, "lobby")
        await sock.send({"type": "message.edit", "id": public.pk, "body": "defaced"})
        edit = await sock.expect("error")
        await sock.send({"type": "message.delete", "id": public.pk})
        return edit["code"], (await sock.expect("error"))["code"]

    assert asyncio.run(attack()) == ("forbidden", "forbidden")
    message = Message.objects.get(pk=public.pk)
    assert (message.body, message.deleted_at) == ("alice's words", None)


def test_user_cannot_reach_another_rooms_message_through_their_own_room(site, rooms):
    alice, _, hidden, _ = rooms
    author = Client(site, alice)  # even its author: a message is changed only through its own room

    async def attack():
        sock = await in_room(site, author, "lobby")
        await sock.send({"type": "message.edit", "id": hidden.pk, "body": "moved"})
        edit = await sock.expect("error")
        await sock.send({"type": "message.delete", "id": hidden.pk})
        return edit["code"], (await sock.expect("error"))["code"]

    assert asyncio.run(attack()) == ("not_found", "not_found")
    assert Message.objects.get(pk=hidden.pk).body == "private words"


def test_user_cannot_mark_another_users_notifications_read(site, rooms, make_user):
    from notifications.models import Notification

    alice, mallory, _, _ = rooms
    note = Notification.objects.create(recipient=alice, kind="broadcast", event_id="e", text="for alice")
    attacker = Client(site, mallory)
    assert attacker.post("/api/notifications/read", body={"ids": [note.pk]}).status == 404
    assert attacker.post(f"/notifications/{note.pk}/read/", form={}).status == 404
    assert Notification.objects.get(pk=note.pk).read_at is None


def test_outsider_cannot_quote_or_react_to_a_private_message_from_a_public_room(site, rooms):
    _, mallory, hidden, _ = rooms
    outsider = Client(site, mallory)

    async def attack():
        sock = await in_room(site, outsider, "lobby")
        await sock.send({"type": "message.send", "body": "what did it say?", "client_id": "q1", "reply_to": hidden.pk})
        reply = await sock.expect("error", "message.new")
        await sock.send({"type": "reaction.add", "id": hidden.pk, "emoji": "👀"})
        react = await sock.expect("error", "reaction")
        return reply, react

    reply, react = asyncio.run(attack())
    assert (reply["type"], reply.get("code")) == ("error", "not_found"), "no quote of the private message"
    assert (react["type"], react.get("code")) == ("error", "not_found")
    assert "private words" not in str(reply)
    assert not hidden.reactions.exists()
    assert Message.objects.filter(room__slug="lobby").count() == 1
