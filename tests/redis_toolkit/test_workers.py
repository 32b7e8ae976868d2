"""StreamWorker in this process: delivery, retries, claims, dead letters and replay, on a real Redis."""

import itertools
import json
import time

import pytest
from django.db import transaction
from django.utils import timezone

from redis_toolkit.client import get_redis
from redis_toolkit.events.codec import encode_entry, stream_key
from redis_toolkit.events.outbox import publish_event
from redis_toolkit.events.registry import InvalidEvent
from redis_toolkit.events.status import dead_letter_replay, dead_letters
from redis_toolkit.events.worker import StreamWorker

pytestmark = pytest.mark.usefixtures("clean_streams")


@pytest.fixture
def fast_retries(settings):
    settings.STREAMS_RETRY_DELAY_MS = 20
    settings.STREAMS_CLAIM_IDLE_MS = 100
    settings.STREAMS_MAX_DELIVERIES = 3


@pytest.fixture
def client():
    return get_redis("tests", decode_responses=True)


@pytest.fixture
def stream_worker(registry):
    """`worker, events = stream_worker(errors, consumer="c1")`: a worker of group g whose one handler takes
    `test.effect`, keeps each event it is given in `events` and raises the next of `errors` (then succeeds)."""

    def build(errors=(), *, consumer: str = "c1"):
        events, errors = [], iter(errors)

        @registry.event_handler("test.effect", group="g")
        def handler(event):
            events.append(event)
            if (error := next(errors, None)) is not None:
                raise error

        return StreamWorker(group="g", consumer=consumer), events

    return build


def add_entry(client, event_type: str, payload: dict | str, *, event_id: int = 1, stream: str = "test", fields=None):
    payload_json = payload if isinstance(payload, str) else json.dumps(payload)
    entry = encode_entry(
        event_id=event_id, event_type=event_type, payload_json=payload_json, occurred_at=timezone.now()
    )
    return client.xadd(stream_key(stream), {**entry, **(fields or {})})


