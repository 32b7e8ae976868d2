"""The bell in a real browser: a mention lights it up without a reload; opening it reads nothing, a click does."""

import re

import pytest
from playwright.sync_api import expect

from chat.services import message_post, room_create
from tests.e2e.conftest import in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_streams")]


@pytest.mark.django_db(transaction=True)
def test_mention_lights_the_bell_live_and_clicking_it_in_the_panel_reads_it(
    asgi_server, worker_process, signed_in_page, make_user
):
    make_user("alice"), make_user("bob")
    room_create(slug="lobby", title="Lobby")
    server = asgi_server()
    worker_process()

    alice_page = signed_in_page(server, "alice")
    bob_page = signed_in_page(server, "bob")  # stays on the room list
    bell = bob_page.get_by_role("button", name=re.compile("^Notifications"))
    expect(bell).to_have_accessible_name("Notifications, 0 unread")

    alice_page.goto("/rooms/lobby/")
    composer = alice_page.get_by_role("textbox", name="Message")
    composer.fill("@bob could you review this?")
    composer.press("Enter")

    expect(bell).to_have_accessible_name("Notifications, 1 unread", timeout=10_000)
    expect(bob_page.locator("#bell-count")).to_have_text("1")

    bell.click()
    latest = bob_page.get_by_role("list", name="Latest notifications")
    expect(latest).to_contain_text("alice mentioned you")
    expect(latest.locator("time")).to_have_text("just now")
    expect(latest.locator("time")).to_have_attribute("title", re.compile(r"\d{4}"))  # the full date on hover
    expect(bell).to_have_accessible_name("Notifications, 1 unread")  # opening the panel reads nothing

    latest.get_by_role("link", name=re.compile("alice mentioned you")).click()
    bob_page.wait_for_url(re.compile(r"/rooms/lobby/#seq-1$"))
    expect(bob_page.get_by_role("button", name=re.compile("^Notifications"))).to_have_accessible_name(
        "Notifications, 0 unread"
    )
    expect(bob_page.locator("#bell-count")).to_be_hidden()


@pytest.mark.django_db(transaction=True)
def test_mark_all_read_in_the_panel_clears_the_bell(asgi_server, worker_process, signed_in_page, make_user):
    alice, _ = make_user("alice"), make_user("bob")
    room = room_create(slug="lobby", title="Lobby")
    server = asgi_server()
    worker_process()
    bob_page = signed_in_page(server, "bob")
    bell = bob_page.get_by_role("button", name=re.compile("^Notifications"))

    for n in range(2):
        in_thread(message_post, room=room, author=alice, body=f"@bob ping {n}", client_id="")
    expect(bell).to_have_accessible_name("Notifications, 2 unread", timeout=10_000)

    bell.click()
    expect(bob_page.locator("#bell-list li.unread")).to_have_count(2)
    bob_page.get_by_role("button", name="Mark all read").click()

    expect(bell).to_have_accessible_name("Notifications, 0 unread")
    expect(bob_page.locator("#bell-list li.unread")).to_have_count(0)
    bob_page.keyboard.press("Escape")
    expect(bob_page.locator("#bell-panel")).to_be_hidden()
    expect(bell).to_be_focused()
