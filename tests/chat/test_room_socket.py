"""The room socket: every client frame type, what members receive, and every kind of bad input."""

import json

import pytest
from asgiref.sync import sync_to_async

from chat.models import Membership, Message
from chat.services import message_post, room_create
from tests.chat.conftest import open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_client")]


@pytest.fixture
def people(make_user):
    return make_user("alice"), make_user("bob")


async def test_sent_message_is_persisted_and_reaches_every_member_with_its_client_id(room, people, join):
    alice, bob = people
    alice_socket, bob_socket = await join(alice, room), await join(bob, room)

    await alice_socket.send({"type": "message.send", "body": "hello bob", "client_id": "c-1"})

    for socket in (alice_socket, bob_socket):
        frame = await socket.expect("message.new")
        assert frame["message"]["body"] == "hello bob"
        assert frame["message"]["seq"] == 1
        assert frame["message"]["client_id"] == "c-1"
        assert frame["message"]["author"] == "alice"
        assert frame["message"]["room"] == "lobby"
    assert await Message.objects.filter(room=room).acount() == 1


async def test_resent_client_id_is_acknowledged_again_but_stored_once(room, people, join):
    alice, bob = people
    alice_socket, bob_socket = await join(alice, room), await join(bob, room)
    send = {"type": "message.send", "body": "once", "client_id": "retry-me"}

    await alice_socket.send(send)
    first = await alice_socket.expect("message.new")
    await alice_socket.send(send)
    again = await alice_socket.expect("message.new")

    assert again["message"]["id"] == first["message"]["id"]
    assert await Message.objects.filter(room=room).acount() == 1
    await bob_socket.expect("message.new")
    assert await bob_socket.quiet("message.new")


async def test_author_edits_a_message_and_members_see_the_edit(room, people, join):
    alice, bob = people
    message, _ = await sync_to_async(message_post)(room=room, author=alice, body="typo", client_id="")
    alice_socket, bob_socket = await join(alice, room), await join(bob, room)

    await alice_socket.send({"type": "message.edit", "id": message.pk, "body": "fixed"})

    frame = await bob_socket.expect("message.edited")
    assert frame["message"]["body"] == "fixed"
    assert frame["message"]["edited_at"]
    await message.arefresh_from_db()
    assert message.body == "fixed"


async def test_editing_someone_elses_message_is_refused_and_changes_nothing(room, people, join):
    alice, bob = people
    message, _ = await sync_to_async(message_post)(room=room, author=alice, body="mine", client_id="")
    bob_socket = await join(bob, room)

    await bob_socket.send({"type": "message.edit", "id": message.pk, "body": "hijacked"})

    error = await bob_socket.expect("error")
    assert error["code"] == "forbidden"
    await message.arefresh_from_db()
    assert message.body == "mine"


async def test_author_deletes_a_message_and_members_see_it_disappear(room, people, join):
    alice, bob = people
    message, _ = await sync_to_async(message_post)(room=room, author=alice, body="oops", client_id="")
    alice_socket, bob_socket = await join(alice, room), await join(bob, room)

    await alice_socket.send({"type": "message.delete", "id": message.pk})

    frame = await bob_socket.expect("message.deleted")
    assert frame == {"type": "message.deleted", "id": message.pk, "seq": 1, "room": "lobby"}
    await message.arefresh_from_db()
    assert message.deleted_at is not None


async def test_deleting_someone_elses_message_is_refused(room, people, join):
    alice, bob = people
    message, _ = await sync_to_async(message_post)(room=room, author=alice, body="keep", client_id="")
    bob_socket = await join(bob, room)

    await bob_socket.send({"type": "message.delete", "id": message.pk})

    assert (await bob_socket.expect("error"))["code"] == "forbidden"
    await message.arefresh_from_db()
    assert message.deleted_at is None


async def test_editing_a_message_of_another_room_is_not_found(room, people, join):
    alice, _ = people
    other = await sync_to_async(room_create)(slug="other", title="Other")
    message, _ = await sync_to_async(message_post)(room=other, author=alice, body="there", client_id="")
    socket = await join(alice, room)

    await socket.send({"type": "message.edit", "id": message.pk, "body": "here"})

    assert (await socket.expect("error"))["code"] == "not_found"


