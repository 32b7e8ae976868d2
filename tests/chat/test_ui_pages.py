"""What readers see server-side: the room list (order, previews, unread, names), error pages, favicon, profiles."""

from datetime import timedelta

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import UserSession
from chat.models import Membership, Message, Room
from chat.selectors import room_list_for_user
from chat.services import direct_room_open, message_delete, message_post, room_create
from chatsite.error_pages import handler500

pytestmark = pytest.mark.django_db


def post(room, author, body):
    return message_post(room=room, author=author, body=body, client_id="")[0]


def test_room_list_is_ordered_by_last_activity_with_the_last_visible_message(alice, make_user):
    bob = make_user("bob")
    quiet = room_create(slug="quiet", title="Quiet")
    busy = room_create(slug="busy", title="Busy")
    post(quiet, bob, "an old message")
    post(busy, bob, "the newest visible one")
    hidden = post(busy, bob, "deleted right away")
    message_delete(room=busy, message_id=hidden.pk, actor=bob)
    Message.objects.filter(room=quiet).update(created_at=timezone.now() - timedelta(days=2))
    empty = room_create(slug="empty", title="Empty")
    Room.objects.filter(pk=empty.pk).update(created_at=timezone.now() - timedelta(days=1))

    rooms = list(room_list_for_user(user=alice))

    assert [r.slug for r in rooms] == ["busy", "empty", "quiet"]
    assert (rooms[0].preview_author, rooms[0].preview_body) == ("bob", "the newest visible one")
    assert rooms[1].preview_body is None


def test_room_list_is_one_query_however_many_rooms(alice, make_user, django_assert_num_queries):
    bob = make_user("bob")
    for n in range(6):
        room = room_create(slug=f"room-{n}", title=f"Room {n}")
        post(room, bob, f"hello {n}")
    room_create(slug="mine", title="Mine", private=True, created_by=alice)

    with django_assert_num_queries(1):
        rooms = list(room_list_for_user(user=alice))

    assert len(rooms) == 7
    assert all(r.preview_body for r in rooms if r.slug != "mine")


def test_room_list_page_queries_do_not_grow_with_the_number_of_rooms(alice_client, make_user):
    bob = make_user("bob")

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert alice_client.get(reverse("home")).status_code == 200
        return len(queries)

    for n in range(2):
        post(room_create(slug=f"a-{n}", title=f"A {n}"), bob, "hi")
    page_queries()  # the first request of a session also records the browser
    few = page_queries()
    for n in range(8):
        post(room_create(slug=f"b-{n}", title=f"B {n}"), bob, "hi")
    assert page_queries() == few


def test_unread_rooms_are_bold_and_read_ones_are_not(alice_client, alice, make_user):
    bob = make_user("bob")
    unread = room_create(slug="unread", title="Unread")
    read = room_create(slug="read", title="Read")
    Membership.objects.create(room=unread, user=alice, last_read_seq=0)
    Membership.objects.create(room=read, user=alice, last_read_seq=1)
    post(unread, bob, "news")
    post(read, bob, "old news")

    page = alice_client.get(reverse("home")).content.decode()

    assert 'data-room="unread" data-joined class="unread"' in page
    assert 'data-room="read" data-joined class=""' in page
    assert "bob: news" in page


def test_a_second_public_room_with_the_same_title_is_refused_on_the_form(alice_client):
    room_create(slug="general", title="General")

    response = alice_client.post(reverse("room-new"), {"title": "general "})

    assert response.status_code == 400
    assert Room.objects.filter(title__iexact="general").count() == 1
    errors = response.context["form"].errors["title"]
    assert "A public room called “General” already exists" in errors[0]
    assert 'href="/rooms/general/"' in response.content.decode()


