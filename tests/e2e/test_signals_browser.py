"""Signals while reading elsewhere: tab-title counts, desktop alerts (asked for by a click only), away
presence, the signed-out reason, and no failed request (the favicon) on any page."""

import re

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import expect

from accounts.models import UserSession
from accounts.services import user_session_revoke
from chat.services import direct_room_open, message_post, room_create
from tests.e2e.conftest import in_thread, set_hidden

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_streams")]

# Records what the page asks of the Notification API; the real API still runs underneath.
NOTIFICATION_SPY = """
window.__asked = 0;
window.__shown = [];
if ("Notification" in window) {
  const Real = window.Notification;
  const request = Real.requestPermission.bind(Real);
  class Recorded extends Real {
    constructor(title, options) { super(title, options); window.__shown.push(options.body); }
  }
  Recorded.requestPermission = (...args) => { window.__asked += 1; return request(...args); };
  window.Notification = Recorded;
}
"""


@pytest.mark.django_db(transaction=True)
def test_hidden_tab_counts_new_messages_in_its_title_and_shows_away(asgi_server, signed_in_page, make_user):
    alice, _ = make_user("alice"), make_user("bob")
    room = room_create(slug="lobby", title="Lobby")
    server = asgi_server()
    alice_page, bob_page = signed_in_page(server, "alice"), signed_in_page(server, "bob")
    for page in (alice_page, bob_page):
        page.goto("/rooms/lobby/")
    online = alice_page.get_by_role("list", name="Online members")
    expect(online.get_by_text("bob (active)")).to_be_attached()

    set_hidden(bob_page, True)
    expect(online.locator("li.away")).to_contain_text("bob")  # the tab went to the background
    expect(online.get_by_text("bob (away)")).to_be_attached()
    for n in range(2):
        in_thread(message_post, room=room, author=alice, body=f"while you were away {n}", client_id="")
    expect(bob_page).to_have_title("(2) #Lobby · chatsite")

    set_hidden(bob_page, False)
    expect(bob_page).to_have_title("#Lobby · chatsite")
    expect(online.locator("li.active")).to_have_count(2)


@pytest.mark.django_db(transaction=True)
def test_desktop_alerts_are_asked_for_by_a_click_and_shown_only_while_hidden(
    asgi_server, worker_process, browser, make_user
):
    alice, bob = make_user("alice"), make_user("bob")
    lobby = room_create(slug="lobby", title="Lobby")
    dm = direct_room_open(user=alice, other=bob)
    server = asgi_server()
    worker_process()

    asking = browser.new_context(base_url=server.url)
    granted = browser.new_context(base_url=server.url)
    granted.grant_permissions(["notifications"], origin=server.url)
    pages = []
    for context in (asking, granted):
        context.add_init_script(NOTIFICATION_SPY)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("bob")
        page.get_by_label("Password").fill("pw-for-tests-123")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{server.url}/")
        pages.append(page)
    ask_page, page = pages
    try:
        assert ask_page.evaluate("window.__asked") == 0  # never on page load
        ask_page.get_by_role("button", name=re.compile("^Notifications")).click()
        ask_page.get_by_role("button", name="Turn on desktop alerts").click()
        ask_page.wait_for_function("window.__asked === 1")
        ask_page.close()  # one tab of bob's is enough from here on

        page.get_by_role("button", name=re.compile("^Notifications")).click()
        expect(page.get_by_role("button", name="Desktop alerts are on")).to_be_disabled()
        assert page.evaluate("window.__asked") == 0

        in_thread(message_post, room=dm, author=alice, body="visible tab: no alert", client_id="")
        expect(page.get_by_role("list", name="Latest notifications")).to_contain_text("visible tab: no alert")
        set_hidden(page, True)
        in_thread(message_post, room=lobby, author=alice, body="@bob are you there?", client_id="")
        page.wait_for_function("window.__shown.length > 0", timeout=10_000)
        shown = page.evaluate("window.__shown")
        assert len(shown) == 1
        assert "are you there?" in shown[0]
    finally:
        asking.close()
        granted.close()


@pytest.mark.django_db(transaction=True)
def test_a_browser_signed_out_elsewhere_lands_on_the_login_page_with_the_reason(asgi_server, signed_in_page, make_user):
    bob = make_user("bob")
    room_create(slug="lobby", title="Lobby")
    server = asgi_server()
    page = signed_in_page(server, "bob")
    page.goto("/rooms/lobby/")
    expect(page.locator("#online li")).to_have_count(1)

    session_key = UserSession.objects.get(user=bob).session_key
    in_thread(user_session_revoke, user=bob, session_key=session_key)

    page.wait_for_url(re.compile(r"/accounts/login/\?reason=signed_out&next=%2Frooms%2Flobby%2F$"))
    expect(page.get_by_role("status")).to_contain_text("This browser was signed out")
    assert not Session.objects.filter(session_key=session_key).exists()


@pytest.mark.django_db(transaction=True)
def test_no_page_requests_anything_that_fails(asgi_server, signed_in_page, make_user):
    make_user("bob")
    room_create(slug="lobby", title="Lobby")
    server = asgi_server()
    page = signed_in_page(server, "bob")
    failed = []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)

    for path in ("/", "/rooms/lobby/", "/notifications/", "/accounts/sessions/", "/users/bob/"):
        page.goto(path)
        page.wait_for_load_state("networkidle")

    assert failed == []
    icon = page.evaluate("document.querySelector('link[rel=icon]').href")
    assert page.request.get(icon).status == 200
