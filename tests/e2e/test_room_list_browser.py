"""Room lists: a room the reader is invited to appears live exactly as the page itself renders it."""

import pytest
from playwright.sync_api import expect

from chat.membership import membership_invite
from chat.models import Membership
from chat.services import message_delete, message_post, room_create
from tests.e2e.conftest import in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("redis_client")]

ITEM = """li => ({html: li.outerHTML, index: [...li.parentElement.children].indexOf(li)})"""


@pytest.mark.django_db(transaction=True)
def test_a_room_added_live_looks_like_one_the_page_rendered_on_the_home_page_and_in_the_drawer(
    asgi_server, signed_in_page, make_user
):
    alice, bob = make_user("alice"), make_user("bob")
    lobby = room_create(slug="lobby", title="Lobby")
    Membership.objects.create(room=lobby, user=bob)
    in_thread(message_post, room=lobby, author=alice, body="older news", client_id="")
    plans = room_create(slug="plans", title="Plans <b>& co</b>", private=True, created_by=alice)
    in_thread(message_post, room=plans, author=alice, body="the  **plan**\nis this", client_id="")
    server = asgi_server()
    home = signed_in_page(server, "bob")
    drawer = home.context.new_page()
    drawer.goto("/rooms/lobby/")
    lists = {home: "#room-list", drawer: "#room-nav ul.rooms"}
    for page in lists:
        expect(page.locator("body[data-watching]")).to_be_attached()
        expect(page.locator('ul.rooms li[data-room="plans"]')).to_have_count(0)

    in_thread(membership_invite, room=plans, actor=alice, user=bob)

    for page, selector in lists.items():
        item = page.locator(f'{selector} > li[data-room="plans"]')
        expect(item).to_be_attached()
        live = item.evaluate(ITEM)
        page.reload()
        expect(page.locator("body[data-watching]")).to_be_attached()
        assert item.evaluate(ITEM) == live  # same elements, attributes, preview, time, count and place
    home_item = home.locator('#room-list > li[data-room="plans"]')
    expect(home_item.locator(".preview")).to_have_text("alice: the **plan** is this")
    expect(home_item.locator("time.activity")).to_be_attached()
    expect(drawer.locator('#room-nav li[data-room="plans"] .preview')).to_have_count(0)  # the drawer is compact


@pytest.mark.django_db(transaction=True)
def test_a_room_updated_live_looks_like_the_page_rendered_it_after_a_message_and_a_deletion(
    asgi_server, signed_in_page, make_user
):
    alice, bob = make_user("alice"), make_user("bob")
    lobby, quiet = room_create(slug="lobby", title="Lobby"), room_create(slug="quiet", title="Quiet")
    for room in (lobby, quiet):
        Membership.objects.create(room=room, user=bob)
    in_thread(message_post, room=quiet, author=alice, body="older news", client_id="")
    in_thread(message_post, room=lobby, author=alice, body="the one before", client_id="")
    server = asgi_server()
    home = signed_in_page(server, "bob")
    drawer = home.context.new_page()
    drawer.goto("/rooms/quiet/")
    lists = {home: "#room-list", drawer: "#room-nav ul.rooms"}
    for page in lists:
        expect(page.locator("body[data-watching]")).to_be_attached()

    def same_as_rendered(expected_preview: str) -> None:
        expect(home.locator('#room-list > li[data-room="lobby"] .preview')).to_have_text(expected_preview)
        for page, selector in lists.items():
            item = page.locator(f'{selector} > li[data-room="lobby"]')
            live = item.evaluate(ITEM)
            page.reload()
            expect(page.locator("body[data-watching]")).to_be_attached()
            assert item.evaluate(ITEM) == live  # elements, attributes, preview, time, count and place

    # Longer than a preview, with markup and spacing the page's template shortens and keeps its own way.
    long_body = "a **long**   message " + "x" * 120
    newest, _ = in_thread(message_post, room=lobby, author=alice, body=long_body, client_id="")
    same_as_rendered("alice: " + long_body[:99] + "…")

    in_thread(message_delete, room=lobby, message_id=newest.pk, actor=alice)
    same_as_rendered("alice: the one before")  # not the deleted text
