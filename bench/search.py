"""Search query time (p50/p95) on a PostgreSQL database of 1,000,000 messages that this benchmark creates and drops.

make bench BENCH_ARGS="search --admin-url postgres://postgres@127.0.0.1:5432/postgres"

The parent process creates a database of its own, runs a child (`--child`) against it, whose start-up
migrates it; the child bulk-loads users, rooms and messages with generate_series (bodies of Zipf-
distributed words, so some words are in half the messages and some in a handful), then times
chat.search.message_search, the code the page and the API call, for several kinds of query.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
import zlib
from urllib.parse import urlparse, urlunparse

DB_NAME = "chatsite_bench_search"


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench search", description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default="postgres://postgres@127.0.0.1:5432/postgres", help="creates the db")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=400)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--vocabulary", type=int, default=20_000, help="distinct words")
    parser.add_argument("--queries", type=int, default=100, help="timed queries per kind")
    parser.add_argument("--keep", action="store_true", help="leave the database for inspection")
    parser.add_argument("--candidates", type=int, help="chat.search.RANK_CANDIDATES for this run")
    parser.add_argument("--reuse", action="store_true", help="time the database a --keep run left (no load)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = _args(argv)
    if args.child:
        return child(args)
    import psycopg

    admin = urlparse(args.admin_url)
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if not (args.reuse and exists):
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
            conn.execute(f"CREATE DATABASE {DB_NAME}")
    try:
        env = {**os.environ, "DATABASE_URL": urlunparse(admin._replace(path=f"/{DB_NAME}"))}
        return subprocess.call([sys.executable, "-m", "bench", "search", "--child", *argv], env=env)
    finally:
        if not (args.keep or args.reuse):
            with psycopg.connect(args.admin_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def _words(n: int) -> list[str]:
    rng = random.Random(14)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(4, 9))))
    return sorted(words, key=lambda w: (zlib.crc32(w.encode()), w))  # a fixed order: rank k is words[k - 1]


def _load(args: argparse.Namespace, words: list[str]) -> None:
    from django.db import connection

    from chat.search import PG_INSTALL

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                   is_active, date_joined)
               SELECT '!', false, 'u' || g, '', '', '', false, true, now() FROM generate_series(1, %s) g""",
            [args.users],
        )
        # Every fourth room is private; the reader (u1) is a member of every other private room.
        cursor.execute(
            """INSERT INTO chat_room (slug, title, topic, kind, created_at, last_seq)
               SELECT 'room-' || g, 'Room ' || g, '', CASE WHEN g %% 4 = 0 THEN 'private' ELSE 'public' END, now(), 0
               FROM generate_series(1, %s) g""",
            [args.rooms],
        )
        cursor.execute(
            """INSERT INTO chat_membership (user_id, room_id, role, last_read_seq, muted, joined_at)
               SELECT u.id, r.id, 'member', 0, false, now() FROM chat_room r
               JOIN auth_user u ON u.username = 'u1' OR u.id % 50 = r.id % 50
               WHERE r.kind = 'private' AND (u.username <> 'u1' OR r.id % 8 = 0)
               ON CONFLICT DO NOTHING"""
        )
        # Without the index during the load (built once afterwards, much faster than row by row).
        cursor.execute("DROP INDEX chat_message_search_idx")
        cursor.execute(
            """INSERT INTO chat_message (room_id, seq, author_id, body, created_at, client_id)
               SELECT r0 + (g %% %(rooms)s), g / %(rooms)s + 1, u0 + ((g::bigint * 7919) %% %(users)s),
                      (SELECT string_agg(w[floor(power(%(vocab)s, random()))::int + 0 * k], ' ')
                       FROM generate_series(1, 3 + (g %% 15)) k),
                      now() - (%(n)s - g) * interval '2 seconds', ''
               FROM generate_series(0, %(n)s - 1) g,
                    (SELECT min(id) AS r0 FROM chat_room) r, (SELECT min(id) AS u0 FROM auth_user) u,
                    (SELECT %(words)s::text[] AS w) v""",
            {"rooms": args.rooms, "users": args.users, "vocab": len(words), "n": args.messages, "words": words},
        )
        cursor.execute(PG_INSTALL[1])
        cursor.execute(
            "UPDATE chat_room SET last_seq = m.top FROM "
            "(SELECT room_id, max(seq) AS top FROM chat_message GROUP BY room_id) m WHERE m.room_id = chat_room.id"
        )
        cursor.execute("ANALYZE")
    print(f"loaded {args.messages:,} messages in {args.rooms} rooms in {time.perf_counter() - start:.0f} s")


def _pick(rng: random.Random, words: list[str], low: int, high: int) -> str:
    return words[rng.randint(low, min(high, len(words))) - 1]


def child(args: argparse.Namespace) -> int:
    from django.contrib.auth import get_user_model
    from django.db import connection

    import chat.search
    from chat.models import Message, Room
    from chat.search import message_search

    if args.candidates:
        chat.search.RANK_CANDIDATES = args.candidates

    if connection.vendor != "postgresql":
        print("search: needs PostgreSQL (--admin-url)", file=sys.stderr)
        return 2
    words = _words(args.vocabulary)
    if not (args.reuse and Message.objects.exists()):
        _load(args, words)
    reader = get_user_model().objects.get(username="u1")
    room = Room.objects.filter(kind="public").order_by("id")[3]
    rng = random.Random(7)
    kinds = {
        # word rank -> share of messages with it: rank 1 ~50 %, rank 10 ~9 %, rank 1000 ~0.1 %, rank 10000 ~0.01 %
        "very common word (rank 1-10)": lambda: {"query": _pick(rng, words, 1, 10)},
        "common word (rank 10-200)": lambda: {"query": _pick(rng, words, 10, 200)},
        "mid word (rank 200-5000)": lambda: {"query": _pick(rng, words, 200, 5000)},
        "rare word (rank 5000+)": lambda: {"query": _pick(rng, words, 5000, len(words))},
        "two words (common + mid)": lambda: {"query": f"{_pick(rng, words, 10, 200)} {_pick(rng, words, 200, 5000)}"},
        "common word in one room": lambda: {"query": _pick(rng, words, 10, 200), "room": room},
        "no match": lambda: {"query": "zzzzqqqq"},
    }
    total = Message.objects.count()
    print(f"{total:,} messages; reader can read {Room.objects.exclude(kind='private').count()} public rooms + some")
    print(f"{'query kind':32} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'hits':>5}")
    every: list[float] = []
    for name, make in kinds.items():
        for _ in range(5):  # warm the caches the way a running site has them
            message_search(user=reader, **make())
        times, hits = [], 0
        for _ in range(args.queries):
            kwargs = make()
            start = time.perf_counter()
            found = message_search(user=reader, **kwargs)
            times.append((time.perf_counter() - start) * 1000)
            hits += len(found)
        every += times
        p95 = statistics.quantiles(times, n=20)[-1]
        print(f"{name:32} {statistics.median(times):8.1f} {p95:8.1f} {max(times):8.1f} {hits / len(times):5.1f}")
    p95_all = statistics.quantiles(every, n=20)[-1]
    print(f"{'all queries':32} {statistics.median(every):8.1f} {p95_all:8.1f} {max(every):8.1f}")
    print(f"p95 {p95_all:.1f} ms (target <= 50 ms): {'OK' if p95_all <= 50 else 'OVER'}")
    return 0
