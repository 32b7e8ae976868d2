"""Notifications: created once per event, unread count in Redis, pages, bell API, live delivery."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.urls import reverse

from chat.services import room_create
from chatsite.errors import UserError
from notifications import unread
from notifications.models import Notification
from notifications.services import broadcast_create, broadcast_send, notification_create, notification_mark_read
from redis_toolkit.client import get_redis
from tests.chat.conftest import open_socket

pytestmark = pytest.mark.usefixtures("redis_client")


def notify(user, event_id="evt-1", text="bob mentioned you"):
    return notification_create(recipient_id=user.pk, kind=Notification.Kind.MENTION, event_id=event_id, text=text)


@pytest.mark.django_db
def test_the_same_event_twice_makes_one_notification_and_counts_once(make_user):
    bob = make_user("bob")

    assert notify(bob) is not None
    assert notify(bob) is None

    assert Notification.objects.filter(recipient=bob).count() == 1
    assert unread.unread_count(bob.pk) == 1


@pytest.mark.django_db(transaction=True)
def test_unread_count_is_rebuilt_from_the_database_when_redis_lost_it(make_user):
    bob = make_user("bob")
    notify(bob, "e1")
    notify(bob, "e2")
    get_redis().delete(unread._key(bob.pk))

    assert unread.unread_count(bob.pk) == 2
    notify(bob, "e3")
    assert unread.unread_count(bob.pk) == 3


@pytest.mark.django_db(transaction=True)
def test_mark_read_one_and_all(make_user):
    bob = make_user("bob")
    first, second, third = (notify(bob, f"e{i}") for i in range(3))

    marked, count = notification_mark_read(user=bob, ids=[first.pk])
    assert (marked, count) == ([first.pk], 2)

    marked, count = notification_mark_read(user=bob)
    assert sorted(marked) == sorted([second.pk, third.pk])
    assert count == 0
    assert unread.unread_count(bob.pk) == 0


@pytest.mark.django_db
def test_marking_someone_elses_notification_read_is_404_and_changes_nothing(client, make_user):
    bob, eve = make_user("bob"), make_user("eve")
    theirs, mine = notify(bob), notify(eve)
    client.force_login(eve)

    assert client.post(reverse("notifications:read", args=[theirs.pk])).status_code == 404
    response = client.post(
        reverse("notifications:api-read"), json.dumps({"ids": [mine.pk, theirs.pk]}), content_type="application/json"
    )

    assert response.status_code == 404
    assert Notification.objects.filter(read_at__isnull=False).count() == 0


@pytest.mark.django_db
def test_bell_api_lists_latest_with_the_unread_count(client, make_user):
    bob = make_user("bob")
    for i in range(12):
        notify(bob, f"e{i}", text=f"note {i}")
    client.force_login(bob)

    data = client.get(reverse("notifications:api-list")).json()

    assert data["unread_count"] == 12
    assert len(data["notifications"]) == 10
    assert data["notifications"][0]["text"] == "note 11"


@pytest.mark.parametrize("body", ["nope", "{}", '{"ids": []}', '{"ids": ["1"]}', '{"all": "yes"}'])
@pytest.mark.django_db
def test_bell_api_explains_a_bad_body(client, make_user, body):
    client.force_login(make_user())

    response = client.post(reverse("notifications:api-read"), body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["detail"]


@pytest.mark.django_db
def test_bell_api_needs_sign_in(client):
    assert client.get(reverse("notifications:api-list")).status_code == 401


@pytest.mark.django_db
def test_notifications_page_lists_unread_first_and_paginates(client, make_user):
    bob = make_user("bob")
    old = notify(bob, "old", text="older but unread")
    for i in range(25):
        notification_mark_read(user=bob, ids=[notify(bob, f"r{i}", text=f"read {i}").pk])
    client.force_login(bob)

    page = client.get(reverse("notifications:list")).context["page"]
    by_date = client.get(reverse("notifications:list") + "?order=date").context["page"]

    assert page.object_list[0] == old
    assert page.paginator.num_pages == 2
    assert by_date.object_list[0].text == "read 24"


@pytest.mark.django_db
def test_every_page_shows_the_bell_count(client, make_user):
    bob = make_user("bob")
    notify(bob)
    client.force_login(bob)

    page = client.get(reverse("home")).content.decode()

    assert 'aria-label="Notifications, 1 unread"' in page


@pytest.mark.django_db
def test_broadcast_with_empty_text_or_unknown_user_is_refused_and_nothing_is_stored(make_user):
    admin = make_user("root", is_staff=True)

    with pytest.raises(UserError, match="needs some visible text"):
        broadcast_create(text="  ", created_by=admin)
    with pytest.raises(UserError, match="No such user: ghost"):
        broadcast_create(text="hi", created_by=admin, usernames=["root", "ghost"])
    assert not Notification.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_broadcast_reaches_a_rooms_members_once_even_if_sent_twice(make_user):
    admin, alice, bob, _outsider = make_user("root", is_staff=True), make_user("alice"), make_user("bob"), make_user()
    room = room_create(slug="team", title="Team", private=True, created_by=alice, members=[bob])
    broadcast = broadcast_create(text="Deploy at 5", created_by=admin, room=room)
    progress = []

    assert broadcast_send(broadcast=broadcast, progress=lambda done, total: progress.append((done, total))) == 2
    assert broadcast_send(broadcast=broadcast) == 0

    assert set(Notification.objects.values_list("recipient__username", flat=True)) == {"alice", "bob"}
    assert progress[-1] == (2, 2)
    assert unread.unread_count(bob.pk) == 1


async def _notification_socket(user):
    connected, _, socket = await open_socket(user, "/ws/notifications/")
    assert connected
    return socket


@pytest.mark.django_db(transaction=True)
async def test_new_notification_reaches_the_open_socket(make_user):
    bob = await sync_to_async(make_user)("bob")
    socket = await _notification_socket(bob)

    await sync_to_async(notify)(bob)

    frame = await socket.expect("notification.new")
    assert frame["notification"]["text"] == "bob mentioned you"
    assert frame["unread_count"] == 1


@pytest.mark.django_db(transaction=True)
async def test_marking_read_in_one_tab_updates_the_badge_in_another(make_user):
    bob = await sync_to_async(make_user)("bob")
    first_tab, second_tab = await _notification_socket(bob), await _notification_socket(bob)
    notification = await sync_to_async(notify)(bob)
    await first_tab.expect("notification.new")
    await second_tab.expect("notification.new")

    await sync_to_async(notification_mark_read)(user=bob, ids=[notification.pk])

    frame = await second_tab.expect("notification.read")
    assert frame == {"type": "notification.read", "ids": [notification.pk], "unread_count": 0}


@pytest.mark.django_db(transaction=True)
async def test_room_list_watch_receives_new_messages_of_my_rooms_but_not_typing(make_user):
    from chat.services import message_post, room_join

    alice, bob = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("bob")
    room = await sync_to_async(room_create)(slug="team", title="Team")
    await sync_to_async(room_join)(room=room, user=bob)
    socket = await _notification_socket(bob)
    await socket.send({"type": "rooms.watch"})
    await socket.send({"type": "rooms.watch"})  # idempotent: still one copy of each message
    assert (await socket.expect("rooms.watching"))["count"] == 1
    await socket.expect("rooms.watching")

    from chat import frames
    from chatsite.realtime import abroadcast_to_room

    await abroadcast_to_room(room.pk, frames.typing(room_slug="team", user_id=alice.pk, username="alice", active=True))
    await sync_to_async(message_post)(room=room, author=alice, body="hi", client_id="")

    frame = await socket.expect("message.new", "typing")
    assert frame["type"] == "message.new"
    assert frame["message"]["room"] == "team"
    assert await socket.quiet("message.new")


@pytest.mark.django_db(transaction=True)
async def test_a_burst_of_messages_is_followed_by_one_server_rendered_list_item(make_user, monkeypatch):
    from chat.services import message_post, room_join
    from notifications import consumers

    monkeypatch.setattr(consumers, "ITEM_DELAY", 0.2)
    alice, bob = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("bob")
    room = await sync_to_async(room_create)(slug="team", title="Team")
    await sync_to_async(room_join)(room=room, user=bob)
    socket = await _notification_socket(bob)
    await socket.send({"type": "rooms.watch"})
    await socket.expect("rooms.watching")

    for n in range(3):
        await sync_to_async(message_post)(room=room, author=alice, body=f"news <{n}>", client_id="")

    item = await socket.expect("room.item")
    assert item["room"] == "team"
    assert 'data-room="team"' in item["html"]
    assert "alice: news &lt;2&gt;" in item["html"]  # the newest, escaped by the template
    assert 'aria-label="3 unread"' in item["html"]
    assert 'class="preview"' not in item["html_compact"]
    assert await socket.quiet("room.item", timeout=0.5)  # once for the burst


@pytest.mark.django_db(transaction=True)
async def test_a_resync_after_an_outage_sends_the_count_from_the_database_and_nothing_already_sent(make_user):
    from django.utils import timezone

    from chatsite.realtime import user_group

    bob = await sync_to_async(make_user)("bob")
    await sync_to_async(notify)(bob, "old")  # before the socket: the page showed it already
    socket = await _notification_socket(bob)
    await sync_to_async(notify)(bob, "live")
    await socket.expect("notification.new")
    # Read in another tab while Redis was down: neither the push nor the Redis set heard of it.
    await Notification.objects.filter(recipient=bob).aupdate(read_at=timezone.now())

    await get_channel_layer().group_send(user_group(bob.pk), {"type": "layer.resync"})

    assert await socket.expect("notification.read") == {"type": "notification.read", "ids": [], "unread_count": 0}
    assert await socket.quiet("notification.new")
    assert await sync_to_async(unread.unread_count)(bob.pk) == 0  # the set was rebuilt


@pytest.mark.django_db(transaction=True)
async def test_a_socket_is_subscribed_to_its_user_group_when_the_client_sees_it_open(make_user):
    # A push made the moment the page's socket opens must reach it: every group is joined before the accept.
    from chatsite.realtime import user_group

    bob = await sync_to_async(make_user)("bob")
    layer = get_channel_layer()
    group_channel = layer._get_layer()._get_group_channel_name(user_group(bob.pk))
    socket = await _notification_socket(bob)
    assert dict(get_redis().pubsub_numsub(group_channel))[group_channel.encode()] == 1
    await socket.close()
