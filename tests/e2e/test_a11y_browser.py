"""Accessibility: axe-core finds no serious or critical violation on the main pages (desktop and phone),
and the room works from the keyboard alone."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from chat.models import Membership
from chat.services import message_post, room_create
from notifications.services import notification_create
from tests.e2e.conftest import DESKTOP, PHONE, in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("redis_client")]

PAGES = ["/rooms/lobby/", "/", "/notifications/", "/accounts/sessions/", "/users/alice/", "/rooms/nowhere/"]


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.django_db(transaction=True)
def test_main_pages_have_no_serious_axe_violations_at_desktop_and_phone(asgi_server, signed_in_page, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    lobby = room_create(slug="lobby", title="Lobby", topic="Say hi")
    room_create(slug="team", title="Team", private=True, created_by=bob)
    for n in range(3):
        in_thread(message_post, room=lobby, author=alice, body=f"@bob hello {n} https://example.com/{n}", client_id="")
    Membership.objects.create(room=lobby, user=bob, last_read_seq=1)
    message = lobby.messages.last()
    in_thread(
        notification_create,
        recipient_id=bob.pk,
        kind="mention",
        event_id="e2e-a11y",
        text="alice mentioned you in #Lobby",
        actor=alice,
        room=lobby,
        data={"seq": message.seq},
    )
    server = asgi_server()
    page = signed_in_page(server, "bob")

    found = {}
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        for path in PAGES:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            found[f"{path} at {size['width']}px"] = serious_violations(page)
        page.goto("/rooms/lobby/")
        page.get_by_role("button", name=re.compile("^Notifications")).click()
        expect(page.get_by_role("list", name="Latest notifications")).to_contain_text("alice mentioned you")
        found[f"bell panel at {size['width']}px"] = serious_violations(page)

    report = [f"{where}: {problem}" for where, problems in found.items() for problem in problems]
    assert report == [], "\n".join(report)


@pytest.mark.django_db(transaction=True)
def test_the_room_works_from_the_keyboard(asgi_server, signed_in_page, make_user):
    alice, _ = make_user("alice"), make_user("bob")
    lobby = room_create(slug="lobby", title="Lobby")
    room_create(slug="random", title="Random")
    in_thread(message_post, room=lobby, author=alice, body="hi bob", client_id="")
    server = asgi_server()
    page = signed_in_page(server, "bob")
    page.goto("/rooms/lobby/")
    composer = page.get_by_role("textbox", name="Message")
    expect(composer).to_be_focused()  # ready to type on arrival

    page.keyboard.type("typed, not clicked")
    page.keyboard.press("Enter")
    expect(page.locator("li.message:not(.pending)").get_by_text("typed, not clicked")).to_be_visible()

    page.keyboard.press("Shift+Tab")  # back into the history: its actions show on focus
    page.keyboard.press("Shift+Tab")
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused in ("Delete message 2", "Edit message 2"), focused
    expect(page.locator("#seq-2 .actions")).to_have_css("opacity", "1")

    page.goto("/")  # a page without autofocus: the skip link is the first stop
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.locator("#room-list a").first).to_be_focused()  # straight to the rooms, past the header
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile("/rooms/(lobby|random)/$"))
    expect(page.get_by_role("textbox", name="Message")).to_be_focused()
