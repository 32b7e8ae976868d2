"""Hole 2 and room management: membership comes only from the services allowed to make it, and losing it
closes the user's sockets at once, on every server process."""

import asyncio

import pytest

from chat.models import Membership, Message, Room
from chat.services import room_create
from tests.security.conftest import Client, Refused, connect, in_room

pytestmark = [pytest.mark.slow]


def test_removed_member_socket_is_closed_with_4403_on_another_server(asgi_server, redis_client, private_room):
    room, alice, bob = private_room
    first, second = asgi_server(), asgi_server()
    owner, member = Client(first, alice), Client(second, bob)

    async def scenario():
        sock = await in_room(second, member, "secret")
        removed = await owner.arequest("DELETE", "/api/rooms/secret/members/bob")
        code = await sock.closed(timeout=1.5)  # at once, on the other process
        try:
            await connect(second, member, "/ws/rooms/secret/")
            again = await (await connect(second, member, "/ws/rooms/secret/")).closed()
        except Refused as exc:
            again = exc.status
        return removed.status, code, again

    assert asyncio.run(scenario()) == (200, 4403, 4403)
    assert not Membership.objects.filter(room=room, user=bob).exists()


def test_removed_member_cannot_put_itself_back_with_a_read_frame_or_post(site, private_room):
    room, _, bob = private_room
    member = Client(site, bob)

    async def scenario():
        sock = await in_room(site, member, "secret")
        # Deleted behind the socket's back (the admin, a crash before the push): the services still refuse.
        await asyncio.to_thread(_delete_membership, room.pk, bob.pk)
        await sock.send({"type": "read", "seq": 0})
        await sock.send({"type": "message.send", "body": "still here?", "client_id": "ghost"})
        return await sock.expect("error")

    error = asyncio.run(scenario())
    assert error["code"] == "forbidden"
    assert not Membership.objects.filter(room=room, user=bob).exists()
    assert not Message.objects.filter(room=room).exists()


def _delete_membership(room_id: int, user_id: int) -> None:
    from django.db import connection

    Membership.objects.filter(room_id=room_id, user_id=user_id).delete()
    connection.close()


def test_making_a_room_private_closes_the_sockets_of_non_members(site, make_user):
    alice, carol, mallory = make_user("alice"), make_user("carol"), make_user("mallory")
    room = room_create(slug="open", title="Open", created_by=alice)
    owner, member, outsider = Client(site, alice), Client(site, carol), Client(site, mallory)

    async def scenario():
        carol_sock = await in_room(site, member, "open")
        mallory_sock = await in_room(site, outsider, "open")
        await asyncio.to_thread(_delete_membership, room.pk, mallory.pk)  # she left; her socket stayed
        changed = await owner.arequest("PATCH", "/api/rooms/open", body={"private": True})
        closed = await mallory_sock.closed(timeout=1.5)
        await carol_sock.send({"type": "message.send", "body": "still in", "client_id": "c"})
        return changed.status, closed, (await carol_sock.expect("message.new"))["message"]["body"]

    assert asyncio.run(scenario()) == (200, 4403, "still in")
    assert Room.objects.get(pk=room.pk).kind == Room.Kind.PRIVATE


def test_member_cannot_invite_remove_or_promote_without_being_owner(site, private_room, make_user):
    _, _, bob = private_room
    make_user("carol")
    member = Client(site, bob)
    assert member.post("/api/rooms/secret/members", body={"username": "carol"}).status == 403
    assert member.request("DELETE", "/api/rooms/secret/members/alice").status == 403
    assert member.request("PATCH", "/api/rooms/secret/members/bob", body={"role": "owner"}).status == 403
    assert member.request("PATCH", "/api/rooms/secret", body={"title": "Mine now"}).status == 403
    assert member.post("/rooms/secret/members/", form={"username": "carol"}).status == 302
    assert not Membership.objects.filter(room__slug="secret", user__username="carol").exists()


