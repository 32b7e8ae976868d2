"""What operators see: `stream_status`, the admin's Streams page with dead letters, and replay from there."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from redis_toolkit.client import get_redis
from redis_toolkit.events.codec import encode_entry, stream_key
from redis_toolkit.events.status import dead_letters
from redis_toolkit.events.worker import StreamWorker
from redis_toolkit.models import OutboxEvent

pytestmark = pytest.mark.usefixtures("clean_streams")


@pytest.fixture
def stream_with_a_dead_letter(registry):
    """Stream "test": three entries, group "g" handled one, left one pending and dead-lettered one."""
    registry.event_handler("test.effect", group="g")(lambda event: None)
    worker = StreamWorker(group="g", consumer="c1", batch=2)
    client = get_redis("tests", decode_responses=True)
    for event_id, event_type in [(1, "test.nobody"), (2, "test.effect"), (3, "test.effect")]:
        fields = encode_entry(event_id=event_id, event_type=event_type, payload_json="{}", occurred_at=timezone.now())
        client.xadd(stream_key("test"), fields)
    worker.run_once(wait=False)  # 1 is dead-lettered, 2 handled
    client.xreadgroup("g", "gone", {stream_key("test"): ">"})  # 3 stays pending on a consumer that left
    fields = encode_entry(event_id=4, event_type="test.effect", payload_json="{}", occurred_at=timezone.now())
    client.xadd(stream_key("test"), fields)  # 4 is not delivered yet: the group's lag
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("any_redis", ["shared", "embedded-6.2"], indirect=True)
def test_stream_status_prints_length_pending_lag_consumers_and_dead_letters(any_redis, stream_with_a_dead_letter):
    # Unsent for minutes: the relay should have sent it by now (fresher rows are the fast path's).
    OutboxEvent.objects.create(
        type="test.effect", stream="test", payload={}, occurred_at=timezone.now() - timedelta(minutes=5)
    )
    out = StringIO()

    call_command("stream_status", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "outbox: 1 event(s) waiting for the relay, the oldest from 5m ago"
    assert "stream test: length 4, dead letters 1" in lines
    assert "  group g: pending 1, lag 1, consumers 2" in lines  # 6.2 keeps no lag: counted from the stream
    assert any(line.startswith("    consumer c1: pending 0, idle ") for line in lines)
    assert any(line.startswith("    consumer gone: pending 1, idle ") for line in lines)


@pytest.mark.django_db
def test_admin_streams_page_shows_groups_and_dead_letters(admin_client, stream_with_a_dead_letter):
    page = admin_client.get("/admin/redis_toolkit/stream/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "test.nobody #1" in html
    assert "unknown event type &#x27;test.nobody&#x27;: no handler is registered for it" in html
    assert "gone (1, " in html
    assert admin_client.get("/admin/redis_toolkit/").content.decode().count("/admin/redis_toolkit/stream/") >= 1


@pytest.mark.django_db
def test_admin_replays_a_dead_letter_back_to_its_stream(admin_client, stream_with_a_dead_letter):
    [letter] = dead_letters(stream="test")

    response = admin_client.post("/admin/redis_toolkit/stream/", {"stream": "test", "entry_id": letter.entry_id})

    assert response.status_code == 302
    assert dead_letters(stream="test") == []
    _, fields = stream_with_a_dead_letter.xrevrange(stream_key("test"), count=1)[0]
    assert (fields["id"], fields["type"], fields["replay_group"]) == ("1", "test.nobody", "g")


@pytest.mark.django_db
def test_streams_page_needs_staff_and_replay_needs_the_change_permission(client, make_user, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = make_user(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_stream"))
    client.force_login(viewer)

    assert client.get("/admin/redis_toolkit/stream/").status_code == 200
    assert client.post("/admin/redis_toolkit/stream/", {"stream": "test"}).status_code == 403


@pytest.mark.django_db
def test_outbox_admin_lists_events_read_only(admin_client):
    event = OutboxEvent.objects.create(type="test.effect", stream="test", payload={"n": 1})

    listing = admin_client.get("/admin/redis_toolkit/outboxevent/?sent_at__isempty=1")
    detail = admin_client.get(f"/admin/redis_toolkit/outboxevent/{event.pk}/change/")

    assert "test.effect" in listing.content.decode()
    assert detail.status_code == 200
    assert "{&quot;n&quot;: 1}" in detail.content.decode()  # the payload, shown as JSON
    assert admin_client.get("/admin/redis_toolkit/outboxevent/add/").status_code == 403


@pytest.mark.django_db
def test_replay_dead_letters_dry_run_lists_them_and_moves_nothing(stream_with_a_dead_letter):
    out = StringIO()

    call_command("replay_dead_letters", "--dry-run", stdout=out)

    assert "test.nobody #1: unknown event type 'test.nobody'" in out.getvalue()
    assert out.getvalue().splitlines()[-1] == "would replay 1 dead letter(s)"
    assert len(dead_letters(stream="test")) == 1


@pytest.mark.django_db
def test_replay_dead_letters_only_moves_those_of_the_named_group(stream_with_a_dead_letter):
    out = StringIO()

    call_command("replay_dead_letters", "--stream", "test", "--group", "another", stdout=out)

    assert out.getvalue().splitlines()[-1] == "replayed 0 dead letter(s)"
    assert len(dead_letters(stream="test")) == 1


@pytest.mark.django_db
def test_replay_dead_letters_names_the_known_streams_when_given_another(stream_with_a_dead_letter):
    with pytest.raises(CommandError, match=r"--stream nope: no such stream; known streams: .*test"):
        call_command("replay_dead_letters", "--stream", "nope")
