"""The bell in a real browser: a mention lights it up without a reload; opening it reads it."""

import pytest
from playwright.sync_api import expect

from chat.services import room_create

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_streams")]


@pytest.mark.django_db(transaction=True)
def test_mention_lights_the_bell_live_and_opening_it_clears_the_count(
    asgi_server, worker_process, signed_in_page, make_user
):
    make_user("alice"), make_user("bob")
    room_create(slug="lobby", title="Lobby")
    server = asgi_server()
    worker_process()

    alice_page = signed_in_page(server, "alice")
    bob_page = signed_in_page(server, "bob")  # stays on the room list
    bell = bob_page.get_by_role("button", name="Notifications")
    expect(bell).to_have_accessible_name("Notifications, 0 unread")

    alice_page.goto("/rooms/lobby/")
    composer = alice_page.get_by_role("textbox", name="Message")
    composer.fill("@bob could you review this?")
    composer.press("Enter")

    expect(bell).to_have_accessible_name("Notifications, 1 unread", timeout=10_000)
    expect(bob_page.locator("#bell-count")).to_have_text("1")

    bell.click()
    expect(bob_page.get_by_role("list", name="Latest notifications")).to_contain_text("alice mentioned you")
    expect(bell).to_have_accessible_name("Notifications, 0 unread")
    expect(bob_page.locator("#bell-count")).to_be_hidden()
