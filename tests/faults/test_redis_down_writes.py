"""Redis stopped under a real daphne: every form and JSON write still answers (the database holds the truth),
with no 500 — the bell's unread set, rate limits and pushes wait for Redis, the write does not."""

from __future__ import annotations

import pytest

from chat.services import room_create
from notifications.models import Notification
from notifications.unread import PROBE_SECONDS
from tests.conftest import SpareRedis, wait_until
from tests.security.conftest import Client

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("fault", ["stopped", "frozen", "restarted with its data"])
def test_writes_answer_without_a_500_while_redis_is_down(fault, asgi_server, tmp_path, make_user):
    # "restarted with its data": Redis comes back from its append-only file with the bell's old set.
    spare_redis = SpareRedis(tmp_path if fault == "restarted with its data" else None)
    spare_redis.start()
    try:
        _writes_during_the_outage(fault, asgi_server, spare_redis, make_user)
    finally:
        spare_redis.stop()


def _writes_during_the_outage(fault, asgi_server, spare_redis, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    room_create(slug="lobby", title="Lobby")
    room_create(slug="team", title="Team", private=True, created_by=alice)
    first, second, _third = (
        Notification.objects.create(recipient=alice, kind=Notification.Kind.MENTION, event_id=f"e{i}", text="hi")
        for i in range(3)
    )
    server = asgi_server(REDIS_URL=spare_redis.url)
    client = Client(server, alice)
    client.csrf()
    assert client.get("/api/notifications/").json()["unread_count"] == 3  # the bell's set is built in Redis

    spare_redis.pause() if fault == "frozen" else spare_redis.stop()
    answers = {
        "mark one (page)": client.post(f"/notifications/{first.pk}/read/", form={}).status,
        "mark some (API)": client.post("/api/notifications/read", body={"ids": [second.pk]}).status,
        "mark all (page)": client.post("/notifications/read-all/", form={}).status,
        "bell": client.get("/api/notifications/").status,
        "invite": client.post("/api/rooms/team/members", body={"username": "bob"}).status,
        "mute": client.post("/rooms/lobby/mute/", form={"muted": "1"}).status,
        "search": client.get("/api/search?q=hello").status,
        "history": client.get("/api/rooms/lobby/messages").status,
        "direct message": client.post(f"/users/{bob.username}/message/", form={}).status,
    }
    assert answers == {
        "mark one (page)": 302,
        "mark some (API)": 200,
        "mark all (page)": 302,
        "bell": 200,
        "invite": 201,
        "mute": 302,
        "search": 200,
        "history": 200,
        "direct message": 302,
    }
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    spare_redis.resume() if fault == "frozen" else spare_redis.start()
    # Once past the outage's probe interval the bell asks Redis again: the set was rebuilt, not left stale.
    wait_until(lambda: client.get("/api/notifications/").json()["unread_count"] == 0, timeout=PROBE_SECONDS + 5)
