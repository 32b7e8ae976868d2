"""Sending from the composer: "sending" until the ack, refused text kept with the reason, ArrowUp edits."""

import re

import pytest
from playwright.sync_api import expect

from chat.models import Message
from chat.services import room_create
from redis_toolkit.ratelimit.core import rate_limit_reset
from tests.e2e.conftest import PHONE, send_from_composer

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("redis_client")]


@pytest.mark.django_db(transaction=True)
def test_a_send_shows_sending_until_acked_and_a_refused_one_keeps_its_text(asgi_server, room_page, make_user):
    bob = make_user("bob")
    room_create(slug="lobby", title="Lobby")
    rate_limit_reset("chat.message", str(bob.pk))
    server = asgi_server(RATE_LIMIT_CHAT_MESSAGE="2/1m")

    page = room_page(server, "bob", "lobby", viewport=PHONE)
    composer = page.get_by_role("textbox", name="Message")
    messages = page.get_by_role("list", name="Messages")
    expect(page.locator("#online li")).to_have_count(1)  # connected

    server.stop()
    expect(page.get_by_text("reconnecting")).to_be_visible()
    send_from_composer(page, "written while offline")
    pending = messages.locator("li.pending")
    expect(pending).to_contain_text("written while offline")
    expect(pending).to_contain_text("Sending…")
    expect(composer).to_have_value("")

    server.start()
    expect(pending).to_have_count(0, timeout=20_000)  # resent with its client_id, acknowledged
    expect(messages.get_by_text("written while offline")).to_have_count(1)
    expect(messages.get_by_text("Sending…")).to_have_count(0)

    send_from_composer(page, "second one")
    expect(messages.locator("li.message:not(.pending)").get_by_text("second one")).to_be_visible()
    send_from_composer(page, "one too many\nwith two lines")

    error = page.get_by_role("alert").filter(has_text="too fast")
    expect(error).to_contain_text(re.compile(r"Not sent: You are sending too fast; you can send again in \d+ seconds"))
    expect(composer).to_have_value("one too many\nwith two lines")  # the text is back, ready to resend
    expect(messages.get_by_text("one too many")).to_have_count(0)
    assert Message.objects.filter(body__startswith="one too many").count() == 0


@pytest.mark.django_db(transaction=True)
def test_arrow_up_in_an_empty_composer_edits_my_last_message(lone_room_page):
    page = lone_room_page("lobby", "Lobby")
    composer = page.get_by_role("textbox", name="Message")
    for text in ("first thought", "second thougth"):
        send_from_composer(page, text)
        expect(page.locator("li.message:not(.pending)").get_by_text(text)).to_be_visible()

    composer.press("ArrowUp")
    editor = page.get_by_role("textbox", name=re.compile("^Edit message"))
    expect(editor).to_be_focused()
    expect(editor).to_have_value("second thougth")
    editor.fill("second thought")
    editor.press("Enter")

    expect(page.locator("#seq-2 .body")).to_have_text("second thought")
    expect(page.locator("#seq-2 .edited")).to_be_visible()
    expect(composer).to_be_focused()
    composer.fill("not empty")
    composer.press("ArrowUp")  # with text in the box, ArrowUp just moves the caret
    expect(page.get_by_role("textbox", name=re.compile("^Edit message"))).to_have_count(0)
    composer.fill("")
    composer.press("ArrowUp")
    page.keyboard.press("Escape")  # Escape cancels the edit
    expect(page.locator("#seq-2 .body")).to_have_text("second thought")
    expect(composer).to_be_focused()
