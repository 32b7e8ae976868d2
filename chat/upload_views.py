"""Upload and download of attachments: every download goes through here, after a permission check."""

from __future__ import annotations

import logging
import mimetypes

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from chat.selectors import room_get_for_user
from chat.uploads import TooLarge, attachment_create, attachment_data, attachment_get_for_download, upload_limit_words
from chatsite.errors import NotFound, UserError, json_error
from redis_toolkit.ratelimit.http import ratelimit_view

logger = logging.getLogger(__name__)

MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file


@require_POST
@ratelimit_view("uploads", key="user")
def api_upload(request, slug: str):
    """POST /api/rooms/<slug>/uploads, multipart field `file`: 201 with the attachment (not yet sent)."""
    if not request.user.is_authenticated:
        return json_error("not_signed_in", "Sign in to upload files.", 401)
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > settings.UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD:
        # Refused before the multipart body is parsed. (The ASGI server and Django have already read it
        # whole into a temporary file: the reverse proxy's body limit is what bounds that, docs/operations.md.)
        return json_error(TooLarge.code, f"This upload is too large. {upload_limit_words()}", TooLarge.status)
    try:
        room = room_get_for_user(slug=slug, user=request.user)
        upload = request.FILES.get("file")
        if upload is None:
            raise UserError("Send the file in a multipart/form-data field called “file”.", code="no_file")
        attachment = attachment_create(room=room, uploader=request.user, upload=upload)
    except UserError as exc:
        return json_error(exc.code, exc.detail, exc.status)
    return JsonResponse(attachment_data(attachment), status=201)


@login_required
@require_GET
@ratelimit_view("files.download", key="user")
def attachment_download(request, attachment_id, thumbnail: bool = False):
    """/files/<id>/ (and /thumbnail): images inline, everything else as a download; 404 unless readable."""
    try:
        attachment = attachment_get_for_download(attachment_id=attachment_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.detail) from None
    stored = attachment.thumbnail if thumbnail else attachment.file
    if not stored:
        raise Http404("This file has no thumbnail.")
    content_type = mimetypes.guess_type(stored.name)[0] if thumbnail else attachment.content_type
    try:
        opened = stored.open("rb")
    except FileNotFoundError:  # the row outlived its file (a restore without the media): say so, once, to the operator
        logger.error("attachment %s: %s is missing from storage", attachment.pk, stored.name)
        raise Http404("This file is no longer stored.") from None
    response = FileResponse(
        opened,
        content_type=content_type or "application/octet-stream",
        as_attachment=not attachment.is_image,
        filename=attachment.name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    # Even if a browser were talked into rendering the bytes as a document, it could run nothing.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    # Private: shared caches must not keep it; short: a deleted message's files vanish from browsers soon too.
    response["Cache-Control"] = "private, max-age=60"
    return response
