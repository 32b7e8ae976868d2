"""Two people chatting in real browsers: live delivery, room isolation, presence, reconnect."""

import pytest
from playwright.sync_api import expect

from chat.services import message_post, room_create
from tests.e2e.conftest import in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("redis_client")]


@pytest.mark.django_db(transaction=True)
def test_two_users_chat_live_and_a_dropped_page_catches_up(asgi_server, signed_in_page, make_user):
    make_user("alice"), make_user("bob")
    carol = make_user("carol")
    lobby = room_create(slug="lobby", title="Lobby")
    room_create(slug="other", title="Other")
    server = asgi_server()

    alice_page = signed_in_page(server, "alice")
    bob_page = signed_in_page(server, "bob")
    carol_page = signed_in_page(server, "carol")
    for page, slug in ((alice_page, "lobby"), (bob_page, "lobby"), (carol_page, "other")):
        page.goto(f"/rooms/{slug}/")

    online = alice_page.get_by_role("list", name="Online members")
    expect(online.get_by_text("alice")).to_be_visible()
    expect(online.get_by_text("bob")).to_be_visible()

    composer = alice_page.get_by_role("textbox", name="Message")
    composer.fill("hello from alice")
    composer.press("Enter")

    for page in (alice_page, bob_page):
        expect(page.get_by_role("list", name="Messages").get_by_text("hello from alice")).to_be_visible(timeout=2000)
    bob_page.get_by_role("textbox", name="Message").fill("and hello back")
    bob_page.get_by_role("button", name="Send").click()
    expect(alice_page.get_by_text("and hello back")).to_be_visible(timeout=2000)
    expect(carol_page.get_by_text("hello from alice")).to_have_count(0)

    server.stop()  # every socket drops at once
    expect(bob_page.get_by_text("reconnecting")).to_be_visible()
    in_thread(message_post, room=lobby, author=carol, body="posted while bob was away", client_id="")
    server.start()

    expect(bob_page.get_by_text("posted while bob was away")).to_be_visible(timeout=10_000)
    expect(bob_page.get_by_text("reconnecting")).to_be_hidden()
    expect(bob_page.get_by_text("hello from alice")).to_have_count(1)


@pytest.mark.django_db(transaction=True)
def test_message_bodies_render_as_text_with_clickable_links(asgi_server, signed_in_page, make_user):
    alice = make_user("alice")
    room = room_create(slug="lobby", title="Lobby")
    in_thread(message_post, room=room, author=alice, body="<b>not bold</b> see https://example.com/x", client_id="")
    server = asgi_server()

    page = signed_in_page(server, "alice")
    page.goto("/rooms/lobby/")

    messages = page.get_by_role("list", name="Messages")
    expect(messages.get_by_text("<b>not bold</b>", exact=False)).to_be_visible()
    expect(messages.locator("b")).to_have_count(0)
    expect(messages.get_by_role("link", name="https://example.com/x")).to_have_attribute(
        "href", "https://example.com/x"
    )
