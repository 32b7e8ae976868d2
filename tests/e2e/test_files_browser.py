"""Files and search in real browsers: an image one person attaches shows inline for another; search opens it."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from chat.services import message_post, room_create
from tests.e2e.conftest import in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("redis_client")]

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), "orange").save(out, "PNG")
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_an_attached_image_shows_inline_live_for_the_other_reader(asgi_server, signed_in_page, make_user, tmp_path):
    make_user("alice"), make_user("bob")
    room_create(slug="lobby", title="Lobby")
    server = asgi_server(MEDIA_ROOT=str(tmp_path / "media"))
    alice, bob = signed_in_page(server, "alice"), signed_in_page(server, "bob")
    for page in (alice, bob):
        page.goto("/rooms/lobby/")
    expect(bob.get_by_role("list", name="Online members").get_by_text("alice")).to_be_visible()

    alice.locator("#attach-input").set_input_files(
        {"name": "sunset.png", "mimeType": "image/png", "buffer": png_bytes()}
    )
    expect(alice.get_by_role("button", name="Remove sunset.png")).to_be_visible()
    composer = alice.get_by_role("textbox", name="Message")
    composer.fill("look at this")
    composer.press("Enter")

    image = bob.get_by_role("list", name="Messages").get_by_role("img", name="sunset.png")
    expect(image).to_be_visible(timeout=3000)
    bob.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.evaluate("img => img.naturalWidth") <= 480  # the thumbnail, served to a member
    expect(alice.get_by_role("list", name="Attachments to send").get_by_role("listitem")).to_have_count(0)

    # Pasting a file into the composer uploads it too; bob gets a download link, not an inline view.
    alice.get_by_role("textbox", name="Message").evaluate(
        """(input, bytes) => {
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(bytes)], "minutes.pdf", { type: "application/pdf" }));
            input.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
        }""",
        list(PDF),
    )
    expect(alice.get_by_role("button", name="Remove minutes.pdf")).to_be_visible()
    alice.get_by_role("button", name="Send").click()
    link = bob.get_by_role("link", name="📎 minutes.pdf", exact=False)
    expect(link).to_be_visible(timeout=3000)
    assert link.get_attribute("download") == "minutes.pdf"


@pytest.mark.django_db(transaction=True)
def test_a_refused_file_is_explained_in_the_composer(asgi_server, signed_in_page, make_user, tmp_path):
    make_user("alice")
    room_create(slug="lobby", title="Lobby")
    server = asgi_server(MEDIA_ROOT=str(tmp_path / "media"))
    page = signed_in_page(server, "alice")
    page.goto("/rooms/lobby/")

    page.locator("#attach-input").set_input_files(
        {"name": "cute.png", "mimeType": "image/png", "buffer": b"<svg onload=alert(1)></svg>"}
    )

    expect(page.locator("#composer-error")).to_contain_text("cute.png: This kind of file cannot be shared here")
    expect(page.get_by_role("list", name="Attachments to send").get_by_role("listitem")).to_have_count(0)


@pytest.mark.django_db(transaction=True)
def test_search_from_the_header_finds_a_message_and_opens_it_in_its_room(asgi_server, signed_in_page, make_user):
    alice, _ = make_user("alice"), make_user("bob")
    lobby = room_create(slug="lobby", title="Lobby")
    secret = room_create(slug="secret", title="Secret", private=True, created_by=alice)
    in_thread(message_post, room=lobby, author=alice, body='<img src=x onerror="alert(1)"> the forecast is ready')
    in_thread(message_post, room=secret, author=alice, body="the secret forecast")
    for n in range(60):  # more than the room page loads at first: it pages back to find it
        in_thread(message_post, room=lobby, author=alice, body=f"filler {n}", client_id="")
    server = asgi_server()
    page = signed_in_page(server, "bob")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    box = page.get_by_role("searchbox", name="Search messages")
    box.fill("forecasts")
    box.press("Enter")

    results = page.get_by_role("list", name="Search results")
    expect(results.get_by_role("listitem")).to_have_count(1)  # not the private room's message
    expect(results.locator("mark")).to_have_text("forecast")
    expect(results).to_contain_text('<img src=x onerror="alert(1)"> the forecast is ready')
    results.get_by_role("link").click()

    page.wait_for_url(f"{server.url}/rooms/lobby/#seq-1")
    target = page.locator("#seq-1")
    expect(target).to_have_class(re.compile(r"\btarget\b"))  # among the message's classes
    expect(target).to_be_in_viewport()
    assert dialogs == []


@pytest.mark.django_db(transaction=True)
def test_a_send_waits_for_uploads_and_files_alone_make_a_reply(asgi_server, signed_in_page, make_user, tmp_path):
    from chat.models import Message

    alice = make_user("alice")
    lobby = room_create(slug="lobby", title="Lobby")
    in_thread(message_post, room=lobby, author=alice, body="send me the minutes", client_id="")
    server = asgi_server(MEDIA_ROOT=str(tmp_path / "media"))
    page = signed_in_page(server, "alice")
    held = []
    page.route("**/api/rooms/lobby/uploads", lambda route: held.append(route))  # the upload is still on its way
    page.goto("/rooms/lobby/")
    page.locator("#seq-1").hover()
    page.get_by_role("button", name="Reply to message 1").click()

    page.locator("#attach-input").set_input_files({"name": "minutes.pdf", "mimeType": "application/pdf", "buffer": PDF})
    composer = page.get_by_role("textbox", name="Message")
    expect(page.get_by_role("list", name="Attachments to send")).to_contain_text("minutes.pdf — uploading…")
    composer.press("Enter")
    expect(page.locator("#composer-error")).to_have_text("Wait a moment: files are still uploading.")
    expect(page.locator("li.pending")).to_have_count(0)

    for _ in range(50):  # Playwright hands the held request over while it waits
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1
    held[0].continue_()
    expect(page.get_by_role("button", name="Remove minutes.pdf")).to_be_visible()
    composer.press("Enter")  # no text: the file alone is the message, and it answers message 1

    reply = page.locator("#seq-2")
    expect(reply.get_by_role("link", name=re.compile("minutes.pdf"))).to_be_visible()
    expect(
        reply.get_by_role("button", name="In reply to alice: send me the minutes. Show that message")
    ).to_be_visible()
    expect(page.locator("#seq-1 .reply-count")).to_have_text("1 reply")
    expect(page.locator("#reply-bar")).to_be_hidden()
    expect(page.get_by_role("list", name="Attachments to send").get_by_role("listitem")).to_have_count(0)
    sent = Message.objects.get(room=lobby, seq=2)
    assert (sent.body, sent.reply_to.seq, sent.attachments.count()) == ("", 1, 1)
