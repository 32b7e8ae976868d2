"""Message seq: gapless and unique per room even when many writers post at once."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from chat.models import Message, Room
from chat.services import message_post, room_create


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_get_gapless_unique_seqs(make_user):
    room = room_create(slug="busy", title="Busy")
    authors = [make_user() for _ in range(8)]

    def post(n: int) -> int:
        try:
            message, _ = message_post(room=room, author=authors[n % 8], body=f"m{n}", client_id=f"c{n}")
            return message.seq
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        seqs = list(pool.map(post, range(80)))

    assert sorted(seqs) == list(range(1, 81))
    assert Room.objects.get(pk=room.pk).last_seq == 80
    assert Message.objects.filter(room=room).count() == 80