async def test_reconnecting_client_receives_missed_messages_once_in_order(room, people, join):
    alice, bob = people
    bob_socket = await join(bob, room)
    await bob_socket.send({"type": "message.send", "body": "before", "client_id": "b0"})
    seen = (await bob_socket.expect("message.new"))["message"]["seq"]
    await bob_socket.close()

    alice_socket = await join(alice, room)
    for n in range(20):
        await alice_socket.send({"type": "message.send", "body": f"missed {n}", "client_id": f"a{n}"})
    for _ in range(20):
        await alice_socket.expect("message.new")

    bob_socket = await join(bob, room)
    await bob_socket.send({"type": "sync", "after_seq": seen})
    bodies = []
    while (frame := await bob_socket.expect("message.new", "sync.done"))["type"] == "message.new":
        bodies.append(frame["message"]["body"])

    assert bodies == [f"missed {n}" for n in range(20)]
    assert frame["has_more"] is False
    assert frame["last_seq"] == seen + 20
    assert await bob_socket.quiet("message.new")


async def test_sync_is_capped_and_tells_the_client_to_page(room, people, join, settings):
    alice, _ = people
    await sync_to_async(_post_many)(room, alice, 205)
    socket = await join(alice, room)

    await socket.send({"type": "sync", "after_seq": 0})
    count = 0
    while (frame := await socket.expect("message.new", "sync.done"))["type"] == "message.new":
        count += 1

    assert count == 200
    assert frame == {"type": "sync.done", "room": "lobby", "last_seq": 200, "has_more": True}


async def test_a_sync_from_beyond_the_newest_message_does_not_mute_the_socket(room, people, join):
    alice, bob = people
    alice_socket, bob_socket = await join(alice, room), await join(bob, room)

    await bob_socket.send({"type": "sync", "after_seq": 10**12})  # a stale tab of a restored database, or a bug
    done = await bob_socket.expect("sync.done")
    await alice_socket.send({"type": "message.send", "body": "still there?", "client_id": "c-9"})

    assert done["last_seq"] == 0, "the room's newest seq, not the client's claim"
    assert (await bob_socket.expect("message.new"))["message"]["body"] == "still there?"


def _post_many(room, author, n):
    for i in range(n):
        message_post(room=room, author=author, body=f"m{i}", client_id="")


async def test_read_moves_the_marker_and_replies_with_the_unread_count(room, people, join):
    alice, bob = people
    bob_socket = await join(bob, room)  # joining a public room starts with nothing unread
    await sync_to_async(_post_many)(room, alice, 3)

    await bob_socket.send({"type": "read", "seq": 2})

    assert await bob_socket.expect("unread") == {"type": "unread", "room": "lobby", "count": 1, "last_read_seq": 2}
    membership = await Membership.objects.aget(room=room, user=bob)
    assert membership.last_read_seq == 2


async def test_read_never_moves_backwards_or_past_the_newest_message(room, people, join):
    alice, bob = people
    await sync_to_async(_post_many)(room, alice, 3)
    bob_socket = await join(bob, room)

    await bob_socket.send({"type": "read", "seq": 99})
    assert (await bob_socket.expect("unread"))["last_read_seq"] == 3
    await bob_socket.send({"type": "read", "seq": 1})
    assert (await bob_socket.expect("unread"))["last_read_seq"] == 3


async def test_typing_reaches_the_other_members(room, people, join):
    alice, bob = people
    alice_socket, bob_socket = await join(alice, room), await join(bob, room)

    await alice_socket.send({"type": "typing", "active": True})

    frame = await bob_socket.expect("typing")
    assert frame["user"] == {"id": alice.pk, "username": "alice"}
    assert frame["active"] is True


async def test_presence_is_per_user_not_per_tab(room, people, join):
    alice, bob = people
    bob_socket = await join(bob, room)
    alice_tab1 = await join(alice, room)
    joined = await bob_socket.expect("presence")
    assert [u["username"] for u in joined["online"]] == ["alice", "bob"]

    alice_tab2 = await join(alice, room)  # a second tab: nobody is told anything new
    assert await bob_socket.quiet("presence")

    await alice_tab1.close()
    assert await bob_socket.quiet("presence")  # still online in the other tab

    await alice_tab2.close()
    left = await bob_socket.expect("presence")
    assert [u["username"] for u in left["online"]] == ["bob"]


