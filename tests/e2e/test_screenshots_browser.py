"""Screenshots of the room page at desktop and phone sizes for the README.

`UPDATE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/e2e/test_screenshots_browser.py` rewrites
docs/screenshots/*.png; without it the pictures go to a temporary folder, so the run still checks
that the page renders at both sizes.
"""

import io
import os
import struct
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from chat.models import Membership, Message
from chat.services import direct_room_open, message_post, reaction_add, room_create
from chat.uploads import attachment_create
from tests.e2e.conftest import DESKTOP, PHONE, in_thread

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("redis_client")]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

# (author, body, minutes ago, extras): extras may answer an earlier message ("reply": its index),
# carry reactions ("reactions": {emoji: [names]}) or an image ("image": its file name).
CONVERSATION = [
    ("alice", "Morning! Did the deploy go out?", 26 * 60, {}),
    ("bob", "It did, at 07:40. The new room list is live.", 25 * 60, {"reactions": {"🎉": ["alice", "carol"]}}),
    ("bob", "Ordered by **last activity**, with a preview of the last message.", 25 * 60 - 1, {}),
    ("carol", "Nice. On my phone the rooms are a drawer now.", 24 * 60, {"image": "phone-drawer.png"}),
    ("alice", "@bob can you review the reading PR? https://example.com/pr/15", 40, {}),
    ("alice", "Day separators, grouping and the `new-messages` divider are in.", 38, {"reactions": {"👀": ["bob"]}}),
    ("carol", "On it after lunch.", 20, {"reply": 4}),
]


def screenshot_image() -> SimpleUploadedFile:
    """A small picture of a phone with a drawer open, drawn here (no binary fixture in the repository)."""
    image = Image.new("RGB", (360, 240), "#e8f0fe")
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((120, 20, 240, 220), radius=14, fill="#1d2330")
    draw.rectangle((130, 36, 230, 204), fill="#ffffff")
    draw.rectangle((130, 36, 195, 204), fill="#2458c6")
    out = io.BytesIO()
    image.save(out, "PNG")
    return SimpleUploadedFile("phone-drawer.png", out.getvalue(), content_type="image/png")


def png_size(path: Path) -> tuple[int, int]:
    with path.open("rb") as file:
        header = file.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.mark.django_db(transaction=True)
def test_room_page_screenshots_at_desktop_and_phone(asgi_server, signed_in_page, make_user, tmp_path, settings):
    people = {name: make_user(name) for name in ("alice", "bob", "carol")}
    lobby = room_create(slug="general", title="General", topic="Announcements and chatter")
    for slug, title in (("design", "Design"), ("releases", "Releases")):
        room = room_create(slug=slug, title=title)
        in_thread(message_post, room=room, author=people["carol"], body=f"Notes for {title.lower()}", client_id="")
    direct_room_open(user=people["bob"], other=people["alice"])
    settings.MEDIA_ROOT = str(tmp_path / "media")  # the server below serves the same folder
    now = timezone.now()
    posted = []
    for author, body, minutes_ago, extras in CONVERSATION:
        attachments = []
        if "image" in extras:
            upload = screenshot_image()
            attachments = [str(attachment_create(room=lobby, uploader=people[author], upload=upload).pk)]
        reply_to = posted[extras["reply"]].pk if "reply" in extras else None
        message, _ = in_thread(
            message_post,
            room=lobby,
            author=people[author],
            body=body,
            client_id="",
            reply_to=reply_to,
            attachments=attachments,
        )
        Message.objects.filter(pk=message.pk).update(created_at=now - timedelta(minutes=minutes_ago))
        for emoji, names in extras.get("reactions", {}).items():
            for name in names:
                in_thread(reaction_add, room=lobby, message_id=message.pk, user=people[name], emoji=emoji)
        posted.append(message)
    server = asgi_server(MEDIA_ROOT=settings.MEDIA_ROOT)
    out = DOCS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)

    page = signed_in_page(server, "bob")
    for name, size in (("room-desktop", DESKTOP), ("room-phone", PHONE)):
        page.set_viewport_size(size)
        Membership.objects.update_or_create(room=lobby, user=people["bob"], defaults={"last_read_seq": 4})
        page.goto("/rooms/general/")
        expect(page.locator("li.new-divider", has_text="New messages")).to_be_visible()
        expect(page.locator("#online li").first).to_be_attached()  # presence arrived
        image = page.get_by_role("img", name="phone-drawer.png")
        image.scroll_into_view_if_needed()  # loaded lazily: only once it is on screen
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        page.locator("#scroller").evaluate("scroller => { scroller.scrollTop = scroller.scrollHeight; }")
        page.screenshot(path=str(out / f"{name}.png"))
        assert png_size(out / f"{name}.png") == (size["width"], size["height"])
