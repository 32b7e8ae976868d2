"""Attacks in a real Chromium: XSS payloads in every user-written field run no script; losing access
to a room shows at once in the pages of the user who lost it."""

import pytest
from playwright.sync_api import expect

from chat.services import message_post, room_create
from tests.e2e.conftest import in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>"><svg onload="window.__xss=1">'


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_xss_payloads_in_every_field_run_no_script_in_chromium(asgi_server, signed_in_page, make_user, redis_client):
    alice, _ = make_user("alice"), make_user("bob")
    room = room_create(slug="lobby", title=XSS, topic=XSS, created_by=alice)
    in_thread(message_post, room=room, author=alice, body=XSS + ' https://example.com/"onmouseover="window.__xss=1')
    server = asgi_server()
    page = signed_in_page(server, "bob")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    expect(page.locator("#room-list bdi").first).to_have_text(XSS)  # shown as text, isolated
    page.goto("/rooms/lobby/")
    expect(page.locator(".room-head h1 bdi")).to_have_text(XSS)
    expect(page.locator("#messages .body").first).to_contain_text("<img src=x")
    expect(page.locator("#messages .body").first).to_have_attribute("dir", "auto")
    in_thread(message_post, room=room, author=alice, body=XSS)  # live, through the socket
    expect(page.locator("#messages .body")).to_have_count(2)
    page.locator("#messages a").first.hover()

    assert page.evaluate("window.__xss") is None
    assert page.locator("#messages img, #messages script, #messages svg, .room-head img").count() == 0
    assert dialogs == []


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_invited_user_sees_the_room_appear_and_a_removed_one_sees_it_go(
    asgi_server, signed_in_page, make_user, redis_client
):
    alice, _ = make_user("alice"), make_user("bob")
    room_create(slug="secret", title="Secret", private=True, created_by=alice)
    server = asgi_server()
    owner_page, bob_page = signed_in_page(server, "alice"), signed_in_page(server, "bob")
    expect(bob_page.locator('li[data-room="secret"]')).to_have_count(0)

    owner_page.goto("/rooms/secret/")
    owner_page.get_by_label("Add a member").fill("bob")
    owner_page.get_by_role("button", name="Add", exact=True).click()
    expect(owner_page.get_by_role("list", name="Members", exact=True)).to_contain_text("bob")
    expect(bob_page.locator('li[data-room="secret"]')).to_have_count(1, timeout=10_000)

    bob_room = bob_page.context.new_page()
    bob_room.goto("/rooms/secret/")
    expect(bob_room.get_by_role("textbox", name="Message")).to_be_visible()
    owner_page.get_by_role("button", name="Remove bob").click()
    expect(bob_page.locator('li[data-room="secret"]')).to_have_count(0, timeout=10_000)
    expect(bob_room.locator("#connection")).to_have_text("You are not allowed in this room.")
    expect(owner_page.get_by_role("list", name="Members", exact=True)).not_to_contain_text("bob")