BAD_FRAMES = [
    ("not json", "invalid_json"),
    ("[1, 2]", "invalid_frame"),
    (json.dumps({"body": "no type"}), "invalid_frame"),
    (json.dumps({"type": "message.explode"}), "unknown_type"),
    (json.dumps({"type": 7}), "invalid_frame"),
    (json.dumps({"type": "message.send", "client_id": "x"}), "invalid_frame"),
    (json.dumps({"type": "message.send", "body": 42}), "invalid_frame"),
    (json.dumps({"type": "message.send", "body": "   \n "}), "empty_body"),
    (json.dumps({"type": "message.send", "body": "x" * 4001}), "body_too_long"),
    (json.dumps({"type": "message.send", "body": "x" * 70_000}), "frame_too_large"),
    (json.dumps({"type": "message.edit", "id": "seven", "body": "x"}), "invalid_frame"),
    (json.dumps({"type": "message.delete", "id": 123456}), "not_found"),
    (json.dumps({"type": "sync", "after_seq": "0"}), "invalid_frame"),
    (json.dumps({"type": "read", "seq": -1}), "invalid_frame"),
    (json.dumps({"type": "typing", "active": "yes"}), "invalid_frame"),
]


@pytest.mark.parametrize(("raw", "code"), BAD_FRAMES)
async def test_bad_frame_gets_an_error_and_the_socket_stays_open(room, people, join, raw, code):
    alice, _ = people
    socket = await join(alice, room)

    await socket.send(raw)
    error = await socket.expect("error")

    assert error["code"] == code
    assert error["detail"]
    assert await Message.objects.filter(room=room).acount() == 0
    await socket.send({"type": "message.send", "body": "still here", "client_id": "after-error"})
    assert (await socket.expect("message.new"))["message"]["body"] == "still here"


async def test_binary_frame_gets_an_error(room, people, join):
    alice, _ = people
    socket = await join(alice, room)

    await socket.communicator.send_to(bytes_data=b"\x00\x01")

    assert (await socket.expect("error"))["code"] == "invalid_frame"


async def test_anonymous_socket_is_closed_with_4401(room):
    connected, _, socket = await open_socket(None, "/ws/rooms/lobby/")

    assert connected
    assert await socket.communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}


async def test_non_member_of_a_private_room_is_closed_with_4403(people):
    alice, bob = people
    await sync_to_async(room_create)(slug="secret", title="Secret", private=True, created_by=alice)

    connected, _, socket = await open_socket(bob, "/ws/rooms/secret/")

    assert connected
    assert await socket.communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": 4403}


async def test_member_of_a_private_room_may_join(people, join):
    alice, bob = people
    secret = await sync_to_async(room_create)(
        slug="secret", title="Secret", private=True, created_by=alice, members=[bob]
    )

    socket = await join(bob, secret)

    await socket.send({"type": "message.send", "body": "hi", "client_id": "p1"})
    assert (await socket.expect("message.new"))["message"]["room"] == "secret"


async def test_unknown_room_is_closed_with_4404(people):
    connected, _, socket = await open_socket(people[0], "/ws/rooms/no-such-room/")

    assert connected
    assert await socket.communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": 4404}


async def test_cross_site_socket_is_refused(room, people):
    connected, _, _ = await open_socket(people[0], "/ws/rooms/lobby/", origin="https://evil.example")

    assert not connected


async def test_a_member_of_another_room_does_not_receive_the_message(room, people, join):
    alice, bob = people
    elsewhere = await sync_to_async(room_create)(slug="elsewhere", title="Elsewhere")
    alice_socket, bob_socket = await join(alice, room), await join(bob, elsewhere)

    await alice_socket.send({"type": "message.send", "body": "lobby only", "client_id": "x1"})

    await alice_socket.expect("message.new")
    assert await bob_socket.quiet("message.new")


async def test_room_owner_may_delete_anyones_message(people, join):
    alice, bob = people
    room = await sync_to_async(room_create)(slug="owned", title="Owned", created_by=alice)
    message, _ = await sync_to_async(message_post)(room=room, author=bob, body="spam", client_id="")
    owner_socket = await join(alice, room)

    await owner_socket.send({"type": "message.delete", "id": message.pk})

    assert (await owner_socket.expect("message.deleted"))["id"] == message.pk
