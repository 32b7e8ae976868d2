"""Chat pages, the history API, direct messages, the create_room command and admin moderation."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from chat.models import Membership, Message, Room
from chat.services import direct_room_open, message_post, room_create

pytestmark = pytest.mark.django_db


def post_many(room, author, n):
    return [message_post(room=room, author=author, body=f"m{i}", client_id="")[0] for i in range(n)]


def test_room_list_shows_public_rooms_and_only_my_private_ones(alice_client, alice, make_user):
    room_create(slug="general", title="General")
    room_create(slug="mine", title="Mine", private=True, created_by=alice)
    room_create(slug="theirs", title="Theirs", private=True, created_by=make_user("bob"))

    page = alice_client.get(reverse("home")).content.decode()

    assert "General" in page
    assert "Mine" in page
    assert "Theirs" not in page


def test_room_list_shows_unread_counts(alice_client, alice, make_user):
    bob = make_user("bob")
    room = room_create(slug="general", title="General")
    Membership.objects.create(room=room, user=alice, last_read_seq=0)
    post_many(room, bob, 3)
    message_post(room=room, author=alice, body="my own does not count", client_id="")

    rooms = {r.slug: r for r in alice_client.get(reverse("home")).context["rooms"]}

    assert rooms["general"].unread == 3


def test_new_room_form_creates_a_room_owned_by_me(alice_client, alice):
    response = alice_client.post(reverse("room-new"), {"title": "Team Lunch", "topic": "Where to eat"})

    assert response.status_code == 302
    room = Room.objects.get(slug="team-lunch")
    assert response.url == "/rooms/team-lunch/"
    assert Membership.objects.get(room=room, user=alice).role == "owner"


def test_room_page_shows_the_last_50_messages_and_the_composer(alice_client, alice):
    room = room_create(slug="general", title="General")
    post_many(room, alice, 60)

    response = alice_client.get("/rooms/general/")

    history = response.context["history"]
    assert [m["seq"] for m in history] == list(range(11, 61))
    assert response.context["has_more"] is True
    page = response.content.decode()
    assert 'aria-label="Message"' in page
    assert ">Send</button>" in page


def test_message_bodies_cannot_inject_html(alice_client, alice):
    room = room_create(slug="general", title="General")
    message_post(room=room, author=alice, body="<script>alert(1)</script>", client_id="")

    page = alice_client.get("/rooms/general/").content.decode()

    assert "<script>alert(1)" not in page


def test_unknown_room_page_is_404(alice_client):
    response = alice_client.get("/rooms/nowhere/")

    assert response.status_code == 404
    assert "There is no room called" in response.content.decode()


def test_private_room_page_is_forbidden_to_non_members(alice_client, make_user):
    room_create(slug="secret", title="Secret", private=True, created_by=make_user("bob"))

    assert alice_client.get("/rooms/secret/").status_code == 403


def test_direct_message_opens_one_room_per_pair(alice_client, alice, make_user):
    bob = make_user("bob")

    first = alice_client.post(reverse("direct-message", args=["bob"]))
    second = alice_client.post(reverse("direct-message", args=["bob"]))

    assert first.url == second.url
    room = Room.objects.get(kind=Room.Kind.DIRECT)
    assert set(room.memberships.values_list("user__username", flat=True)) == {"alice", "bob"}
    assert direct_room_open(user=bob, other=alice) == room


def test_direct_message_to_oneself_is_refused(alice_client):
    response = alice_client.post(reverse("direct-message", args=["alice"]), follow=True)

    assert "cannot send direct messages to yourself" in response.content.decode()
    assert not Room.objects.exists()


def test_api_pages_history_by_seq(alice_client, alice):
    room = room_create(slug="general", title="General")
    post_many(room, alice, 30)

    older = alice_client.get("/api/rooms/general/messages?before_seq=21&limit=10").json()
    newer = alice_client.get("/api/rooms/general/messages?after_seq=25").json()

    assert [m["seq"] for m in older["messages"]] == list(range(11, 21))
    assert older["has_more"] is True
    assert [m["seq"] for m in newer["messages"]] == [26, 27, 28, 29, 30]
    assert newer["has_more"] is False


@pytest.mark.parametrize(
    ("query", "detail"),
    [("before_seq=abc", "before_seq"), ("after_seq=-2", "after_seq"), ("limit=5000", "limit")],
)
def test_api_rejects_bad_parameters_with_a_clear_error(alice_client, query, detail):
    room_create(slug="general", title="General")

    response = alice_client.get(f"/api/rooms/general/messages?{query}")

    assert response.status_code == 400
    assert detail in response.json()["error"]["detail"]


def test_api_requires_sign_in_and_membership(client, make_user):
    room_create(slug="secret", title="Secret", private=True, created_by=make_user("bob"))

    assert client.get("/api/rooms/secret/messages").status_code == 401
    client.force_login(make_user("eve"))
    assert client.get("/api/rooms/secret/messages").status_code == 403
    assert client.get("/api/rooms/nowhere/messages").status_code == 404


def test_create_room_command_creates_a_private_room_with_members(make_user):
    make_user("alice")
    make_user("bob")
    out = StringIO()

    call_command(
        "create_room", "ops", "--title", "Operations", "--private", "--member", "alice", "--member", "bob", stdout=out
    )

    room = Room.objects.get(slug="ops")
    assert room.title == "Operations"
    assert room.kind == Room.Kind.PRIVATE
    assert set(room.memberships.values_list("user__username", flat=True)) == {"alice", "bob"}
    assert "/rooms/ops/" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["has space"], "not a valid room name"),
        (["ops", "--member", "ghost"], "No such user: ghost"),
    ],
)
def test_create_room_command_explains_bad_input_and_creates_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_room", *args)
    assert not Room.objects.exists()


def test_create_room_command_refuses_a_taken_slug():
    call_command("create_room", "ops", stdout=StringIO())

    with pytest.raises(CommandError, match="already exists"):
        call_command("create_room", "ops")


def test_admin_can_hide_a_message(client, make_user):
    admin = make_user("root", is_staff=True, is_superuser=True)
    room = room_create(slug="general", title="General")
    message = post_many(room, make_user("troll"), 1)[0]
    client.force_login(admin)

    response = client.post(
        reverse("admin:chat_message_changelist"),
        {"action": "hide_messages", "_selected_action": [message.pk]},
        follow=True,
    )

    assert response.status_code == 200
    message.refresh_from_db()
    assert message.deleted_at is not None
    api = client.get("/api/rooms/general/messages").json()
    assert api["messages"][0]["deleted"] is True
    assert api["messages"][0]["body"] == ""


def test_admin_lists_rooms_memberships_and_messages_with_search(client, make_user):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    room = room_create(slug="general", title="General")
    post_many(room, make_user("bob"), 2)

    for name in ("room", "membership", "message"):
        assert client.get(reverse(f"admin:chat_{name}_changelist") + "?q=general").status_code == 200


def test_message_json_has_the_protocol_fields(alice_client, alice):
    room = room_create(slug="general", title="General")
    message_post(room=room, author=alice, body="hi", client_id="abc")

    data = json.loads(alice_client.get("/api/rooms/general/messages").content)["messages"][0]

    assert set(data) >= {"id", "seq", "room", "author", "body", "created_at", "client_id"}
    assert Message.objects.get().seq == data["seq"] == 1
