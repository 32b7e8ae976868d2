"""Formatting, mentions, reactions and replies live between two real browsers."""

import re

import pytest
from playwright.sync_api import expect

from chat.models import Message, Reaction
from chat.services import message_edit, message_post, room_create, room_join
from notifications.models import Notification
from tests.conftest import wait_until
from tests.e2e.conftest import in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("redis_client")]

XSS = (
    '<img src=x onerror="window.pwned=1"> <script>window.pwned=2</script> '
    '[click me](javascript:window.pwned=3) <a href="javascript:window.pwned=4">link</a> '
    '[data](data:text/html,<script>window.pwned=5</script>) <svg onload="window.pwned=6"></svg>'
)


def send(page, text):
    composer = page.get_by_role("textbox", name="Message")
    composer.fill(text)
    composer.press("Enter")


def message_item(page, seq):
    return page.locator(f"#seq-{seq}")


@pytest.mark.django_db(transaction=True)
def test_formatting_shows_live_and_script_payloads_stay_inert(asgi_server, signed_in_page, make_user):
    make_user("alice"), make_user("bob")
    room_create(slug="lobby", title="Lobby")
    server = asgi_server()
    alice, bob = signed_in_page(server, "alice"), signed_in_page(server, "bob")
    for page in (alice, bob):
        page.goto("/rooms/lobby/")

    send(alice, "**bold** _italic_ ~~gone~~ `code` see https://example.com/x")
    send(alice, "> quoted\n\n- one\n- two")
    send(alice, XSS)

    first = message_item(bob, 1)
    expect(first.locator("strong")).to_have_text("bold")
    expect(first.locator("em")).to_have_text("italic")
    expect(first.locator("s")).to_have_text("gone")
    expect(first.locator("code")).to_have_text("code")
    link = first.get_by_role("link", name="https://example.com/x")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(message_item(bob, 2).locator("blockquote")).to_have_text("quoted")
    expect(message_item(bob, 2).locator("li")).to_have_count(2)
    expect(message_item(bob, 3)).to_contain_text("window.pwned=2")  # shown as text
    for page in (alice, bob):
        page.reload()  # history renders the same stored HTML
        expect(message_item(page, 3)).to_be_visible()
        assert page.evaluate("window.pwned") is None
        assert page.locator('a[href^="javascript:" i], a[href^="data:" i]').count() == 0
        assert page.locator("#messages img, #messages script, #messages svg, #messages [onerror]").count() == 0
    assert Message.objects.get(seq=1).body.startswith("**bold**")  # the source stays for editing


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_streams")
def test_mentions_are_suggested_highlighted_for_the_reader_and_read_when_seen(
    asgi_server, worker_process, signed_in_page, make_user
):
    alice_user = make_user("alice")
    make_user("bob"), make_user("alfred")  # alfred never opened the room: not a member, not offered
    lobby = room_create(slug="lobby", title="Lobby")
    room_join(room=lobby, user=make_user("albert"))
    server = asgi_server()
    worker_process()
    alice, bob = signed_in_page(server, "alice"), signed_in_page(server, "bob")
    alice.goto("/rooms/lobby/")  # opening a public room joins it
    bob.goto("/rooms/lobby/")

    composer = bob.get_by_role("textbox", name="Message")
    composer.press_sequentially("hi @al")
    options = bob.get_by_role("listbox", name="Members to mention").get_by_role("option")
    expect(options).to_have_text(["@albert", "@alice"])
    composer.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    composer.press("Enter")  # picks, does not send
    expect(composer).to_have_value("hi @alice ")
    composer.press_sequentially("and @alb")
    options.first.click()  # the mouse picks too
    expect(composer).to_have_value("hi @alice and @albert ")
    composer.press("Escape")
    composer.press("Enter")

    mention = message_item(alice, 1).locator("a.mention", has_text="@alice")
    expect(mention).to_have_class("mention me")
    expect(mention).to_have_attribute("href", "/users/alice/")
    expect(message_item(bob, 1).locator("a.mention", has_text="@alice")).to_have_class("mention")
    # alice is looking at the room: the notification is marked read, the bell never rings.
    wait_until(lambda: Notification.objects.filter(recipient=alice_user, read_at__isnull=False).exists())
    expect(alice.locator("#bell-count")).to_be_hidden()
    expect(alice.get_by_role("button", name="Notifications")).to_have_accessible_name("Notifications, 0 unread")


