"""Attachments: checking an upload by its content, storing it, attaching it to a message, serving and purging it."""

from __future__ import annotations

import io
import mimetypes
import unicodedata
import uuid
import warnings
from datetime import timedelta
from pathlib import PurePath

import filetype
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from PIL import Image, ImageOps, UnidentifiedImageError

from chat.image_metadata import ORIENTATION, image_without_metadata
from chat.models import Attachment, Message, Room
from chat.selectors import room_can_access
from chatsite.errors import Forbidden, NotFound, UserError

MAX_ATTACHMENTS_PER_MESSAGE = 10
UNATTACHED_TTL = timedelta(hours=2)  # an upload never sent with a message is purged after this
THUMBNAIL_SIZE = (480, 480)
# Pillow refuses larger images (DecompressionBombError); between this and twice it only warns, which we refuse too.
MAX_IMAGE_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

# Shown inline (and thumbnailed): content type -> the Pillow format the file must decode as.
IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
# Offered as downloads only (Content-Disposition: attachment). Anything else, e.g. executables, HTML
# or SVG (a script in the site's origin if ever shown inline), is refused.
DOWNLOAD_TYPES = {
    "application/pdf",
    "application/zip",
    "application/gzip",
    "application/x-tar",
    "application/x-7z-compressed",
    "application/x-xz",
    "application/x-bzip2",
    "application/epub+zip",
    "application/rtf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "audio/x-flac",
    "audio/x-wav",
    "video/mp4",
    "video/webm",
    "video/quicktime",
    "text/plain",
}
_MARKUP = (b"<!doctype", b"<html", b"<svg", b"<script", b"<?xml", b"<body", b"<iframe")


class TooLarge(UserError):
    code = "too_large"
    status = 413


def _size(n: int) -> str:
    return filesizeformat(n).replace("\xa0", " ")  # "10.0 MB" in JSON, not a no-break space to trip over


def upload_limit_words() -> str:
    return f"Files may be at most {_size(settings.UPLOAD_MAX_BYTES)}."


# --------------------------------------------------------------------------- checks
def _sniff(upload: UploadedFile) -> str:
    """The content type read from the file's bytes (its name and the browser's claim are ignored)."""
    upload.seek(0)
    head = upload.read(8192)
    upload.seek(0)
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    return "text/plain" if _is_plain_text(upload) else "application/octet-stream"


def _is_plain_text(upload: UploadedFile) -> bool:
    data = upload.read()
    upload.seek(0)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f" for ch in text[:65536]):
        return False
    head = data[:4096].lstrip().lower()
    return not (head.startswith(b"<") or any(tag in head for tag in _MARKUP))


def _refused_type_detail(content_type: str) -> str:
    what = "This kind of file" if content_type == "application/octet-stream" else f"A file of type {content_type}"
    return (
        f"{what} cannot be shared here. Images (PNG, JPEG, GIF, WebP), PDFs, office documents, archives, "
        "audio, video and plain text can."
    )


