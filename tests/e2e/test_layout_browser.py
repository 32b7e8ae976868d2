"""The layout at phone (390×844) and desktop sizes: nothing scrolls sideways, the composer fits, drawers work."""

import re

import pytest
from playwright.sync_api import expect

from chat.services import message_post, room_create
from tests.e2e.conftest import DESKTOP, PHONE, assert_fits, horizontal_overflow, in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("redis_client")]

LONG_WORD = "supercalifragilistic" * 15  # one 300-character word must wrap, not widen the page


@pytest.fixture
def rooms(make_user):
    alice = make_user("alice")
    make_user("bob")
    lobby = room_create(slug="lobby", title="Lobby", topic="Everything and nothing")
    room_create(slug="random", title="Random")
    in_thread(message_post, room=lobby, author=alice, body=f"a long one: {LONG_WORD}", client_id="")
    return lobby


@pytest.fixture
def lobby_page(asgi_server, room_page, rooms):
    """`page = lobby_page(PHONE)`: bob on the lobby's page at that size, on a server of its own (`**env`)."""
    return lambda viewport, **env: room_page(asgi_server(**env), "bob", "lobby", viewport=viewport)


@pytest.mark.django_db(transaction=True)
def test_room_page_fits_a_phone_and_the_room_list_is_a_drawer(lobby_page):
    page = lobby_page(PHONE)
    expect(page.get_by_text("a long one:")).to_be_visible()

    composer, send = page.get_by_role("textbox", name="Message"), page.get_by_role("button", name="Send")
    assert_fits(page, composer, send)
    assert composer.bounding_box()["width"] > 0.6 * PHONE["width"]  # the composer takes the width (beside Send, Attach)
    nav = page.get_by_role("navigation", name="Rooms")
    expect(nav).to_be_hidden()

    toggle = page.get_by_role("button", name="Rooms", exact=True)
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    expect(nav.get_by_role("link").first).to_be_focused()  # focus moves into the drawer
    assert_fits(page, nav)

    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()  # and comes back to the button

    page.keyboard.press("Enter")  # the keyboard opens it again; a room link goes there
    nav.get_by_role("link", name=re.compile("Random")).click()
    page.wait_for_url(re.compile("/rooms/random/$"))
    expect(page.get_by_role("heading", name="#Random")).to_be_visible()


@pytest.mark.django_db(transaction=True)
def test_phone_header_people_drawer_and_bell_panel_fit_the_screen(lobby_page):
    page = lobby_page(PHONE)

    people = page.get_by_role("button", name="People")
    people.click()
    side = page.get_by_role("complementary", name="Room details")
    expect(side).to_be_visible()
    expect(side.get_by_role("list", name="Online members").get_by_text("bob")).to_be_visible()
    page.mouse.click(30, 400)  # a tap on the dimmed page closes it
    expect(side).to_be_hidden()

    bell = page.get_by_role("button", name=re.compile("^Notifications"))
    bell.click()
    panel = page.locator("#bell-panel")
    expect(panel).to_be_visible()
    assert_fits(page, panel)
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()

    menu = page.get_by_role("button", name="Menu")
    expect(page.get_by_role("link", name="Your sessions")).to_be_hidden()
    menu.click()
    sessions = page.get_by_role("link", name="Your sessions")
    expect(sessions).to_be_visible()
    assert_fits(page, sessions)
    sessions.click()
    page.wait_for_url(re.compile("/accounts/sessions/$"))
    assert horizontal_overflow(page) <= 0

    for path in ("/", "/notifications/", "/users/alice/", "/rooms/nowhere/"):
        page.goto(path)
        assert horizontal_overflow(page) <= 0, path


@pytest.mark.django_db(transaction=True)
def test_desktop_shows_rooms_chat_and_people_side_by_side(lobby_page):
    page = lobby_page(DESKTOP)

    nav = page.get_by_role("navigation", name="Rooms")
    side = page.get_by_role("complementary", name="Room details")
    chat = page.locator("section.chat")
    expect(nav).to_be_visible()
    expect(side).to_be_visible()
    expect(page.get_by_role("button", name="Rooms", exact=True)).to_be_hidden()
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_role("link", name="Your sessions")).to_be_visible()
    left, middle, right = nav.bounding_box(), chat.bounding_box(), side.bounding_box()
    assert left["x"] + left["width"] <= middle["x"]
    assert middle["x"] + middle["width"] <= right["x"]
    assert_fits(page, page.get_by_role("button", name="Send"))
    expect(nav.locator("li.current a")).to_have_attribute("aria-current", "page")


@pytest.mark.django_db(transaction=True)
def test_sign_up_errors_stand_apart_from_the_password_help_on_a_phone(asgi_server, browser):
    server = asgi_server()
    context = browser.new_context(base_url=server.url, viewport=PHONE)
    try:
        page = context.new_page()
        page.goto("/accounts/signup/")
        page.get_by_label("Username").fill("newbie")
        page.locator("#id_password1").fill("correct-horse-42")
        page.locator("#id_password2").fill("another-horse-42")
        page.get_by_role("button", name="Sign up").click()

        expect(page.get_by_role("alert")).to_contain_text("The account was not created")
        error, help_text = page.locator(".errorlist").first, page.locator(".helptext").first
        expect(error).to_contain_text("didn’t match")
        expect(error).to_have_css("color", "rgb(179, 38, 30)")
        expect(help_text).to_have_css("color", "rgb(93, 98, 112)")
        assert error.evaluate("e => getComputedStyle(e).fontWeight") != help_text.evaluate(
            "e => getComputedStyle(e).fontWeight"
        )
        assert horizontal_overflow(page) <= 0
    finally:
        context.close()


@pytest.mark.django_db(transaction=True)
def test_conversation_features_fit_a_phone(lobby_page, rooms, tmp_path):
    from chat.models import Message
    from chat.services import reaction_add, room_join

    alice = rooms.messages.get(seq=1).author
    room_join(room=rooms, user=alice)  # a member: the mention list offers her
    first = Message.objects.get(room=rooms, seq=1)
    for emoji in ("👍", "🎉", "😂", "👀", "✅", "❤️"):
        in_thread(reaction_add, room=rooms, message_id=first.pk, user=alice, emoji=emoji)
    in_thread(message_post, room=rooms, author=alice, body=f"@bob **{LONG_WORD}**", client_id="", reply_to=first.pk)
    page = lobby_page(PHONE, MEDIA_ROOT=str(tmp_path / "media"))
    expect(page.locator("#seq-2 .quote")).to_be_visible()
    expect(page.get_by_role("group", name="Reactions to message 1").get_by_role("button")).to_have_count(6)

    page.locator("#seq-2").click(position={"x": 5, "y": 5})  # a tap shows the actions
    page.get_by_role("button", name="React to message 2").click()
    picker = page.get_by_role("dialog", name="Pick a reaction")
    expect(picker).to_be_visible()
    page.get_by_role("textbox", name="Message").press_sequentially("@al")
    mention_list = page.get_by_role("listbox", name="Members to mention")
    expect(mention_list).to_be_visible()
    assert_fits(page, picker, mention_list)
    for selector in ("#seq-2 .quote", "#seq-1 .reactions", "#seq-2 .body"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0, selector
        assert box["x"] + box["width"] <= PHONE["width"], selector
    assert horizontal_overflow(page) <= 0