def test_private_rooms_that_share_a_title_are_told_apart_by_their_slug(alice_client, alice):
    room_create(slug="team", title="Team", private=True, created_by=alice)
    room_create(slug="team-2", title="Team", private=True, created_by=alice)
    room_create(slug="solo", title="Solo", private=True, created_by=alice)

    page = alice_client.get(reverse("home")).content.decode()

    assert '<span class="slug">(team)</span>' in page
    assert '<span class="slug">(team-2)</span>' in page
    assert "(solo)" not in page


def test_dm_header_and_composer_name_the_other_person_the_same_way(alice_client, alice, make_user):
    room = direct_room_open(user=alice, other=make_user("bob"))

    page = alice_client.get(reverse("room", args=[room.slug])).content.decode()

    assert '<h1 id="room-title">@<bdi>bob</bdi></h1>' in page
    assert 'placeholder="Message @bob"' in page
    assert "#bob" not in page


@pytest.mark.parametrize("debug", [True, False])
@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/rooms/nowhere/", 404, "There is no room called “nowhere”."),
        ("/users/nobody/", 404, "There is nobody called “nobody” here."),
        ("/rooms/secret/", 403, "This room is private; ask a member to add you."),
    ],
)
def test_user_facing_errors_are_styled_pages_with_debug_on_and_off(
    alice_client, make_user, settings, debug, path, status, detail
):
    settings.DEBUG = debug
    room_create(slug="secret", title="Secret", private=True, created_by=make_user("bob"))

    response = alice_client.get(path)

    assert response.status_code == status
    page = response.content.decode()
    assert 'class="card narrow error-page"' in page
    assert detail in page
    assert "Back to your rooms" in page


def test_unknown_addresses_get_the_styled_404_when_debug_is_off(alice_client, settings):
    settings.DEBUG = False

    response = alice_client.get("/no/such/page/")

    assert response.status_code == 404
    assert "There is no page at this address." in response.content.decode()


def test_someone_elses_session_is_a_styled_404(alice_client, make_user, settings):
    settings.DEBUG = True
    theirs = UserSession.objects.create(session_key="x" * 32, user=make_user("bob"), last_seen=timezone.now())

    response = alice_client.post(reverse("accounts:session-revoke", args=[theirs.pk]))

    assert response.status_code == 404
    assert "error-page" in response.content.decode()


def test_the_500_page_renders_without_the_database_or_a_signed_in_user():
    response = handler500(RequestFactory().get("/"))

    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page
    assert "favicon.svg" in page


def test_every_page_links_the_favicon_and_the_old_address_redirects_to_it(alice_client):
    page = alice_client.get(reverse("home")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    assert finders.find("favicon.svg")

    response = alice_client.get("/favicon.ico")
    assert response.status_code == 301
    assert response.url == "/static/favicon.svg"


def test_profile_shows_when_the_person_was_last_seen(alice_client, make_user):
    bob = make_user("bob")
    UserSession.objects.create(session_key="b" * 32, user=bob, last_seen=timezone.now() - timedelta(hours=3))

    page = alice_client.get(reverse("profile", args=["bob"])).content.decode()

    assert "Last seen <time" in page
    assert "3\xa0hours ago" in page
    assert "Message @bob" in page
    assert alice_client.get(reverse("profile", args=["alice"])).status_code == 200


def test_a_profile_never_seen_says_so(alice_client, make_user):
    make_user("carol")

    assert "Not seen yet." in alice_client.get(reverse("profile", args=["carol"])).content.decode()


def test_login_page_says_why_a_signed_out_browser_landed_there(client):
    page = client.get(reverse("login") + "?reason=signed_out&next=/rooms/x/").content.decode()
    assert "This browser was signed out" in page
    assert "signed out" not in client.get(reverse("login")).content.decode()


def test_signup_errors_are_marked_apart_from_the_password_help(client):
    response = client.post(
        reverse("accounts:signup"), {"username": "newbie", "password1": "pw-one-123!", "password2": "pw-two-456!"}
    )

    page = response.content.decode()
    assert 'class="error form-error-summary" role="alert"' in page
    assert '<ul class="errorlist"' in page
    assert 'class="helptext"' in page
