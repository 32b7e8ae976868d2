"""Reading a room: grouping, day separators, full dates, the new-messages divider and its jump, empty rooms."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chat.models import Membership, Message
from chat.services import message_post, room_create
from tests.e2e.conftest import DESKTOP, PHONE, in_thread, send_from_composer

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("redis_client")]


def post_at(room, author, body, minutes_ago: float):
    message, _ = in_thread(message_post, room=room, author=author, body=body, client_id="")
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    return message


@pytest.mark.django_db(transaction=True)
def test_runs_by_one_author_group_under_day_separators_with_full_dates_on_hover(asgi_server, room_page, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    room = room_create(slug="lobby", title="Lobby")
    post_at(room, alice, "from three days ago", 3 * 24 * 60)
    post_at(room, bob, "from yesterday", 24 * 60 + 5)
    post_at(room, alice, "first of a run", 10)
    post_at(room, alice, "second of the run", 9)
    post_at(room, alice, "third of the run", 8)
    post_at(room, alice, "after a quiet spell", 1)  # seven minutes later: a new group
    server = asgi_server()

    page = room_page(server, "bob", "lobby", viewport=DESKTOP)
    messages = page.get_by_role("list", name="Messages")
    expect(messages.get_by_text("after a quiet spell")).to_be_visible()

    days = messages.locator("li.day-divider").all_inner_texts()
    assert days[1:] == ["Yesterday", "Today"]
    assert re.fullmatch(r"[A-Z][a-z]+day, [A-Z][a-z]+ \d+|[A-Z][a-z]+day \d+ [A-Z][a-z]+", days[0]), days
    grouped = {seq: "grouped" in page.locator(f"#seq-{seq}").get_attribute("class") for seq in range(1, 7)}
    assert grouped == {1: False, 2: False, 3: False, 4: True, 5: True, 6: False}
    expect(page.locator("#seq-4 .author")).to_have_text("alice")  # still there for screen readers
    expect(page.locator("#seq-4 .author")).to_have_css("position", "absolute")

    time = page.locator("#seq-1 time")
    assert time.get_attribute("datetime").startswith(str((timezone.now() - timedelta(days=3)).date()))
    assert re.search(r"\d{4}", time.get_attribute("title"))  # the full date and time on hover
    expect(messages.get_by_text("This is the start of #Lobby.")).to_be_visible()
    expect(page.get_by_role("button", name="Load older messages")).to_be_hidden()


@pytest.mark.django_db(transaction=True)
def test_the_jump_control_goes_to_the_first_unread_even_beyond_the_loaded_page(asgi_server, room_page, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    room = room_create(slug="lobby", title="Lobby")
    for n in range(1, 61):
        in_thread(message_post, room=room, author=alice, body=f"message {n}", client_id="")
    Membership.objects.create(room=room, user=bob, last_read_seq=5)  # 55 unread; the page holds the last 50
    server = asgi_server()

    page = room_page(server, "bob", "lobby", viewport=PHONE)
    expect(page.get_by_text("message 60", exact=True)).to_be_visible()
    divider = page.locator("li.new-divider", has_text="New messages")
    expect(divider).to_have_count(0)  # further up than the first page

    jump = page.get_by_role("button", name="Jump to the first new message")
    expect(jump).to_be_visible()
    jump.click()

    expect(divider).to_be_visible()
    expect(divider).to_be_focused()
    following = page.locator(".new-divider + li.message")
    expect(following).to_have_attribute("data-seq", "6")
    expect(jump).to_be_hidden()
    expect(page.get_by_text("This is the start of #Lobby.")).to_be_attached()  # all 60 are loaded now


@pytest.mark.django_db(transaction=True)
def test_an_empty_room_says_so_and_marks_its_start(lone_room_page):
    page = lone_room_page("quiet", "Quiet")

    messages = page.get_by_role("list", name="Messages")
    expect(messages.get_by_text("This is the start of #Quiet.")).to_be_visible()
    expect(messages.get_by_text("No messages yet. Write the first one below.")).to_be_visible()
    send_from_composer(page, "first!")
    expect(messages.get_by_text("first!")).to_be_visible()
    expect(messages.get_by_text("No messages yet")).to_have_count(0)
    expect(messages.locator("li.day-divider", has_text="Today")).to_be_visible()


@pytest.mark.django_db(transaction=True)
def test_new_messages_are_announced_politely_with_their_author(asgi_server, room_page, make_user):
    alice, _ = make_user("alice"), make_user("bob")
    room = room_create(slug="lobby", title="Lobby")
    in_thread(message_post, room=room, author=alice, body="old news", client_id="")
    server = asgi_server()

    page = room_page(server, "bob", "lobby")
    announcer = page.locator("#announcer")
    expect(page.get_by_text("old news")).to_be_visible()
    expect(announcer).to_have_attribute("aria-live", "polite")
    expect(announcer).to_have_text("")  # history is not read out

    in_thread(message_post, room=room, author=alice, body="fresh news", client_id="")
    expect(announcer).to_have_text("alice: fresh news")
    for n in range(3):
        in_thread(message_post, room=room, author=alice, body=f"burst {n}", client_id="")
    expect(announcer).to_have_text("3 new messages. Latest, alice: burst 2")


@pytest.mark.django_db(transaction=True)
def test_the_room_list_bolds_reorders_and_previews_live(asgi_server, signed_in_page, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    quiet = room_create(slug="quiet", title="Quiet")
    busy = room_create(slug="busy", title="Busy")
    for room in (quiet, busy):
        Membership.objects.create(room=room, user=bob)
    post_at(quiet, alice, "long ago", 60)
    post_at(busy, alice, "recently", 1)
    server = asgi_server()

    page = signed_in_page(server, "bob")
    items = page.locator("#room-list > li")
    expect(items.first).to_have_attribute("data-room", "busy")
    expect(page.locator('li[data-room="busy"] .preview')).to_have_text("alice: recently")
    expect(page).to_have_title(re.compile(r"^\(2\) Rooms"))  # both rooms have one unread
    expect(page.locator("body[data-watching]")).to_be_attached()

    in_thread(message_post, room=quiet, author=alice, body="quiet no more", client_id="")

    expect(items.first).to_have_attribute("data-room", "quiet")
    expect(items.first.locator(".preview")).to_have_text("alice: quiet no more")
    expect(items.first).to_have_class(re.compile(r"\bunread\b"))
    expect(items.first.locator(".unread-count")).to_have_text("2")
    expect(items.first.locator(".room-name")).to_have_css("font-weight", "700")
    expect(page).to_have_title(re.compile(r"^\(3\) Rooms"))