def test_outsider_cannot_add_itself_to_a_private_room(site, private_room, make_user):
    mallory = make_user("mallory")
    outsider = Client(site, mallory)
    assert outsider.post("/api/rooms/secret/members", body={"username": "mallory"}).status == 403
    assert outsider.post("/rooms/secret/mute/", form={"muted": "1"}).status == 403
    assert not Membership.objects.filter(room__slug="secret", user=mallory).exists()


def test_owner_invites_and_the_invited_room_list_gets_the_room(site, private_room, make_user):
    _, alice, _ = private_room
    carol = make_user("carol")
    owner, invited = Client(site, alice), Client(site, carol)

    async def scenario():
        bell = await connect(site, invited, "/ws/notifications/")
        await bell.send({"type": "rooms.watch"})
        await bell.expect("rooms.watching")
        response = await owner.arequest("POST", "/api/rooms/secret/members", body={"username": "carol"})
        added = await bell.expect("room.added")
        # Now watching the new room: its messages reach the room list.
        room_sock = await in_room(site, owner, "secret")
        await room_sock.send({"type": "message.send", "body": "welcome", "client_id": "w"})
        new = await bell.expect("message.new")
        return response.status, response.json(), added["room"]["slug"], new["message"]["body"]

    status, body, slug, text = asyncio.run(scenario())
    assert (status, slug, text) == (201, "secret", "welcome")
    assert body["member"] == {"id": carol.pk, "username": "carol", "role": "member"}


def test_removed_member_room_list_drops_the_room_and_hears_nothing_more(site, private_room):
    _, alice, bob = private_room
    owner, member = Client(site, alice), Client(site, bob)

    async def scenario():
        bell = await connect(site, member, "/ws/notifications/")
        await bell.send({"type": "rooms.watch"})
        await bell.expect("rooms.watching")
        await owner.arequest("DELETE", "/api/rooms/secret/members/bob")
        removed = await bell.expect("room.removed")
        room_sock = await in_room(site, owner, "secret")
        await room_sock.send({"type": "message.send", "body": "after you left", "client_id": "x"})
        await room_sock.expect("message.new")
        try:
            leaked = await bell.expect("message.new", timeout=0.5)
        except TimeoutError:
            leaked = None
        return removed["room"], leaked

    assert asyncio.run(scenario()) == ("secret", None)


def test_member_leaves_but_the_last_owner_cannot(site, private_room):
    room, alice, bob = private_room
    assert Client(site, alice).request("DELETE", "/api/rooms/secret/members/alice").status == 400
    assert Client(site, bob).post("/rooms/secret/members/bob/remove/", form={}).status == 302
    assert list(Membership.objects.filter(room=room).values_list("user__username", flat=True)) == ["alice"]


def test_owner_changes_roles_renames_and_sets_a_topic(site, private_room):
    room, alice, _ = private_room
    owner = Client(site, alice)
    promoted = owner.request("PATCH", "/api/rooms/secret/members/bob", body={"role": "owner"})
    assert promoted.json()["member"]["role"] == "owner"
    updated = owner.request("PATCH", "/api/rooms/secret", body={"title": "Plans \u202egnp.exe", "topic": "Q3"})
    assert updated.json()["room"]["title"] == "Plans gnp.exe", "direction controls are removed"
    assert owner.request("PATCH", "/api/rooms/secret/members/bob", body={"role": "king"}).status == 400
    assert Room.objects.get(pk=room.pk).topic == "Q3"


def test_direct_messages_cannot_be_managed(site, make_user):
    alice, _ = make_user("alice"), make_user("bob")
    carol = make_user("carol")
    client = Client(site, alice)
    slug = client.post("/users/bob/message/", form={}).headers["Location"].strip("/").removeprefix("rooms/")
    assert client.post(f"/api/rooms/{slug}/members", body={"username": carol.username}).status == 403
    assert client.request("DELETE", f"/api/rooms/{slug}/members/bob").status == 403