def _inspect_image(upload: UploadedFile, content_type: str) -> tuple[int, int, bytes, str, bytes]:
    """Decode the whole image (refusing bombs and broken files).

    Returns width, height, thumbnail, its suffix, and the file to store: the upload without its metadata
    (EXIF with the GPS location, XMP, comments), which the thumbnail never has either.
    """
    broken = UserError("This image is damaged or not really an image; it cannot be shared.", code="broken_image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            upload.seek(0)
            with Image.open(upload) as image:
                if image.format != IMAGE_TYPES[content_type]:
                    raise broken
                width, height = image.size
                image.verify()  # structure and checksums, without decoding the pixels
            upload.seek(0)
            with Image.open(upload) as image:
                image.load()  # every pixel: truncated data that verify() lets through fails here
                orientation = image.getexif().get(ORIENTATION, 1)
                # Shrink first, then turn: turning the full image first copied it (twice the memory of a
                # 40-megapixel decode for a file of a few hundred KiB).
                image.thumbnail(THUMBNAIL_SIZE)
                thumbnail = ImageOps.exif_transpose(image)
                # Pillow writes some of the original's info back on save (a JPEG's comment): keep only colours.
                thumbnail.info = {k: v for k, v in thumbnail.info.items() if k == "icc_profile"}
                out = io.BytesIO()
                if thumbnail.mode in ("RGBA", "LA", "P", "PA"):
                    thumbnail.convert("RGBA").save(out, "PNG", optimize=True)
                    suffix = ".thumb.png"
                else:
                    thumbnail.convert("RGB").save(out, "JPEG", quality=85)
                    suffix = ".thumb.jpg"
            upload.seek(0)
            stripped = image_without_metadata(upload.read(), IMAGE_TYPES[content_type], orientation=orientation)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(
            f"This image is too large in pixels; images may have at most {MAX_IMAGE_PIXELS:,} pixels.",
            code="image_too_large",
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise broken from None
    finally:
        upload.seek(0)
    return width, height, out.getvalue(), suffix, stripped


def _clean_name(name: str) -> str:
    # Only the last path part, without control characters: it is shown to people and sent as a filename.
    base = PurePath((name or "").replace("\\", "/")).name
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip(" .")
    return (base or "file")[-200:]


def _suffix(content_type: str) -> str:
    known = {"image/jpeg": ".jpg", "text/plain": ".txt"}
    return known.get(content_type) or mimetypes.guess_extension(content_type) or ""


# ------------------------------------------------------------------------- services
def attachment_create(*, room: Room, uploader, upload: UploadedFile) -> Attachment:
    """Check and store one upload into `room`; it stays private to the uploader until sent with a message."""
    if not room_can_access(room=room, user=uploader):
        raise Forbidden("This room is private; ask a member to add you.")
    size = upload.size or 0
    if size > settings.UPLOAD_MAX_BYTES:
        raise TooLarge(f"This file is {_size(size)}. {upload_limit_words()}")
    if size == 0:
        raise UserError("This file is empty.", code="empty_file")
    content_type = _sniff(upload)
    if content_type not in IMAGE_TYPES and content_type not in DOWNLOAD_TYPES:
        raise UserError(_refused_type_detail(content_type), code="refused_type")
    width = height = None
    thumbnail = suffix = None
    stored_file: UploadedFile | ContentFile = upload
    if content_type in IMAGE_TYPES:
        width, height, thumbnail, suffix, stripped = _inspect_image(upload, content_type)
        stored_file, size = ContentFile(stripped), len(stripped)
    attachment = Attachment(
        id=uuid.uuid4(),
        room=room,
        uploader=uploader,
        name=_clean_name(upload.name),
        size=size,
        content_type=content_type,
        is_image=content_type in IMAGE_TYPES,
        width=width,
        height=height,
    )
    stored: list[str] = []
    try:
        with transaction.atomic():
            # The uploader's row lock makes quota check and insert one step for that user.
            get_user_model().objects.select_for_update().filter(pk=uploader.pk).exists()
            used = Attachment.objects.filter(uploader=uploader).aggregate(total=Sum("size"))["total"] or 0
            if used + size > settings.UPLOAD_QUOTA_BYTES:
                raise TooLarge(
                    f"This file would take you over your storage quota of {_size(settings.UPLOAD_QUOTA_BYTES)}"
                    f" ({_size(used)} used). Delete messages with files you no longer need.",
                    code="over_quota",
                )
            attachment.file.save(_suffix(content_type), stored_file, save=False)
            stored.append(attachment.file.name)
            if thumbnail is not None:
                attachment.thumbnail.save(suffix, ContentFile(thumbnail), save=False)
                stored.append(attachment.thumbnail.name)
            attachment.save(force_insert=True)
    except BaseException:
        for name in stored:  # nothing half-written: no file without its row
            attachment.file.storage.delete(name)
        raise
    return attachment


def attachments_claim(*, message: Message, ids, user) -> list[Attachment]:
    """Attach the uploader's own unsent uploads of this room to `message` (inside message_post's transaction).

    Raises UserError when any id is malformed, unknown, someone else's, from another room or already
    sent: the caller's transaction then rolls back and nothing is posted.
    """
    if not ids:
        return []
    if not isinstance(ids, list | tuple) or len(ids) > MAX_ATTACHMENTS_PER_MESSAGE:
        raise UserError(
            f"“attachments” must be a list of at most {MAX_ATTACHMENTS_PER_MESSAGE} attachment ids.",
            code="invalid_frame",
        )
    try:
        wanted = list(dict.fromkeys(uuid.UUID(str(value)) for value in ids if isinstance(value, str)))
    except ValueError:
        wanted = []
    if len(wanted) != len(ids):
        raise UserError("“attachments” must list each attachment id (a UUID string) once.", code="invalid_frame")
    rows = {
        row.pk: row
        for row in Attachment.objects.select_for_update().filter(
            pk__in=wanted, room_id=message.room_id, uploader=user, message__isnull=True
        )
    }
    if len(rows) != len(wanted):
        raise UserError(
            "An attachment is unknown, was already sent, or was uploaded to another room; upload the file again.",
            code="unknown_attachment",
        )
    Attachment.objects.filter(pk__in=wanted).update(message=message)
    for row in rows.values():
        row.message = message
    return [rows[pk] for pk in wanted]


def attachments_purge(*, now=None) -> int:
    """Delete unsent uploads older than UNATTACHED_TTL and the files of deleted messages; returns how many."""
    now = now or timezone.now()
    stale = Attachment.objects.filter(
        Q(message__isnull=True, created_at__lt=now - UNATTACHED_TTL) | Q(message__deleted_at__isnull=False)
    )
    count = 0
    for pk in stale.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            # Read again under the row's lock: a message may have claimed it since the list was read.
            attachment = stale.select_for_update(of=("self",)).filter(pk=pk).first()
            if attachment is not None:
                attachment.delete()  # post_delete removes the stored files after commit
                count += 1
    return count


@receiver(post_delete, sender=Attachment, dispatch_uid="chat.attachment_files")
def _delete_stored_files(sender, instance: Attachment, **kwargs) -> None:
    # Also runs for cascades (a message or room deleted through the ORM): no file outlives its row.
    names = [field.name for field in (instance.file, instance.thumbnail) if field]
    storage = instance.file.storage

    def delete() -> None:
        for name in names:
            storage.delete(name)

    transaction.on_commit(delete)


# ------------------------------------------------------------------------ selectors
def attachment_get_for_download(*, attachment_id, user) -> Attachment:
    """The attachment if `user` may read it now, else NotFound (whether it exists is nobody else's business)."""
    missing = NotFound("There is no such file, or it was deleted.")
    attachment = Attachment.objects.select_related("room", "message").filter(pk=attachment_id).first()
    if attachment is None or not user.is_authenticated:
        raise missing
    if attachment.message is None:
        if attachment.uploader_id != user.pk:  # unsent: only its uploader sees it (the composer's preview)
            raise missing
    elif attachment.message.deleted_at is not None:
        raise missing
    if not room_can_access(room=attachment.room, user=user):
        raise missing
    return attachment


def attachment_data(attachment: Attachment) -> dict:
    """The public shape of an attachment (docs/protocol.md)."""
    url = reverse("attachment", args=[attachment.pk])
    return {
        "id": str(attachment.pk),
        "name": attachment.name,
        "size": attachment.size,
        "content_type": attachment.content_type,
        "url": url,
        "thumbnail_url": f"{url}thumbnail" if attachment.thumbnail else None,
        "image": attachment.is_image,
    }


def attachments_data(message: Message) -> list[dict]:
    """A message's attachments as frame data: those just claimed, prefetched ones, or one query."""
    if message.deleted_at is not None:
        return []
    rows = getattr(message, "claimed_attachments", None)
    if rows is None:
        rows = message.attachments.all()
    return [attachment_data(row) for row in rows]
