"""Each push that takes access away leaves a re-check in the outbox; delivered (however late, however
often) it makes the sockets ask the database, so a lost push closes them all the same."""

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from accounts.models import UserSession
from accounts.services import user_session_revoke
from chat.membership import membership_remove
from chat.models import Membership
from chat.services import room_create
from chatsite.realtime import RECHECK_EVENT, recheck_deliver
from redis_toolkit.events.codec import Event
from redis_toolkit.models import OutboxEvent
from tests.chat.conftest import open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_client")]


def _rechecks() -> list[dict]:
    return [row.payload for row in OutboxEvent.objects.filter(type=RECHECK_EVENT).order_by("pk")]


def _deliver_rechecks() -> None:
    """What the stream workers do with the outbox rows, here without the channel-layer push that was lost."""
    for row in OutboxEvent.objects.filter(type=RECHECK_EVENT).order_by("pk"):
        recheck_deliver(Event(row.pk, row.type, row.payload, row.occurred_at, row.stream, "0-1"))


def test_a_removal_records_re_checks_for_the_room_sockets_and_the_room_list(private_room):
    room, alice, bob = private_room

    membership_remove(room=room, actor=alice, user=bob)

    assert _rechecks() == [
        {"group": f"chat.member.{room.pk}.{bob.pk}", "check": "room.access"},
        {"group": f"notifications.user.{bob.pk}", "check": "room.access"},
    ]


async def test_a_delivered_re_check_closes_a_removed_member_s_socket_and_his_room_list_stops_watching(private_room):
    room, _, bob = private_room
    connected, _, sock = await open_socket(bob, "/ws/rooms/secret/")
    assert connected
    await sock.expect("presence")
    _, _, bell = await open_socket(bob, "/ws/notifications/")
    await bell.send({"type": "rooms.watch"})
    assert (await bell.expect("rooms.watching"))["count"] == 1
    # Removed with no push at all (as if every one was lost): the re-checks alone must do it.
    await sync_to_async(Membership.objects.filter(room=room, user=bob).delete)()
    await sync_to_async(_record_removal_rechecks)(room, bob)

    await sync_to_async(_deliver_rechecks)()

    assert await sock.closed_code() == 4403
    await bell.send({"type": "rooms.watch"})
    assert (await bell.expect("rooms.watching"))["count"] == 0


def _record_removal_rechecks(room, user) -> None:
    from chatsite.realtime import member_group, recheck_durably, user_group

    recheck_durably(member_group(room.pk, user.pk), "room.access")
    recheck_durably(user_group(user.pk), "room.access")


async def test_a_delivered_re_check_closes_the_sockets_of_a_revoked_session(make_user):
    bob = await sync_to_async(make_user)("bob")
    await sync_to_async(room_create)(slug="lobby", title="Lobby")
    connected, _, sock = await open_socket(bob, "/ws/rooms/lobby/")
    assert connected
    await sock.expect("presence")
    session_key = await sync_to_async(_only_session_key)()
    await sync_to_async(UserSession.objects.create)(user=bob, session_key=session_key, last_seen=timezone.now())

    await sync_to_async(user_session_revoke)(user=bob, session_key=session_key)
    await sync_to_async(_deliver_rechecks)()

    assert await sock.closed_code() == 4401
    assert [r["check"] for r in await sync_to_async(_rechecks)()] == ["session.check"]


def _only_session_key() -> str:
    from django.contrib.sessions.models import Session

    return Session.objects.get().session_key


def test_a_re_check_of_an_unknown_kind_goes_to_the_dead_letters():
    from redis_toolkit.events.registry import InvalidEvent

    payload = {"group": "chat.room.1", "check": "socket.close"}
    with pytest.raises(InvalidEvent):
        recheck_deliver(Event(1, RECHECK_EVENT, payload, None, "realtime", "0-1"))


# ------------------------------------------------------------------ the admin takes access away too
@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


async def test_a_membership_deleted_in_the_admin_closes_the_member_s_socket(private_room, staff_client):
    from django.urls import reverse

    room, _, bob = private_room
    connected, _, sock = await open_socket(bob, "/ws/rooms/secret/")
    assert connected
    await sock.expect("presence")
    membership = await sync_to_async(Membership.objects.get)(room=room, user=bob)
    url = reverse("admin:chat_membership_delete", args=[membership.pk])

    response = await sync_to_async(staff_client.post)(url, {"post": "yes"})

    assert response.status_code == 302
    assert await sock.closed_code() == 4403
    assert {"group": f"chat.member.{room.pk}.{bob.pk}", "check": "room.access"} in await sync_to_async(_rechecks)()


async def test_a_room_made_private_in_the_admin_closes_the_sockets_of_non_members(make_user, staff_client):
    from django.urls import reverse

    from chat.models import Room

    mallory = await sync_to_async(make_user)("mallory")
    room = await sync_to_async(room_create)(slug="open", title="Open")
    connected, _, sock = await open_socket(mallory, "/ws/rooms/open/")
    assert connected
    await sock.expect("presence")
    await sync_to_async(Membership.objects.filter(room=room, user=mallory).delete)()
    form = {
        "slug": "open",
        "title": "Open",
        "topic": "",
        "kind": Room.Kind.PRIVATE,
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }

    response = await sync_to_async(staff_client.post)(reverse("admin:chat_room_change", args=[room.pk]), form)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert await sock.closed_code() == 4403
