"""Test-only handlers that worker processes load through STREAMS_HANDLER_MODULES; effects go to the DB."""

import time

from django.contrib.auth.models import Group

from redis_toolkit.client import get_redis, redis_key
from redis_toolkit.events.registry import event_handler

GROUP = "toolkit-test"


def calls_key() -> str:
    return redis_key("test", "calls")


def effects_key() -> str:
    return redis_key("test", "effects")


def fail_key(event_id: int) -> str:
    return redis_key("test", "fail", event_id)


def hung_key(event_id: int) -> str:
    return redis_key("test", "hung", event_id)


@event_handler("test.effect", group=GROUP, fields={"n": int})
def make_effect(event) -> None:
    """Idempotent effect keyed by event.id, like a Notification unique on (recipient, event_id)."""
    client = get_redis("tests", decode_responses=True)
    client.rpush(calls_key(), event.id)
    if event.payload.get("hang") and client.set(hung_key(event.id), 1, nx=True):
        time.sleep(120)  # first delivery only: the test kills the worker while it is in here
    if client.exists(fail_key(event.id)):
        raise RuntimeError(f"told to fail on event {event.id}")
    time.sleep(event.payload.get("sleep", 0))
    _, created = Group.objects.get_or_create(name=f"effect-{event.id}")
    if created:
        client.rpush(effects_key(), event.id)


@event_handler("test.other", group="toolkit-test-other")
def other_group(event) -> None:
    get_redis("tests", decode_responses=True).rpush(redis_key("test", "other"), event.id)