def drain(worker: StreamWorker, *, until, timeout: float = 5.0) -> None:
    """Run the worker's loop body until `until()` holds (retries and claims need a few rounds)."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        worker.run_once(wait=False)
        time.sleep(0.01)


def pending(client, group: str, stream: str = "test") -> int:
    return client.xpending(stream_key(stream), group)["pending"]


@pytest.mark.django_db(transaction=True)
def test_handler_receives_the_event_with_its_outbox_id(stream_worker):
    worker, received = stream_worker()
    with transaction.atomic():
        row = publish_event("test.effect", {"n": 3})

    assert worker.run_once(wait=False) == 1

    [event] = received
    assert (event.id, event.type, event.payload, event.stream) == (row.pk, "test.effect", {"n": 3}, "test")
    assert event.occurred_at == row.occurred_at
    assert event.deliveries == 1
    assert pending(worker.client, "g") == 0


def test_unknown_event_type_is_dead_lettered_with_a_reason_and_the_worker_keeps_going(stream_worker, client):
    worker, received = stream_worker()
    add_entry(client, "test.nobody", {}, event_id=1)
    add_entry(client, "test.effect", {}, event_id=2)

    worker.run_once(wait=False)

    assert [e.id for e in received] == [2]
    [letter] = dead_letters(stream="test")
    assert (letter.event_type, letter.event_id, letter.group) == ("test.nobody", "1", "g")
    assert letter.error == "unknown event type 'test.nobody': no handler is registered for it"
    assert pending(client, "g") == 0


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"payload": "{not json"}, "malformed payload: not valid JSON"),
        ({"payload": "[1, 2]"}, "malformed payload: a JSON list, expected an object"),
        ({"payload": '{"n": "three"}'}, "invalid event: payload 'n' is str 'three', expected int"),
        ({"payload": "{}"}, "invalid event: payload has no 'n'"),
        ({"id": "abc"}, "malformed entry: id 'abc' is not an integer"),
    ],
)
def test_malformed_entry_is_dead_lettered_with_a_readable_reason(registry, client, fields, reason):
    received = []
    registry.event_handler("test.effect", group="g", fields={"n": int})(received.append)
    worker = StreamWorker(group="g", consumer="c1")
    add_entry(client, "test.effect", "{}", fields=fields)
    add_entry(client, "test.effect", {"n": 1}, event_id=2)

    worker.run_once(wait=False)

    assert [e.id for e in received] == [2]
    [letter] = dead_letters(stream="test")
    assert letter.error.startswith(reason)
    assert letter.deliveries == 1


def test_entry_without_the_event_fields_is_dead_lettered(registry, client):
    registry.event_handler("test.effect", group="g")(lambda event: None)
    worker = StreamWorker(group="g", consumer="c1")
    client.xadd(stream_key("test"), {"hello": "world"})

    worker.run_once(wait=False)

    [letter] = dead_letters(stream="test")
    assert letter.error == "malformed entry: no 'id', 'type', 'payload', 'occurred_at' field"
    assert letter.fields == {"hello": "world"}


@pytest.mark.usefixtures("fast_retries")
def test_failing_handler_is_retried_then_dead_lettered_after_max_deliveries(stream_worker, client):
    worker, events = stream_worker(itertools.repeat(RuntimeError("the database is on fire")))
    add_entry(client, "test.effect", {})

    drain(worker, until=lambda: dead_letters(stream="test"))

    assert [e.deliveries for e in events] == [1, 2, 3]
    [letter] = dead_letters(stream="test")
    assert letter.deliveries == 3
    assert letter.error.startswith("RuntimeError: the database is on fire (")
    assert pending(client, "g") == 0


@pytest.mark.usefixtures("fast_retries")
def test_handler_that_recovers_on_a_retry_is_not_dead_lettered(stream_worker, client):
    worker, events = stream_worker([ConnectionError("blip")])
    add_entry(client, "test.effect", {})

    drain(worker, until=lambda: len(events) == 2 and pending(client, "g") == 0)

    assert [e.deliveries for e in events] == [1, 2]
    assert dead_letters(stream="test") == []


def test_invalid_event_raised_by_a_handler_is_dead_lettered_at_once(stream_worker, client):
    worker, events = stream_worker(itertools.repeat(InvalidEvent("room 9 does not exist")))
    add_entry(client, "test.effect", {})

    worker.run_once(wait=False)

    assert [e.deliveries for e in events] == [1]
    assert dead_letters(stream="test")[0].error.startswith("invalid event: room 9 does not exist (")


@pytest.mark.usefixtures("fast_retries")
def test_entries_pending_on_a_silent_consumer_are_claimed_and_handled(stream_worker, client):
    worker, received = stream_worker(consumer="alive")
    worker.ensure_groups()
    add_entry(client, "test.effect", {}, event_id=1)
    add_entry(client, "test.effect", {}, event_id=2)
    client.xreadgroup("g", "crashed", {stream_key("test"): ">"}, count=10)  # read, never acknowledged

    drain(worker, until=lambda: len(received) == 2)

    assert sorted((e.id, e.deliveries) for e in received) == [(1, 2), (2, 2)]
    assert pending(client, "g") == 0


@pytest.mark.usefixtures("fast_retries")
def test_entry_that_keeps_crashing_workers_is_dead_lettered_without_running_again(stream_worker, client):
    worker, received = stream_worker(consumer="alive")
    worker.ensure_groups()
    entry_id = add_entry(client, "test.effect", {})
    client.xreadgroup("g", "crashed-1", {stream_key("test"): ">"})
    client.xclaim(stream_key("test"), "g", "crashed-2", 0, [entry_id])
    client.xclaim(stream_key("test"), "g", "crashed-3", 0, [entry_id])

    drain(worker, until=lambda: dead_letters(stream="test"))

    assert received == []
    assert dead_letters(stream="test")[0].error == (
        "delivered 4 times without being acknowledged (did it crash the worker?)"
    )


@pytest.mark.usefixtures("fast_retries")
def test_pending_entry_trimmed_from_the_stream_is_acknowledged(any_redis, registry, client, caplog):
    registry.event_handler("test.effect", group="g")(lambda event: None)
    worker = StreamWorker(group="g", consumer="alive")
    worker.ensure_groups()
    add_entry(client, "test.effect", {})
    client.xreadgroup("g", "crashed", {stream_key("test"): ">"})
    client.xtrim(stream_key("test"), maxlen=0)

    drain(worker, until=lambda: pending(client, "g") == 0)
    assert worker.handled == 0  # nothing to handle: the entry is gone, and the loss is reported
    assert any("lost 1 entr(ies) of test trimmed before they were handled" in r.getMessage() for r in caplog.records)


def test_other_groups_events_are_skipped_and_replay_reaches_only_the_group_that_failed(registry, client):
    handled = {"a": [], "b": []}
    failing = {"a": True}

    @registry.event_handler("test.shared", group="a")
    def handle_a(event):
        if failing["a"]:
            raise InvalidEvent("not yet")
        handled["a"].append(event.id)

    registry.event_handler("test.shared", group="b")(lambda event: handled["b"].append(event.id))
    registry.event_handler("test.only-b", group="b")(lambda event: handled["b"].append(event.id))
    worker_a = StreamWorker(group="a", consumer="c")
    worker_b = StreamWorker(group="b", consumer="c")
    add_entry(client, "test.shared", {}, event_id=1)
    add_entry(client, "test.only-b", {}, event_id=2)

    worker_a.run_once(wait=False)
    worker_b.run_once(wait=False)
    assert handled == {"a": [], "b": [1, 2]}
    assert [letter.group for letter in dead_letters(stream="test")] == ["a"]

    failing["a"] = False
    assert len(dead_letter_replay(stream="test")) == 1
    worker_a.run_once(wait=False)
    worker_b.run_once(wait=False)

    assert handled == {"a": [1], "b": [1, 2]}
    assert dead_letters(stream="test") == []
    assert pending(client, "a") == pending(client, "b") == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"group": "no spaces"}, ValueError, r"group='no spaces' is not a valid name"),
        ({"group": "g", "fields": {"n": "int"}}, TypeError, r"must map payload keys to types"),
    ],
)
def test_handler_declarations_are_checked(registry, kwargs, error, message):
    with pytest.raises(error, match=message):
        registry.event_handler("test.effect", **kwargs)


def test_worker_for_a_group_without_handlers_names_the_registered_ones(registry):
    registry.event_handler("test.effect", group="notifications")(lambda event: None)

    with pytest.raises(ValueError, match=r"group 'search' \(registered groups: notifications\)"):
        StreamWorker(group="search")
