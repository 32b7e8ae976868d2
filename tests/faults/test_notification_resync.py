"""The bell through a Redis restart: what was pushed while Redis was down reaches the open page without reload."""

from __future__ import annotations

import pytest

from notifications.models import Notification
from notifications.services import notification_create
from tests.conftest import cookie_header
from tests.faults.conftest import Client

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def notify(user, event_id: str):
    return notification_create(recipient_id=user.pk, kind=Notification.Kind.BROADCAST, event_id=event_id, text=event_id)


def test_an_open_bell_gets_the_notifications_and_count_pushed_while_redis_was_down(
    asgi_server, spare_redis, make_user, settings
):
    alice = make_user("alice")
    server = asgi_server(REDIS_URL=spare_redis.url)
    bell = Client(server, "/ws/notifications/", cookie_header(alice))
    bell.send({"type": "rooms.watch"})
    bell.expect_type("rooms.watching")  # connected and subscribed
    # This process (like a stream worker) shares the server's Redis for the count and the pushes.
    settings.REDIS_URL = spare_redis.url
    layer = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [spare_redis.url]}}}
    before = notify(alice, "before")
    assert bell.expect_type("notification.new")["unread_count"] == 1

    spare_redis.stop()
    during = notify(alice, "during")  # stored; its push is lost with Redis
    spare_redis.start()  # empty: the unread set is gone too

    missed = bell.expect_type("notification.new", timeout=15)
    assert (missed["notification"]["id"], missed["unread_count"]) == (during.pk, 2)
    bell.drain(1.0)
    pushed = [f["notification"]["id"] for f in bell.frames if f["type"] == "notification.new"]
    assert pushed == [before.pk, during.pk]  # each once: what the socket had sent is not sent again
