"""The purge of stale uploads and a message claiming one at the same moment: the message keeps its file."""

import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.utils import timezone

from chat.models import Attachment
from chat.services import message_post, room_create
from chat.uploads import UNATTACHED_TTL, attachment_create, attachments_purge
from tests.chat.conftest import LockWait
from tests.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def test_an_upload_claimed_while_the_purge_runs_stays_with_its_message(make_user, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    alice = make_user("alice")
    room = room_create(slug="lobby", title="Lobby")
    upload = attachment_create(room=room, uploader=alice, upload=SimpleUploadedFile("old.pdf", PDF))
    claimed, release, lock_wait, purged = threading.Event(), threading.Event(), LockWait(), []

    def send():  # sent just before the purge came by: its transaction has claimed the row, not committed yet
        try:
            with transaction.atomic():
                message_post(room=room, author=alice, body="here it is", attachments=[str(upload.pk)])
                claimed.set()
                release.wait(10)
        finally:
            connection.close()

    def purge():
        try:
            with lock_wait.noted():
                purged.append(attachments_purge(now=timezone.now() + UNATTACHED_TTL * 2))
        finally:
            connection.close()

    sender = threading.Thread(target=send)
    sender.start()
    assert claimed.wait(10)
    purger = threading.Thread(target=purge)
    purger.start()
    wait_until(lock_wait.waiting)  # the purge has read the row as unsent and waits for the sender
    release.set()
    sender.join(10)
    purger.join(20)

    assert purged == [0]
    assert Attachment.objects.filter(pk=upload.pk, message__isnull=False).exists()
