"""One broadcast to N users (default 10,000): notifications stored, unread sets updated, live pushes sent.

make bench BENCH_ARGS="broadcast --users 10000"
"""

from __future__ import annotations

import argparse
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from notifications.models import Broadcast, Notification
from notifications.services import broadcast_create, broadcast_send
from redis_toolkit.client import get_redis, redis_key

PREFIX = "bench-user-"


def ensure_users(n: int) -> None:
    User = get_user_model()
    have = User.objects.filter(username__startswith=PREFIX).count()
    if have < n:
        password = make_password(None)
        User.objects.bulk_create(
            [User(username=f"{PREFIX}{i}", password=password) for i in range(have, n)], batch_size=2000
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench broadcast")
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args(argv)

    ensure_users(args.users)
    Notification.objects.filter(kind=Notification.Kind.BROADCAST).delete()
    Broadcast.objects.all().delete()
    for key in get_redis().scan_iter(match=redis_key("notifications", "unread", "*"), count=5000):
        get_redis().delete(key)
    usernames = None
    total = get_user_model().objects.filter(is_active=True).count()

    started = time.perf_counter()
    broadcast = broadcast_create(text="Benchmark announcement", created_by=None, usernames=usernames)
    sent = broadcast_send(broadcast=broadcast)
    elapsed = time.perf_counter() - started

    print(f"broadcast to {sent:,} of {total:,} users: {elapsed:.2f} s ({sent / elapsed:,.0f} notifications/s)")
    print("target: 10,000 users in under 30 s")
    return 0
