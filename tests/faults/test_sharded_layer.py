"""The channel layer sharded over two Redis servers, with two server processes."""

from __future__ import annotations

import pytest
import redis

from chat.services import room_create
from tests.conftest import SpareRedis, cookie_header
from tests.faults.conftest import Client

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_rooms_hashed_over_two_redis_servers_reach_members_on_both_processes(asgi_server, spare_redis, make_user):
    second = SpareRedis()
    second.start()
    try:
        env = {"REDIS_URL": spare_redis.url, "REDIS_CHANNEL_URLS": f"{spare_redis.url},{second.url}"}
        servers = [asgi_server(**env), asgi_server(**env)]
        alice, bob = make_user("alice"), make_user("bob")
        slugs = [f"room{i}" for i in range(6)]
        for slug in slugs:
            room_create(slug=slug, title=slug)
        pairs = []
        for slug in slugs:
            a = Client(servers[0], f"/ws/rooms/{slug}/", cookie_header(alice))
            b = Client(servers[1], f"/ws/rooms/{slug}/", cookie_header(bob))
            b.expect(lambda f: f["type"] == "presence" and len(f["online"]) == 2)
            pairs.append((slug, a, b))
        for slug, a, _b in pairs:
            a.send({"type": "message.send", "body": f"hello {slug}", "client_id": slug})
        for slug, _a, b in pairs:
            frame = b.expect_type("message.new")
            assert frame["message"]["body"] == f"hello {slug}"

        # Both servers carried some of the rooms' groups (the hash spread them).
        channels = [len(redis.Redis.from_url(url).pubsub_channels()) for url in env["REDIS_CHANNEL_URLS"].split(",")]
        assert all(count > 0 for count in channels), channels
    finally:
        second.stop()
