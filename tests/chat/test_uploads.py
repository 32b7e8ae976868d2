"""Uploads: real files in a real storage (a temporary MEDIA_ROOT), checked by content, served only to readers."""

import io
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone
from PIL import Image

from chat.models import Attachment, Message, Room
from chat.services import message_delete, message_post, room_create
from chat.uploads import UNATTACHED_TTL, attachments_purge
from redis_toolkit.client import reset_clients
from redis_toolkit.ratelimit.core import rate_limit_reset

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def lobby(db):
    return room_create(slug="lobby", title="Lobby")


def image_bytes(fmt: str = "PNG", size=(800, 600), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "teal").save(out, fmt)
    return out.getvalue()


def upload(client, slug: str, name: str, data: bytes):
    return client.post(f"/api/rooms/{slug}/uploads", {"file": SimpleUploadedFile(name, data)})


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def send_with(room, author, ids, body="see attached"):
    return message_post(room=room, author=author, body=body, client_id="", attachments=ids)[0]


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


# ------------------------------------------------------------------------------ what is accepted


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_an_image_is_stored_with_a_thumbnail_and_served_inline(
    alice_client, alice, lobby, media_root, fmt, content_type
):
    response = upload(alice_client, "lobby", f"holiday.{fmt.lower()}", image_bytes(fmt))

    assert response.status_code == 201
    data = response.json()
    assert data["image"] is True
    assert data["content_type"] == content_type
    assert data["name"] == f"holiday.{fmt.lower()}"
    assert data["url"] == f"/files/{data['id']}/"
    assert data["thumbnail_url"] == f"/files/{data['id']}/thumbnail"
    assert len(stored_files(media_root)) == 2  # the original and its thumbnail, under MEDIA_ROOT

    send_with(lobby, alice, [data["id"]])
    served = alice_client.get(data["url"])
    thumb = alice_client.get(data["thumbnail_url"])

    assert served.status_code == 200
    assert served["Content-Type"] == content_type
    assert served["Content-Disposition"].startswith("inline")
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"".join(served.streaming_content) == image_bytes(fmt)
    with Image.open(io.BytesIO(b"".join(thumb.streaming_content))) as small:
        assert max(small.size) <= 480


def test_a_photo_taken_sideways_gets_an_upright_thumbnail(alice_client, alice, lobby):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; viewers rotate 90° clockwise
    out = io.BytesIO()
    Image.new("RGB", (800, 400), "teal").save(out, "JPEG", exif=exif)
    data = upload(alice_client, "lobby", "sideways.jpg", out.getvalue()).json()
    send_with(lobby, alice, [data["id"]])

    thumbnail = Image.open(io.BytesIO(b"".join(alice_client.get(data["thumbnail_url"]).streaming_content)))

    assert thumbnail.size == (240, 480)


def _photo_with_location(fmt: str) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation, the one tag kept (the photo would show sideways without it)
    exif[0x010F] = "Phone Maker"
    gps = exif.get_ifd(0x8825)  # GPSInfo: where the photo was taken
    gps.update({1: "N", 2: (52.0, 22.0, 12.0), 3: "E", 4: (4.0, 53.0, 0.0)})
    out = io.BytesIO()
    extra = {"comment": b"at home"} if fmt == "JPEG" else {}
    Image.new("RGB", (800, 400), "teal").save(out, fmt, exif=exif, **extra)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_photo_s_location_and_other_metadata_are_removed_on_upload(alice_client, alice, lobby, fmt):
    original = _photo_with_location(fmt)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the test photo does carry a location

    data = upload(alice_client, "lobby", f"photo.{fmt.lower()}", original).json()
    send_with(lobby, alice, [data["id"]])
    served = b"".join(alice_client.get(data["url"]).streaming_content)
    thumb = b"".join(alice_client.get(data["thumbnail_url"]).streaming_content)

    for stored in (served, thumb):
        with Image.open(io.BytesIO(stored)) as image:
            image.load()
            exif = image.getexif()
            assert not exif.get_ifd(0x8825), "GPS location kept"
            assert 0x010F not in exif
            assert "comment" not in image.info
    assert b"Phone Maker" not in served
    assert b"at home" not in served
    with Image.open(io.BytesIO(served)) as image:
        assert image.size == (800, 400)
        assert image.getexif().get(0x0112, 6) == 6  # JPEG keeps its orientation; the others had none that shows
    assert Attachment.objects.get(pk=data["id"]).size == len(served)


