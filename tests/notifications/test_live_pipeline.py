"""Events to notifications through real worker processes: chat message -> stream -> handler -> socket."""

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from chat.services import membership_add, message_post, room_create
from notifications.models import Broadcast, Notification
from tests.chat.conftest import open_socket
from tests.conftest import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("clean_streams")]


@pytest.mark.django_db(transaction=True)
async def test_a_mention_reaches_the_mentioned_users_open_notification_socket(make_user, worker_process):
    alice = await sync_to_async(make_user)("alice")
    bob = await sync_to_async(make_user)("bob")
    room = await sync_to_async(room_create)(slug="lobby", title="Lobby")
    connected, _, bob_socket = await open_socket(bob, "/ws/notifications/")
    assert connected
    worker_process()

    await sync_to_async(message_post)(room=room, author=alice, body="@bob can you look?", client_id="")

    frame = await bob_socket.expect("notification.new", timeout=15)
    assert frame["notification"]["kind"] == "mention"
    assert frame["notification"]["actor"] == "alice"
    assert frame["notification"]["url"].endswith("/rooms/lobby/#seq-1")
    assert frame["unread_count"] == 1


@pytest.mark.django_db(transaction=True)
def test_an_invitation_and_an_admin_broadcast_are_delivered_by_the_workers(client, make_user, worker_process):
    import time

    admin = make_user("root", is_staff=True, is_superuser=True)
    alice, bob = make_user("alice"), make_user("bob")
    room = room_create(slug="secret", title="Secret", private=True, created_by=alice)
    membership_add(room=room, user=bob, added_by=alice)
    client.force_login(admin)
    response = client.post(reverse("admin:notifications_broadcast_add"), {"text": "Deploy at 5", "users": "alice, bob"})
    assert response.status_code == 302
    worker = worker_process()

    deadline = time.monotonic() + 30
    while Notification.objects.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.1)

    kinds = sorted(Notification.objects.values_list("recipient__username", "kind"))
    assert kinds == [("alice", "broadcast"), ("bob", "broadcast"), ("bob", "room_invite")], worker.log
    # The batch's notifications commit before the broadcast is marked complete: wait for that too.
    wait_until(lambda: Broadcast.objects.get().completed_at is not None, why=lambda: worker.log)


@pytest.mark.django_db
def test_admin_send_notification_page_refuses_unknown_users(client, make_user):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))

    response = client.post(reverse("admin:notifications_broadcast_add"), {"text": "hi", "users": "ghost"})

    assert response.status_code == 200
    assert "No such user: ghost" in response.content.decode()
    assert not Broadcast.objects.exists()