@pytest.mark.django_db(transaction=True)
def test_reactions_toggle_live_with_counts_and_show_in_history(asgi_server, signed_in_page, make_user):
    alice_user = make_user("alice")
    make_user("bob")
    lobby = room_create(slug="lobby", title="Lobby")
    in_thread(message_post, room=lobby, author=alice_user, body="lunch?", client_id="")
    server = asgi_server()
    alice, bob = signed_in_page(server, "alice"), signed_in_page(server, "bob")
    for page in (alice, bob):
        page.goto("/rooms/lobby/")

    message_item(alice, 1).hover()
    alice.get_by_role("button", name="React to message 1").click()
    alice.get_by_role("button", name="React with 🎉").click()
    bob_reactions = bob.get_by_role("group", name="Reactions to message 1")
    expect(bob_reactions.get_by_role("button")).to_have_text(["🎉 1"])
    expect(bob_reactions.get_by_role("button", name="🎉 1: alice")).to_have_attribute("aria-pressed", "false")

    bob_reactions.get_by_role("button").first.click()
    alice_reactions = alice.get_by_role("group", name="Reactions to message 1")
    expect(alice_reactions.get_by_role("button", name="🎉 2: alice, bob")).to_be_visible()
    message_item(bob, 1).hover()
    bob.get_by_role("button", name="React to message 1").click()
    bob.get_by_role("textbox", name="Any emoji").fill("👨‍👩‍👧")
    bob.get_by_role("textbox", name="Any emoji").press("Enter")
    expect(alice_reactions.get_by_role("button")).to_have_text(["🎉 2", "👨‍👩‍👧 1"])

    alice_reactions.get_by_role("button", name="🎉 2: alice, bob").click()  # take mine back
    expect(bob_reactions.get_by_role("button")).to_have_text(["🎉 1", "👨‍👩‍👧 1"])
    bob.reload()
    expect(bob.get_by_role("group", name="Reactions to message 1").get_by_role("button")).to_have_text(
        ["🎉 1", "👨‍👩‍👧 1"]
    )
    assert set(Reaction.objects.values_list("user__username", "emoji")) == {("bob", "🎉"), ("bob", "👨‍👩‍👧")}


@pytest.mark.django_db(transaction=True)
def test_replies_quote_the_original_count_live_and_jump_to_an_old_original(asgi_server, signed_in_page, make_user):
    alice_user = make_user("alice")
    bob_user = make_user("bob")
    lobby = room_create(slug="lobby", title="Lobby")
    for n in range(1, 151):
        in_thread(message_post, room=lobby, author=alice_user, body=f"note {n}", client_id="")
    first = Message.objects.get(room=lobby, seq=1)
    server = asgi_server()
    alice, bob = signed_in_page(server, "alice"), signed_in_page(server, "bob")
    for page in (alice, bob):
        page.goto("/rooms/lobby/")

    message_item(bob, 150).hover()
    bob.get_by_role("button", name="Reply to message 150").click()
    expect(bob.locator("#reply-bar")).to_contain_text("Replying to alice: note 150")
    send(bob, "agreed")

    reply = message_item(alice, 151)
    expect(reply.get_by_role("button", name="In reply to alice: note 150. Show that message")).to_be_visible()
    expect(message_item(alice, 150).locator(".reply-count")).to_have_text("1 reply")
    assert Message.objects.get(seq=151).reply_to_id == Message.objects.get(seq=150).pk
    in_thread(message_edit, room=lobby, message_id=Message.objects.get(seq=150).pk, editor=alice_user, body="note 150!")
    expect(
        message_item(bob, 151).get_by_role("button", name="In reply to alice: note 150!. Show that message")
    ).to_be_visible()

    expect(message_item(alice, 1)).to_have_count(0)  # not on screen: only the newest 50 are
    in_thread(message_post, room=lobby, author=bob_user, body="about the first one", client_id="", reply_to=first.pk)
    message_item(alice, 152).get_by_role("button", name="In reply to alice: note 1. Show that message").click()
    original = message_item(alice, 1)
    expect(original).to_be_in_viewport()
    expect(original).to_have_class(re.compile(r"\bhighlight\b"))  # among the message's classes
    expect(original.locator(".reply-count")).to_have_text("1 reply")
    expect(alice.get_by_role("button", name="Show the messages in between")).to_be_visible()
    alice.get_by_role("button", name="Show the messages in between").click()
    expect(alice.locator("#messages li[data-seq]:not(.gap)")).to_have_count(152)


@pytest.mark.django_db(transaction=True)
def test_user_text_is_isolated_and_frames_the_page_does_not_handle_reach_other_scripts(
    asgi_server, signed_in_page, make_user
):
    from chatsite.realtime import broadcast_to_room

    alice = make_user("alice")
    lobby = room_create(slug="lobby", title="Lobby")
    in_thread(message_post, room=lobby, author=alice, body="שלום world", client_id="")
    server = asgi_server()
    page = signed_in_page(server, "alice")
    page.goto("/rooms/lobby/")
    expect(message_item(page, 1).locator(".body")).to_have_attribute("dir", "auto")
    expect(message_item(page, 1).locator(".author")).to_have_attribute("dir", "auto")
    expect(page.locator("#online li")).to_have_count(1)  # connected
    page.evaluate(
        """() => { window.heard = [];
            addEventListener("chatsite:room-frame", (event) => window.heard.push(event.detail.type)); }"""
    )

    in_thread(broadcast_to_room, room_id=lobby.pk, frame={"type": "room.updated", "room": "lobby"})
    in_thread(message_post, room=lobby, author=alice, body="handled by the page", client_id="")
    expect(message_item(page, 2)).to_be_visible()
    assert page.evaluate("window.heard") == ["room.updated"]  # message.new and presence stay the page's