def test_the_type_is_read_from_the_content_not_the_name(alice_client):
    room_create(slug="lobby", title="Lobby")

    png_called_txt = upload(alice_client, "lobby", "notes.txt", image_bytes("PNG"))
    html_called_png = upload(alice_client, "lobby", "cat.png", b"<!doctype html><script>alert(1)</script>")

    assert png_called_txt.status_code == 201
    assert png_called_txt.json()["content_type"] == "image/png"
    assert html_called_png.status_code == 400
    assert html_called_png.json()["error"]["code"] == "refused_type"


def test_other_files_are_downloads_with_their_name(alice_client, alice, lobby):
    data = upload(alice_client, "lobby", "Q3 report.pdf", PDF).json()
    send_with(lobby, alice, [data["id"]])

    served = alice_client.get(data["url"])

    assert data["image"] is False
    assert data["thumbnail_url"] is None
    assert data["content_type"] == "application/pdf"
    assert served["Content-Type"] == "application/pdf"
    assert served["Content-Disposition"] == 'attachment; filename="Q3 report.pdf"'
    assert served["X-Content-Type-Options"] == "nosniff"


def test_a_file_missing_from_storage_is_a_404_not_a_500(alice_client, alice, lobby, media_root, caplog):
    data = upload(alice_client, "lobby", "photo.png", image_bytes()).json()
    send_with(lobby, alice, [data["id"]])
    for path in stored_files(media_root):  # lost: a restore without the media, a bucket emptied
        path.unlink()

    answers = [alice_client.get(data["url"]).status_code, alice_client.get(data["thumbnail_url"]).status_code]

    assert answers == [404, 404]
    assert "missing from storage" in caplog.text  # the operator hears of it


def test_plain_text_is_accepted_as_a_download(alice_client):
    room_create(slug="lobby", title="Lobby")

    response = upload(alice_client, "lobby", "log.txt", "line one\nlíne twö\n".encode())

    assert response.status_code == 201
    assert response.json()["content_type"] == "text/plain"


def test_a_path_in_the_file_name_is_dropped(alice_client):
    room_create(slug="lobby", title="Lobby")

    response = upload(alice_client, "lobby", "../../etc/passwd.pdf", PDF)

    assert response.json()["name"] == "passwd.pdf"
    assert "passwd" not in Attachment.objects.get().file.name  # stored under a random name


# ------------------------------------------------------------------------------ what is refused


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("page.html", b"<html><body><script>alert(document.cookie)</script></body></html>"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'),
        ("data.xml", b'<?xml version="1.0"?><x/>'),
        ("tool", b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200),
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200),
        ("blob.bin", bytes(range(256)) * 4),
    ],
)
def test_refused_types_get_a_clear_400_and_nothing_is_stored(alice_client, media_root, name, data):
    room_create(slug="lobby", title="Lobby")

    response = upload(alice_client, "lobby", name, data)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "refused_type"
    assert "cannot be shared here" in response.json()["error"]["detail"]
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []


def test_a_file_over_the_size_limit_is_413_with_the_limit_in_words(alice_client, settings, media_root):
    settings.UPLOAD_MAX_BYTES = 2048
    room_create(slug="lobby", title="Lobby")

    response = upload(alice_client, "lobby", "big.txt", b"a" * 3000)
    huge = upload(alice_client, "lobby", "huge.txt", b"a" * (2048 + 70 * 1024))  # refused before parsing

    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "too_large",
        "detail": "This file is 2.9 KB. Files may be at most 2.0 KB.",
    }
    assert huge.status_code == 413
    assert "at most 2.0 KB" in huge.json()["error"]["detail"]
    assert stored_files(media_root) == []


def test_uploads_over_the_quota_are_refused(alice_client, settings):
    settings.UPLOAD_QUOTA_BYTES = 5000
    room_create(slug="lobby", title="Lobby")

    first = upload(alice_client, "lobby", "a.txt", b"a" * 3000)
    second = upload(alice_client, "lobby", "b.txt", b"b" * 3000)

    assert first.status_code == 201
    assert second.status_code == 413
    assert second.json()["error"]["code"] == "over_quota"
    assert "quota of 4.9 KB" in second.json()["error"]["detail"]
    assert Attachment.objects.count() == 1


