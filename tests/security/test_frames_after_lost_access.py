"""Every room-socket frame re-checks access in the database: a member removed (or a room made private)
whose close push was lost can neither send nor read anything through the socket it kept."""

import pytest
from asgiref.sync import sync_to_async

from chat.models import Membership, Message, Reaction, Room
from chat.services import message_post, room_create
from tests.chat.conftest import open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_client")]


async def _in_room(user, slug):
    connected, _, sock = await open_socket(user, f"/ws/rooms/{slug}/")
    assert connected
    await sock.expect("presence")
    return sock


def _lose(room, user):
    """The removal commits, its 4403 push is lost (Redis refused it, the process died before sending)."""
    Membership.objects.filter(room=room, user=user).delete()


@pytest.mark.parametrize(
    "frame",
    [{"type": "typing", "active": True}, {"type": "presence.state", "state": "away"}],
    ids=["typing", "presence.state"],
)
async def test_a_removed_member_s_typing_and_presence_reach_nobody_and_the_socket_closes(private_room, frame):
    room, alice, bob = private_room
    owner, member = await _in_room(alice, "secret"), await _in_room(bob, "secret")
    while len((await owner.expect("presence"))["online"]) < 2:
        pass  # bob is online
    await sync_to_async(_lose)(room, bob)

    await member.send(frame)

    assert await member.closed_code() == 4403
    assert await owner.quiet("typing", "presence", timeout=0.5)


@pytest.fixture
def open_room_with_mallory(make_user):
    alice, mallory = make_user("alice"), make_user("mallory")
    room = room_create(slug="open", title="Open", created_by=alice)
    message, _ = message_post(room=room, author=mallory, body="mine", client_id="m1")
    return room, mallory, message


async def test_after_the_room_went_private_an_outsider_can_neither_react_nor_edit(open_room_with_mallory):
    room, mallory, mine = open_room_with_mallory
    outsider = await _in_room(mallory, "open")
    # Private now, mallory no longer a member; the room.access push that would close her socket was lost.
    await sync_to_async(Room.objects.filter(pk=room.pk).update)(kind=Room.Kind.PRIVATE)
    await sync_to_async(Membership.objects.filter(room=room, user=mallory).delete)()

    await outsider.send({"type": "reaction.add", "id": mine.pk, "emoji": "👍"})
    first = await outsider.expect("error")
    await outsider.send({"type": "message.edit", "id": mine.pk, "body": "changed"})
    second = await outsider.expect("error")

    assert (first["code"], second["code"]) == ("forbidden", "forbidden")
    assert not await sync_to_async(Reaction.objects.exists)()
    assert (await sync_to_async(Message.objects.get)(pk=mine.pk)).body == "mine"
