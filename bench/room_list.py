"""How long the room list takes as rooms and messages grow: one query, so time should grow gently.

make bench BENCH_ARGS="room_list --rooms 50,200 --messages 200"
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from chat.models import Membership, Message, Room
from chat.selectors import room_list_for_user


def seed(*, rooms: int, messages: int, tag: str):
    """`rooms` public rooms of `messages` messages each, the reader a member of all; bulk inserts."""
    users = get_user_model()
    reader = users.objects.create_user(username=f"reader-{tag}")
    writer = users.objects.create_user(username=f"writer-{tag}")
    with transaction.atomic():
        made = Room.objects.bulk_create(
            [Room(slug=f"b-{tag}-{n}", title=f"Bench {tag} {n}", last_seq=messages) for n in range(rooms)]
        )
        Membership.objects.bulk_create(
            [Membership(room=room, user=reader, last_read_seq=messages // 2) for room in made]
        )
        for room in made:
            Message.objects.bulk_create(
                [
                    Message(room=room, seq=seq, author=writer, body=f"message {seq} " * 5)
                    for seq in range(1, messages + 1)
                ]
            )
    return reader, made


def measure(reader, *, repeat: int) -> tuple[float, int, int]:
    timings = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            rooms = list(room_list_for_user(user=reader))
            timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000, len(queries), len(rooms)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench room_list")
    parser.add_argument("--rooms", default="20,100,400", help="comma-separated room counts")
    parser.add_argument("--messages", type=int, default=200, help="messages per room")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"{connection.vendor}, {args.messages} messages per room, median of {args.repeat}")
    print(f"{'rooms':>6} {'ms':>8} {'queries':>8}")
    for count in (int(n) for n in args.rooms.split(",")):
        tag = uuid.uuid4().hex[:6]
        reader, made = seed(rooms=count, messages=args.messages, tag=tag)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # planner statistics as a live database would have them
        millis, queries, listed = measure(reader, repeat=args.repeat)
        assert listed >= count
        print(f"{count:>6} {millis:>8.1f} {queries:>8}")
        Room.objects.filter(pk__in=[r.pk for r in made]).delete()
        get_user_model().objects.filter(username__endswith=tag).delete()
    return 0