def test_broken_images_and_decompression_bombs_are_refused(alice_client, media_root):
    room_create(slug="lobby", title="Lobby")
    png = image_bytes("PNG", size=(400, 400), mode="RGB")
    bomb = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(bomb, "PNG")  # a few KB that decode to 144 million pixels

    truncated = upload(alice_client, "lobby", "cut.png", png[: len(png) // 2])
    bombed = upload(alice_client, "lobby", "bomb.png", bomb.getvalue())

    assert truncated.status_code == 400
    assert truncated.json()["error"]["code"] == "broken_image"
    assert bombed.status_code == 400
    assert bombed.json()["error"]["code"] == "image_too_large"
    assert stored_files(media_root) == []


def test_an_empty_or_missing_file_is_a_clear_400(alice_client):
    room_create(slug="lobby", title="Lobby")

    empty = upload(alice_client, "lobby", "empty.txt", b"")
    missing = alice_client.post("/api/rooms/lobby/uploads", {"other": "x"})

    assert empty.status_code == 400
    assert empty.json()["error"]["code"] == "empty_file"
    assert missing.status_code == 400
    assert "field called “file”" in missing.json()["error"]["detail"]


# ----------------------------------------------------------------------------- who may read what


def test_only_members_may_upload_into_a_private_room(alice_client, make_user):
    room_create(slug="secret", title="Secret", private=True, created_by=make_user("owner"))

    response = upload(alice_client, "secret", "a.pdf", PDF)

    assert response.status_code == 403
    assert Attachment.objects.count() == 0


def test_a_non_member_cannot_download_a_private_rooms_file(client, make_user):
    owner, outsider = make_user("owner"), make_user("outsider")
    secret = room_create(slug="secret", title="Secret", private=True, created_by=owner)
    client.force_login(owner)
    data = upload(client, "secret", "plan.pdf", PDF).json()
    send_with(secret, owner, [data["id"]])
    assert client.get(data["url"]).status_code == 200

    client.force_login(outsider)
    assert client.get(data["url"]).status_code == 404
    assert client.get(f"/files/{uuid.uuid4()}/").status_code == 404  # the same answer as for no file at all
    client.logout()
    assert client.get(data["url"]).status_code == 302  # to the login page


def test_an_unsent_upload_is_visible_to_its_uploader_only(alice_client, client, make_user):
    room_create(slug="lobby", title="Lobby")
    data = upload(alice_client, "lobby", "draft.pdf", PDF).json()

    assert alice_client.get(data["url"]).status_code == 200
    client.force_login(make_user("bob"))
    assert client.get(data["url"]).status_code == 404


def test_a_deleted_messages_files_are_gone(alice_client, alice, lobby, media_root, django_capture_on_commit_callbacks):
    data = upload(alice_client, "lobby", "photo.png", image_bytes()).json()
    message = send_with(lobby, alice, [data["id"]])

    message_delete(room=lobby, message_id=message.pk, actor=alice)

    assert alice_client.get(data["url"]).status_code == 404
    assert alice_client.get(data["thumbnail_url"]).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        assert attachments_purge() == 1
    assert stored_files(media_root) == []


def test_unsent_uploads_are_purged_after_a_while(
    alice_client, alice, lobby, media_root, django_capture_on_commit_callbacks
):
    stale = upload(alice_client, "lobby", "old.pdf", PDF).json()
    fresh = upload(alice_client, "lobby", "new.pdf", PDF).json()
    sent = upload(alice_client, "lobby", "sent.pdf", PDF).json()
    send_with(lobby, alice, [sent["id"]])
    Attachment.objects.filter(pk__in=[stale["id"], sent["id"]]).update(
        created_at=timezone.now() - UNATTACHED_TTL - timedelta(minutes=1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert attachments_purge() == 1

    assert set(Attachment.objects.values_list("name", flat=True)) == {"new.pdf", "sent.pdf"}
    assert len(stored_files(media_root)) == 2
    assert alice_client.get(fresh["url"]).status_code == 200


def test_deleting_a_room_deletes_its_stored_files(
    alice_client, alice, lobby, media_root, django_capture_on_commit_callbacks
):
    data = upload(alice_client, "lobby", "photo.png", image_bytes()).json()
    send_with(lobby, alice, [data["id"]])

    with django_capture_on_commit_callbacks(execute=True):
        Room.objects.filter(pk=lobby.pk).delete()

    assert stored_files(media_root) == []


# ------------------------------------------------------------------------- attaching to a message


def test_a_message_carries_its_attachments_and_may_have_no_text(alice_client, alice, lobby):
    data = upload(alice_client, "lobby", "photo.png", image_bytes()).json()

    message = send_with(lobby, alice, [data["id"]], body="")
    history = alice_client.get("/api/rooms/lobby/messages").json()["messages"]

    assert message.body == ""
    assert history[-1]["attachments"] == [data]
    assert set(data) == {"id", "name", "size", "content_type", "url", "thumbnail_url", "image"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("redis_client")
async def test_bad_attachment_ids_get_an_error_frame_and_nothing_is_posted(make_user, join):
    alice, bob = await sync_to_async(make_user)("alice"), await sync_to_async(make_user)("bob")
    lobby = await sync_to_async(room_create)(slug="lobby", title="Lobby")
    other = await sync_to_async(room_create)(slug="other", title="Other")

    def make(room, uploader):
        return str(
            Attachment.objects.create(
                room=room, uploader=uploader, name="x.pdf", size=3, content_type="application/pdf"
            ).pk
        )

    bobs, elsewhere, mine = [
        await sync_to_async(make)(*args) for args in ((lobby, bob), (other, alice), (lobby, alice))
    ]
    socket = await join(alice, lobby)
    cases = [
        ([str(uuid.uuid4())], "unknown_attachment"),
        ([bobs], "unknown_attachment"),
        ([elsewhere], "unknown_attachment"),
        ([mine, str(uuid.uuid4())], "unknown_attachment"),
        (["not-a-uuid"], "invalid_frame"),
        ([mine, mine], "invalid_frame"),
        ([7], "invalid_frame"),
        ([mine] * 11, "invalid_frame"),
    ]
    for ids, code in cases:
        await socket.send(
            {"type": "message.send", "body": "with files", "client_id": str(uuid.uuid4()), "attachments": ids}
        )
        assert (await socket.expect("error", "message.new"))["code"] == code, ids
    await socket.send({"type": "message.send", "body": "files", "attachments": "nope"})
    assert (await socket.expect("error"))["code"] == "invalid_frame"

    assert await Message.objects.acount() == 0
    assert (await Room.objects.aget(pk=lobby.pk)).last_seq == 0  # no seq was used up either
    assert await Attachment.objects.filter(message__isnull=False).acount() == 0

    await socket.send({"type": "message.send", "body": "", "client_id": "ok", "attachments": [mine]})
    sent = (await socket.expect("message.new"))["message"]
    assert sent["seq"] == 1
    assert [a["id"] for a in sent["attachments"]] == [mine]
    await socket.send({"type": "message.send", "body": "again", "client_id": "again", "attachments": [mine]})
    assert (await socket.expect("error"))["code"] == "unknown_attachment"  # an upload is attached once
    await socket.close()


@pytest.mark.usefixtures("redis_client")
def test_uploading_too_fast_is_refused_with_429(alice_client, alice, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "uploads": {"limits": "2/1m", "fail": "open"}}
    rate_limit_reset("uploads", f"user:{alice.pk}")
    room_create(slug="lobby", title="Lobby")

    statuses = [upload(alice_client, "lobby", "a.pdf", PDF).status_code for _ in range(3)]

    assert statuses == [201, 201, 429]
    assert Attachment.objects.count() == 2
    rate_limit_reset("uploads", f"user:{alice.pk}")


def test_uploads_work_while_redis_is_unreachable(alice_client, spare_redis):
    room_create(slug="lobby", title="Lobby")
    with override_settings(REDIS_URL=spare_redis.url, REDIS_SOCKET_TIMEOUT=1):
        reset_clients()
        spare_redis.stop()
        response = upload(alice_client, "lobby", "a.pdf", PDF)
    reset_clients()

    assert response.status_code == 201  # the rule fails open; the quota is the database's


def test_admin_lists_attachments(client, alice_client, make_user):
    room_create(slug="lobby", title="Lobby")
    upload(alice_client, "lobby", "minutes.pdf", PDF)
    client.force_login(make_user("root", is_staff=True, is_superuser=True))

    page = client.get("/admin/chat/attachment/")

    assert page.status_code == 200
    assert "minutes.pdf" in page.content.decode()
